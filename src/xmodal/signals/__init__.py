"""Cleaning, resampling, gap repair, normalisation and windowing of physiological signals."""

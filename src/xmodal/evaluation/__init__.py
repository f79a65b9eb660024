"""Metrics, result files and plots."""

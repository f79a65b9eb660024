"""Splitting subjects into folds, training one model, running a whole experiment."""

"""Normalisation policies for prediction (defined in :mod:`xmodal.signals.normalize`)."""

from xmodal.signals.normalize import FLAT_FRACTION, POLICIES, ChannelStats, Normalizer, zscore

__all__ = ["FLAT_FRACTION", "POLICIES", "ChannelStats", "Normalizer", "zscore"]

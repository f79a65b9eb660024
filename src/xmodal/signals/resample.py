"""Polyphase resampling (scipy.signal.resample_poly)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal as sps


def signal_resample(signal: np.ndarray, sampling_rate: float, target_rate: float) -> np.ndarray:
    """Resample along axis 0 from ``sampling_rate`` to ``target_rate`` Hz.

    Uses ``resample_poly`` with the rational ratio ``target/source`` (its FIR filter is the
    anti-aliasing low-pass), so the output has ``ceil(n * target / source)`` samples and sample
    ``k`` stays at time ``k / target_rate``.
    """
    data = np.asarray(signal, dtype=np.float32)
    if np.isclose(sampling_rate, target_rate):
        return data
    ratio = Fraction(target_rate / sampling_rate).limit_denominator(1000)
    out = sps.resample_poly(data, ratio.numerator, ratio.denominator, axis=0)
    return out.astype(np.float32, copy=False)

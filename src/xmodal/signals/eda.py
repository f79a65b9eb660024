"""EDA (skin conductance) cleaning."""

from __future__ import annotations

import numpy as np

from xmodal.errors import ConfigError
from xmodal.signals.filters import signal_filter


def eda_clean(
    signal: np.ndarray, sampling_rate: float, method: str = "butterworth", highcut: float = 1.5
) -> np.ndarray:
    """Low-pass an EDA signal.

    Parameters
    ----------
    signal : np.ndarray
        EDA samples in microsiemens, ``(n,)`` or ``(n, 1)``.
    sampling_rate : float
        Rate in Hz.
    method : {"butterworth", "none"}
        ``"butterworth"``: zero-phase 4th-order low-pass at ``highcut`` Hz (skin-conductance
        responses rise over about a second; everything above ~1.5 Hz is noise). Skipped where the
        rate is already low (``highcut`` >= 0.45 x rate).
    """
    if method == "none":
        return np.asarray(signal, dtype=np.float32)
    if method != "butterworth":
        raise ConfigError(f"unknown EDA cleaning method {method!r}; valid: butterworth, none")
    return signal_filter(signal, sampling_rate, highcut=highcut)

"""ECG cleaning."""

from __future__ import annotations

import numpy as np

from xmodal.errors import ConfigError
from xmodal.signals.filters import signal_filter


def ecg_clean(
    signal: np.ndarray,
    sampling_rate: float,
    method: str = "butterworth",
    lowcut: float = 0.5,
    highcut: float = 40.0,
) -> np.ndarray:
    """Remove baseline wander and high-frequency noise from an ECG.

    Parameters
    ----------
    signal : np.ndarray
        ECG samples, ``(n,)`` or ``(n, 1)``.
    sampling_rate : float
        Rate in Hz.
    method : {"butterworth", "none"}
        ``"butterworth"``: zero-phase 4th-order band-pass ``lowcut``-``highcut`` Hz (0.5-40 Hz keeps
        the QRS complex and T wave, removes respiration drift and mains/EMG noise).
    """
    if method == "none":
        return np.asarray(signal, dtype=np.float32)
    if method != "butterworth":
        raise ConfigError(f"unknown ECG cleaning method {method!r}; valid: butterworth, none")
    return signal_filter(signal, sampling_rate, lowcut=lowcut, highcut=highcut)

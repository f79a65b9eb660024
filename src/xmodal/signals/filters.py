"""Zero-phase Butterworth filtering (scipy.signal)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as sps

#: a cut-off at or above this fraction of the sampling rate is skipped (too close to Nyquist)
_MAX_CUTOFF_FRACTION = 0.45


@lru_cache(maxsize=64)
def _butter_sos(
    order: int, lowcut: float | None, highcut: float | None, sampling_rate: float
) -> np.ndarray:
    """Butterworth second-order sections (cached: per-window prediction designs the same
    filter thousands of times)."""
    if lowcut is not None and highcut is not None:
        sos = sps.butter(order, [lowcut, highcut], btype="bandpass", fs=sampling_rate, output="sos")
    elif lowcut is not None:
        sos = sps.butter(order, lowcut, btype="highpass", fs=sampling_rate, output="sos")
    else:
        sos = sps.butter(order, highcut, btype="lowpass", fs=sampling_rate, output="sos")
    sos.setflags(write=False)
    return sos


def signal_filter(
    signal: np.ndarray,
    sampling_rate: float,
    lowcut: float | None = None,
    highcut: float | None = None,
    order: int = 4,
) -> np.ndarray:
    """Zero-phase Butterworth band-, high- or low-pass along axis 0.

    Parameters
    ----------
    signal : np.ndarray
        Samples, shape ``(n,)`` or ``(n, channels)``.
    sampling_rate : float
        Rate in Hz.
    lowcut, highcut : float or None
        Pass band edges in Hz. A ``highcut`` at or above 0.45 x ``sampling_rate`` is dropped (the
        signal is already band-limited there), so a low-pass on a 4 Hz signal degrades gracefully.
    order : int
        Filter order (applied forwards and backwards, so the effective order is doubled).

    Returns
    -------
    np.ndarray
        Filtered float32 array of the same shape; the input itself when nothing applies or the
        signal is too short for the filter's padding.
    """
    nyquist_limit = _MAX_CUTOFF_FRACTION * sampling_rate
    if highcut is not None and highcut >= nyquist_limit:
        highcut = None
    if lowcut is not None and lowcut <= 0:
        lowcut = None
    if lowcut is None and highcut is None:
        return np.asarray(signal, dtype=np.float32)
    sos = _butter_sos(
        order, lowcut, highcut, float(sampling_rate)
    ).copy()  # scipy wants it writable
    data = np.asarray(signal, dtype=np.float64)
    padlen = 3 * (2 * len(sos) + 1)
    if data.shape[0] <= padlen:
        return data.astype(np.float32)
    return sps.sosfiltfilt(sos, data, axis=0).astype(np.float32)

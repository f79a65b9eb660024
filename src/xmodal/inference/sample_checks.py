"""Checks of prediction inputs: sampling rates and sample arrays (the per-window plan is
:class:`~xmodal.signals.window_plan.WindowPlan`)."""

from __future__ import annotations

import math

import numpy as np

from xmodal.data.modalities import signal_kind
from xmodal.errors import DataError

__all__ = ["MIN_RATES", "as_sample_array", "check_rate"]

#: lowest usable input rate per signal kind (Hz): below it the signal cannot carry what the
#: model was trained on (e.g. QRS complexes need ~50 Hz)
MIN_RATES: dict[str, float] = {
    "ecg": 50.0,
    "bvp": 16.0,
    "emg": 100.0,
    "resp": 2.0,
    "eda": 1.0,
    "temp": 0.5,
    "acc": 4.0,
}


def check_rate(modality: str, rate: float) -> float:
    """Return ``rate`` as float; DataError when not finite, not positive or too low for its kind."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise DataError(f"{modality}: rate {rate!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise DataError(f"{modality}: rate must be a positive number of Hz, got {rate!r}")
    lowest = MIN_RATES.get(signal_kind(modality), 0.0)
    if value < lowest:
        raise DataError(
            f"{modality}: rate {value:g} Hz is below the lowest usable rate for "
            f"{signal_kind(modality).upper()} ({lowest:g} Hz); wrong --rates?"
        )
    return value


def as_sample_array(modality: str, x, channels: int) -> np.ndarray:
    """``(n,)`` or ``(n, channels)`` array-like -> float32 ``(n, channels)``."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != channels:
        raise DataError(
            f"{modality}: expected samples of shape (n,{' ' if channels == 1 else ''}"
            f"{channels}), got {np.shape(x)}"
        )
    return arr

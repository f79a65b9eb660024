"""Repair of short NaN/inf gaps."""

from __future__ import annotations

import warnings

import numpy as np

from xmodal.errors import DataError


def signal_fill_gaps(
    signal: np.ndarray, sampling_rate: float, max_gap: float, where: str = "signal"
) -> np.ndarray:
    """Linearly interpolate runs of NaN/inf up to ``max_gap`` seconds; reject longer runs.

    Parameters
    ----------
    signal : np.ndarray
        Samples, ``(n, channels)``.
    sampling_rate : float
        Rate in Hz.
    max_gap : float
        Longest run (seconds) that is repaired, with a warning. A longer run raises DataError:
        interpolating it would invent physiology.
    where : str
        Names file, subject and key in messages.
    """
    bad = ~np.isfinite(signal)
    if not bad.any():
        return signal
    out = np.array(signal, dtype=np.float32, copy=True)
    n = out.shape[0]
    for ch in range(out.shape[1]):
        mask = bad[:, ch]
        if not mask.any():
            continue
        if mask.all():
            raise DataError(f"{where}: channel {ch} is entirely NaN/inf")
        edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        longest = int((ends - starts).max())
        if longest > max_gap * sampling_rate:
            i = int(np.argmax(ends - starts))
            raise DataError(
                f"{where}: {longest / sampling_rate:.2f} s of NaN/inf at "
                f"t={starts[i] / sampling_rate:.1f} s (longest repairable gap: max_gap={max_gap} s)"
            )
        good = np.flatnonzero(~mask)
        out[mask, ch] = np.interp(np.flatnonzero(mask), good, out[good, ch])
    warnings.warn(
        f"{where}: repaired {int(bad.any(axis=1).sum())} NaN/inf samples of {n} "
        f"by linear interpolation",
        stacklevel=2,
    )
    return out

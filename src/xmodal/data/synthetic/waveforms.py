"""Numerical building blocks of the simulated physiology.

Filters and noise on the 20-Hz latent grid, interpolation to a signal's native rate, and the
vectorised beat-by-beat wave shapes (ECG P-QRS-T, BVP pulse, SCR kernel).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal as sps

from xmodal.data.synthetic.protocol import LATENT_RATE

__all__ = [
    "Upsampler",
    "ar1",
    "bateman_kernel",
    "bursts",
    "ecg_waves",
    "gauss",
    "lowpass",
    "pulse_waves",
]

_FC = LATENT_RATE


def lowpass(x: np.ndarray, tau: float, fs: float = _FC) -> np.ndarray:
    """First-order (exponential) low-pass with time constant ``tau`` s, starting at ``x[0]``."""
    a = math.exp(-1.0 / (tau * fs))
    y, _ = sps.lfilter([1.0 - a], [1.0, -a], x, zi=[a * x[0]])
    return y


def ar1(rng: np.random.Generator, n: int, tau: float, std: float, fs: float = _FC) -> np.ndarray:
    """Stationary AR(1) ("slow") noise: time constant ``tau`` s, standard deviation ``std``."""
    a = math.exp(-1.0 / (tau * fs))
    w = rng.standard_normal(n) * (std * math.sqrt(1.0 - a * a))
    y, _ = sps.lfilter([1.0], [1.0, -a], w, zi=[a * rng.normal(0.0, std)])
    return y


def gauss(d: np.ndarray, mu, sigma) -> np.ndarray:
    """exp(-((d - mu) / sigma)^2 / 2), in the dtype of ``d`` (float32 stays float32)."""
    z = (d - mu) / sigma
    z *= z
    z *= -0.5
    return np.exp(z, out=z)


class Upsampler:
    """Linear interpolation from the uniform latent grid to a uniform output grid (float32).

    Equivalent to ``np.interp(t, t_c, x)`` but with the indices and weights computed once.
    """

    def __init__(self, t: np.ndarray, t_c: np.ndarray):
        pos = (t - t_c[0]) * _FC
        self.i0 = np.minimum(pos.astype(np.int64), len(t_c) - 2)
        self.w = (pos - self.i0).astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        d = np.diff(x)
        out = d[self.i0]
        out *= self.w
        out += x[self.i0]
        return out


def bursts(
    rng: np.random.Generator,
    rate_per_s: np.ndarray,
    dur: tuple[float, float],
    gain: tuple[float, float],
) -> np.ndarray:
    """Sum of boxes (start at Poisson times, random length and height) on the latent grid."""
    n = len(rate_per_s)
    starts = np.flatnonzero(rng.random(n) < rate_per_s / _FC)
    steps = np.zeros(n + 1)
    length = np.round(rng.uniform(*dur, len(starts)) * _FC).astype(int)
    h = rng.uniform(*gain, len(starts))
    np.add.at(steps, starts, h)
    np.add.at(steps, np.minimum(starts + length, n), -h)
    return np.cumsum(steps[:-1])


def _beat_index(n: int, rate: float, beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For samples ``k / rate`` (k < n): index of the last beat at or before the sample and of
    the first beat after it (``searchsorted(beats, t, "right")`` via counting, much faster)."""
    first = np.clip(np.ceil(beats * rate - 1e-9).astype(np.int64), 0, n)
    nxt = np.cumsum(np.bincount(first, minlength=n + 1)[:n])
    return nxt - 1, nxt


def ecg_waves(
    t: np.ndarray, rate: float, beats: np.ndarray, amp: np.ndarray, rr: np.ndarray
) -> np.ndarray:
    """Sum of Gaussian P, Q, R, S, T waves (float32): R/S/T of the previous beat, P/Q/R of the
    next. ``amp`` holds per beat the R, S, T, Q, P amplitudes; P/T offsets and widths scale
    with sqrt(RR)."""
    prev, nxt = _beat_index(len(t), rate, beats)
    s = np.sqrt(rr).astype(np.float32)
    amp = amp.astype(np.float32)
    dp = (t - beats[prev]).astype(np.float32)
    ecg = amp[:, 0][prev] * gauss(dp, 0.0, 0.010)
    ecg += amp[:, 1][prev] * gauss(dp, 0.035, 0.011)
    s_prev = s[prev]
    ecg += amp[:, 2][prev] * gauss(dp, 0.27 * s_prev, 0.055 * s_prev)
    del dp, s_prev
    dn = (t - beats[nxt]).astype(np.float32)
    ecg += amp[:, 0][nxt] * gauss(dn, 0.0, 0.010)
    ecg += amp[:, 3][nxt] * gauss(dn, -0.033, 0.010)
    s_next = s[nxt]
    ecg += amp[:, 4][nxt] * gauss(dn, -0.19 * s_next, 0.025 * s_next)
    return ecg


def pulse_waves(
    t: np.ndarray, rate: float, pulses: np.ndarray, amp: np.ndarray, rr: np.ndarray
) -> np.ndarray:
    """Systolic + dicrotic wave per pulse arrival; pulses k-2..k+1 around each sample."""
    _, nxt = _beat_index(len(t), rate, pulses)
    out = np.zeros(len(t))
    for k in (-2, -1, 0):
        j = nxt + k
        d = t - pulses[j]
        s = np.sqrt(rr[j])
        out += amp[j] * (gauss(d, 0.11 * s, 0.05 * s) + 0.35 * gauss(d, 0.36 * s, 0.07 * s))
    return out


def bateman_kernel(tau_r: float, tau_d: float) -> np.ndarray:
    """Skin conductance response shape on the latent grid (rise ``tau_r``, decay ``tau_d``),
    peak 1."""
    tk = np.arange(0.0, 8 * tau_d, 1.0 / _FC)
    k = np.exp(-tk / tau_d) - np.exp(-tk / tau_r)
    return k / k.max()

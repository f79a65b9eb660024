"""Normalisation policies: where the z-score statistics of a recording's windows come from.

By default training z-scores every subject with the mean and standard deviation of that
subject's whole preprocessed recording (per-subject normalisation; see
:class:`~xmodal.signals.preprocessor.Preprocessor` for the modes training offers). For a new
recording the equivalent is the statistics of *that* recording, which a live stream does not
have. Policies of the per-window path (prediction, streaming, training's ``running`` mode):

``recording``
    Mean/std of the whole preprocessed new recording (the recording is one new subject): the
    same as training. Offline only; a stream has no whole recording.
``running``
    Mean/std of every window seen so far, the current one included (cumulative; windows
    ``0..k`` for window ``k``). The first windows rely on little data; the statistics converge to
    the recording's as the recording goes on. Default for streams.
``window``
    Each window by its own mean/std. Removes the level between windows (EDA level is
    informative), so use it only when nothing better is available.
``fixed``
    Statistics given by the caller, e.g. from a calibration recording of the same person
    (:meth:`xmodal.inference.predictor.Predictor.calibrate`).

Under the same policy offline prediction and streaming use exactly the same statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xmodal.config import WINDOW_POLICIES
from xmodal.errors import ConfigError, DataError

#: a standard deviation below this fraction of max(1, |mean|) counts as a flat signal
FLAT_FRACTION = 1e-8


@dataclass
class ChannelStats:
    """Count, mean and sum of squared deviations per channel (Chan et al. merge, float64).

    Parameters
    ----------
    n : float
        Number of samples.
    mean : np.ndarray
        Mean per channel, shape ``(channels,)``.
    m2 : np.ndarray
        Sum of squared deviations from the mean per channel.
    """

    n: float = 0.0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    m2: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, x: np.ndarray) -> ChannelStats:
        """Statistics of ``x`` of shape ``(channels, n)``."""
        x = np.asarray(x, dtype=np.float64)
        mean = x.mean(axis=1)
        return cls(float(x.shape[1]), mean, ((x - mean[:, None]) ** 2).sum(axis=1))

    def merged(self, other: ChannelStats) -> ChannelStats:
        """Statistics of the union of both sample sets."""
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        m2 = self.m2 + other.m2 + delta**2 * (self.n * other.n / n)
        return ChannelStats(n, mean, m2)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1.0))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def zscore(
    x: np.ndarray, mean: np.ndarray, std: np.ndarray, where: str, strict: bool
) -> np.ndarray:
    """``(x - mean) / std`` per channel of ``x`` ``(channels, n)`` as float32.

    A flat channel raises DataError when ``strict`` (as in training); otherwise its std is
    floored so that a momentarily flat window gives zeros instead of failing a stream.
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    floor = FLAT_FRACTION * np.maximum(1.0, np.abs(mean))
    if np.any(std < floor):
        if strict:
            raise DataError(f"{where}: flat signal (zero variance), cannot normalise")
        std = np.maximum(std, floor)
    return ((x - mean[:, None]) / std[:, None]).astype(np.float32)


class Normalizer:
    """Applies one policy to successive windows; holds the running state of ``running``.

    Parameters
    ----------
    policy : {'recording', 'running', 'window', 'fixed'}
        See the module docstring. ``recording`` needs ``stats`` computed from the whole
        recording (the predictor does that) and then behaves as ``fixed``.
    stats : dict, optional
        ``{modality: {"mean": [...], "std": [...]}}`` (one value per channel) for
        ``fixed``/``recording``.
    """

    def __init__(self, policy: str, stats: dict | None = None) -> None:
        if policy not in WINDOW_POLICIES:
            raise ConfigError(
                f"unknown normalisation {policy!r}; valid: {', '.join(WINDOW_POLICIES)}"
            )
        if policy in ("fixed", "recording") and not stats:
            raise ConfigError(f"normalisation {policy!r} needs statistics (stats=...)")
        self.policy = policy
        self.stats = stats or {}
        self._running: dict[str, ChannelStats] = {}

    def __call__(self, modality: str, x: np.ndarray) -> np.ndarray:
        """Normalise one window ``(channels, n)`` of ``modality`` (updates running state)."""
        if self.policy in ("fixed", "recording"):
            if modality not in self.stats:
                raise ConfigError(
                    f"no normalisation statistics for {modality} "
                    f"(have: {', '.join(self.stats) or 'none'})"
                )
            s = self.stats[modality]
            if len(s["mean"]) != x.shape[0] or len(s["std"]) != x.shape[0]:
                raise ConfigError(
                    f"{modality}: statistics for {len(s['mean'])} channel(s), "
                    f"signal has {x.shape[0]}"
                )
            return zscore(x, s["mean"], s["std"], modality, strict=False)
        current = ChannelStats.of(x)
        if self.policy == "running":
            current = self._running.get(modality, ChannelStats()).merged(current)
            self._running[modality] = current
        return zscore(x, current.mean, current.std, modality, strict=False)

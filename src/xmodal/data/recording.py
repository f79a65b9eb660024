"""The common in-memory type every dataset adapter produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Signal:
    """One modality of one recording.

    Parameters
    ----------
    data : np.ndarray
        Samples, float32, shape ``(n_samples, n_channels)`` (one channel for ECG, three for ACC).
    rate : float
        Sampling rate in Hz. Sample ``k`` lies at ``k / rate`` seconds on the recording's
        common time base (the label time base).
    """

    data: np.ndarray
    rate: float

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        return self.data.shape[0] / self.rate


@dataclass
class Recording:
    """Signals of one subject (or drive, or file) on a common time base, plus labels.

    Parameters
    ----------
    subject : str
        Subject identifier, e.g. ``"S2"``.
    signals : dict of str to Signal
        Modality name (``"chest.ECG"``) to signal; only the requested modalities.
    labels : np.ndarray or None
        Raw integer label codes of the dataset (WESAD: 0..7), shape ``(n,)``; ``None`` when the
        recording is unlabelled (prediction only).
    label_rate : float or None
        Sampling rate of ``labels`` in Hz.
    source : Path
        File the recording was read from (named in error messages).
    """

    subject: str
    signals: dict[str, Signal]
    labels: np.ndarray | None = None
    label_rate: float | None = None
    source: Path = field(default_factory=Path)
    dataset: str = "wesad"

    @property
    def duration(self) -> float:
        """Shortest duration over signals and labels, in seconds."""
        durations = [s.duration for s in self.signals.values()]
        if self.labels is not None and self.label_rate:
            durations.append(len(self.labels) / self.label_rate)
        return float(min(durations)) if durations else 0.0

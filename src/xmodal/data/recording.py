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
    start_unix : float or None
        Wall-clock time of t = 0 in unix seconds, when the files record it (E4 exports).
    timezone : str or None
        IANA time zone of the session (``"Europe/Berlin"``) for wall-clock output; None: UTC.
    events : tuple of float
        Marked moments (E4 event-button tags) in seconds on the time base.
    notes : tuple of str
        Remarks of the loader about the files (start offsets trimmed, files not used), shown by
        ``xmodal datasets``.
    """

    subject: str
    signals: dict[str, Signal]
    labels: np.ndarray | None = None
    label_rate: float | None = None
    source: Path = field(default_factory=Path)
    dataset: str = "wesad"
    start_unix: float | None = None
    timezone: str | None = None
    events: tuple[float, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Shortest duration over signals and labels, in seconds."""
        durations = [s.duration for s in self.signals.values()]
        if self.labels is not None and self.label_rate:
            durations.append(len(self.labels) / self.label_rate)
        return float(min(durations)) if durations else 0.0


def clock_time(unix: float, timezone: str | None = None):
    """A unix time as an aware ``datetime`` in ``timezone`` (an IANA name) or UTC."""
    from datetime import datetime
    from datetime import timezone as tz
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(unix, tz=ZoneInfo(timezone) if timezone else tz.utc)


def wall_clock(unix: float, timezone: str | None = None, timespec: str = "seconds") -> str:
    """ISO 8601 time of a unix time, in ``timezone`` (an IANA name) or UTC."""
    return clock_time(unix, timezone).isoformat(timespec=timespec)

"""From a Recording to cleaned, resampled (and per-subject z-scored) continuous signals.

The normalisation modes of training build on these functions in
:class:`~xmodal.signals.preprocessor.Preprocessor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.data.modalities import signal_kind
from xmodal.data.recording import Recording
from xmodal.errors import DataError
from xmodal.signals.ecg import ecg_clean
from xmodal.signals.eda import eda_clean
from xmodal.signals.filters import signal_filter
from xmodal.signals.gaps import signal_fill_gaps
from xmodal.signals.normalize import zscore
from xmodal.signals.resample import signal_resample

#: default target rate (Hz) per signal kind; a signal is never upsampled to reach it
TARGET_RATES: dict[str, float] = {
    "ecg": 256.0,  # QRS detail up to ~40 Hz; the rate of the same lab's ECG work
    "bvp": 64.0,  # pulse wave content < 8 Hz; Empatica E4 native rate
    "eda": 16.0,  # skin conductance content < 1.5 Hz; 16 Hz keeps SCR shape (160 samples / 10 s)
    "resp": 16.0,  # breathing < 1 Hz
    "emg": 256.0,  # band-limited to 20-120 Hz before resampling
    "temp": 4.0,  # slow drift
    "acc": 32.0,  # body movement < 10 Hz; E4 native rate
}
_FALLBACK_RATE = 64.0

#: band edges (lowcut, highcut) in Hz for kinds without a dedicated cleaner
BANDS: dict[str, tuple[float | None, float | None]] = {
    "bvp": (0.5, 8.0),
    "resp": (0.05, 1.0),
    "emg": (20.0, 120.0),
    "temp": (None, 0.5),
    "acc": (None, 10.0),
}


#: band edges (Hz) of the dedicated ECG and EDA cleaners as preprocessing applies them
ECG_BAND = (0.5, 40.0)
EDA_HIGHCUT = 1.5


def preprocessing_defaults() -> dict:
    """Every default that shapes a preprocessed recording (part of the cache key)."""
    return {
        "target_rates": dict(TARGET_RATES),
        "fallback_rate": _FALLBACK_RATE,
        "bands": {k: list(v) for k, v in BANDS.items()},
        "ecg_band": list(ECG_BAND),
        "eda_highcut": EDA_HIGHCUT,
    }


def target_rate(
    modality: str, native_rate: float, overrides: dict[str, float] | None = None
) -> float:
    """Rate a modality is resampled to: the override if given, else the kind's default, never above native."""
    if overrides and modality in overrides:
        return float(overrides[modality])
    return min(TARGET_RATES.get(signal_kind(modality), _FALLBACK_RATE), float(native_rate))


def signal_clean(signal: np.ndarray, sampling_rate: float, kind: str) -> np.ndarray:
    """Clean one signal with its kind's method: ECG band-pass, EDA low-pass, bands from ``BANDS``."""
    if kind == "ecg":
        return ecg_clean(signal, sampling_rate, lowcut=ECG_BAND[0], highcut=ECG_BAND[1])
    if kind == "eda":
        return eda_clean(signal, sampling_rate, highcut=EDA_HIGHCUT)
    lowcut, highcut = BANDS.get(kind, (None, None))
    return signal_filter(signal, sampling_rate, lowcut=lowcut, highcut=highcut)


def signal_standardize(
    signal: np.ndarray, where: str = "signal", span: tuple[int, int] | None = None
) -> np.ndarray:
    """Z-score each channel of ``signal`` ``(n, channels)`` as float32.

    The statistics come from the whole signal (per-subject normalisation), or from the samples
    ``signal[a:b]`` of ``span = (a, b)`` (a calibration part). A flat channel (zero variance)
    cannot carry information and would divide by zero: DataError.
    """
    part = signal if span is None else signal[span[0] : span[1]]
    if part.shape[0] < 2:
        raise DataError(f"{where}: fewer than two samples to compute normalisation statistics")
    mean = part.mean(axis=0, dtype=np.float64)
    std = part.std(axis=0, dtype=np.float64)
    return zscore(signal.T, mean, std, where, strict=True).T


@dataclass
class PreprocessedRecording:
    """Continuous preprocessed signals of one subject.

    Parameters
    ----------
    subject : str
        Subject identifier.
    signals : dict of str to np.ndarray
        Modality to float32 array ``(channels, n)`` at ``rates[modality]``: z-scored, or only
        cleaned and resampled (the cache's form, a transposed view of ``(n, channels)``
        samples), or empty when ``raw`` holds the signals instead.
    rates : dict of str to float
        Target rate of each modality in Hz.
    labels : np.ndarray or None
        Raw label codes (int8) at ``label_rate``.
    label_rate : float or None
        Rate of the labels in Hz.
    source : str
        The file it came from.
    excluded : tuple of float, optional
        ``(start, end)`` seconds whose overlapping windows are not labelled (a calibration span
        chosen by its label, see :class:`~xmodal.signals.preprocessor.Preprocessor`).
    raw : Recording, optional
        Native-rate signals for the ``running`` mode, whose windows are cleaned one by one from
        raw segments (``context`` seconds before each window; gaps up to ``max_gap`` s).
    """

    subject: str
    signals: dict[str, np.ndarray]
    rates: dict[str, float]
    labels: np.ndarray | None
    label_rate: float | None
    source: str = ""
    excluded: tuple[float, float] | None = None
    raw: Recording | None = None
    context: float = 0.0
    max_gap: float = 1.0

    @property
    def duration(self) -> float:
        if self.raw is not None:
            return self.raw.duration
        durations = [x.shape[1] / self.rates[m] for m, x in self.signals.items()]
        if self.labels is not None and self.label_rate:
            durations.append(len(self.labels) / self.label_rate)
        return float(min(durations))


def preprocess_recording(
    recording: Recording,
    rates: dict[str, float] | None = None,
    max_gap: float = 1.0,
    normalize: bool = True,
) -> PreprocessedRecording:
    """Repair gaps, clean, resample and z-score every modality of a recording.

    Parameters
    ----------
    recording : Recording
        Signals at native rates.
    rates : dict, optional
        Per-modality target-rate overrides in Hz.
    max_gap : float
        Longest NaN/inf run in seconds that is interpolated; longer runs raise DataError.
    normalize : bool
        Z-score each modality over the whole recording (the subject's own statistics); without
        it the signals are cleaned and resampled only, each a transposed view of its
        ``(n, channels)`` samples (so that z-scoring them later gives the same floats).
    """
    out: dict[str, np.ndarray] = {}
    out_rates: dict[str, float] = {}
    for modality, sig in recording.signals.items():
        where = f"{Path(recording.source).name} (subject {recording.subject}): {modality}"
        data = signal_fill_gaps(sig.data, sig.rate, max_gap, where)
        kind = signal_kind(modality)
        cleaned = signal_clean(data, sig.rate, kind)
        fs = target_rate(modality, sig.rate, rates)
        resampled = signal_resample(cleaned, sig.rate, fs)
        if normalize:
            out[modality] = np.ascontiguousarray(signal_standardize(resampled, where).T)
        else:
            out[modality] = resampled.T
        out_rates[modality] = fs
    return PreprocessedRecording(
        recording.subject,
        out,
        out_rates,
        recording.labels,
        recording.label_rate,
        str(recording.source),
    )

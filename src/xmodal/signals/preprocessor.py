"""One preprocessing for training, evaluation, prediction and streaming.

A :class:`Preprocessor` turns a raw :class:`~xmodal.data.recording.Recording` into model inputs:
gap repair, cleaning and resampling (:mod:`xmodal.signals.preprocess`), then z-scoring with
statistics chosen by its normalisation mode:

``recording``
    Each channel by the mean/std of the subject's whole cleaned recording (the default). Uses the
    future and the segment being classified, so a wearable cannot do it; it is the offline
    reference.
``calibration``
    By the mean/std of a calibration part of the subject's cleaned recording: its first
    ``calibration_minutes`` minutes, or the first ``calibration_minutes`` minutes of the first
    segment with the raw label ``calibration_code`` (e.g. WESAD's baseline). A device can do this
    after a calibration period. With a label, windows overlapping the calibration span are not
    labelled, so they are neither trained on nor scored (their statistics were chosen by the
    label); by the recording start, every window stays.
``running``
    The streaming path, causal: every window is cleaned on its own from its raw segment
    (``context`` seconds before it, see :mod:`xmodal.signals.window_plan`) and z-scored by the
    running statistics of all windows of the recording so far, the current one included
    (:class:`~xmodal.signals.normalize.Normalizer` ``running``), in time order at the hop of the
    windows being made: the evaluation stride for evaluation windows (exactly what
    :class:`~xmodal.inference.streaming.StreamingPredictor` does at its default hop), the
    training stride for training windows. Unlabelled windows count in the statistics but are not
    scored.

The cache (:mod:`xmodal.signals.cache`) holds the cleaned and resampled signals before
z-scoring, which is cheap and mode-dependent; the ``recording`` mode gives the same floats as
z-scoring at preprocessing time did.

Per-window against whole-recording cleaning (``running`` here; the prediction policies
``running``, ``window`` and ``fixed``), measured on simulated signals as the largest difference
of the cleaned, resampled signal in units of its standard deviation, by position in a 10-s
window, with the default 5-s context (``tests/test_parity.py``):

=========  ========  ========  ========  ========  ========  ========  =========
kind       0-1 s     2-3 s     4-5 s     6-7 s     7-8 s     8-9 s     9-10 s
=========  ========  ========  ========  ========  ========  ========  =========
ECG        8e-4      1e-3      1e-2      1e-1      5e-1      1         8
BVP        3e-3      4e-4      4e-3      3e-2      1e-1      2e-1      1
EDA        2e-4      4e-5      2e-4      2e-3      6e-3      1e-1      8e-1
=========  ========  ========  ========  ========  ========  ========  =========

The window's start is settled by the context (10 s of context: < 1e-4 for every kind); the
difference is at the window's *end*, where the backward pass of the zero-phase filters starts
on the edge padding, and it reaches back seconds, not ~0.1 s: ~4 s for the 0.5-Hz high-pass of
ECG and BVP (error > 1 % of the std), ~2 s for EDA. No context fixes that; a lookahead past the
window (latency) would: with 5 s after the window every position is within 1e-2 (ECG 8e-3, BVP
7e-3, EDA 2e-4), with 10 s within 3e-3. The ``running`` mode trains on windows processed this
way, so its models learn the edge-padded ends that a stream sees.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmodal.config import NORMALIZE_MODES, DataConfig
from xmodal.data.recording import Recording
from xmodal.data.registry import get_adapter
from xmodal.data.tasks import Task
from xmodal.errors import ConfigError, DataError
from xmodal.signals.normalize import Normalizer
from xmodal.signals.preprocess import (
    PreprocessedRecording,
    preprocess_recording,
    preprocessing_defaults,
    signal_standardize,
    target_rate,
)
from xmodal.signals.window_plan import DEFAULT_CONTEXT, WindowPlan
from xmodal.signals.windows import WindowSet, label_windows, make_windows


def label_code(dataset: str, name: str, path: str | Path | None = None) -> int:
    """Raw label code of a label name of ``dataset`` (``"baseline"`` -> 1 for WESAD).

    An integer string is taken as the code itself.
    """
    if name.strip().lstrip("-").isdigit():
        return int(name)
    try:
        names = get_adapter(dataset).label_names(Path(path) if path else None)
    except (TypeError, AttributeError):
        raise ConfigError(
            f"the label names of a {dataset} dataset come from its files: give the data path"
        ) from None
    codes = {str(v).lower(): int(k) for k, v in names.items()}
    if name.lower() not in codes:
        raise ConfigError(
            f"unknown calibration label {name!r} for dataset {dataset!r}; valid: {', '.join(codes)}"
        )
    return codes[name.lower()]


@dataclass(frozen=True)
class Preprocessor:
    """Cleaning, resampling and normalisation of recordings (see the module docstring).

    Parameters
    ----------
    normalize : {'recording', 'calibration', 'running'}
        Where the z-score statistics come from.
    calibration_minutes : float
        Length of the calibration part (``calibration``).
    calibration_code : int, optional
        Raw label code whose first segment is calibrated on; None: the recording start.
    rates : dict of str to float
        Per-modality target-rate overrides (Hz); prediction gives the run's rates.
    max_gap : float
        Longest NaN/inf run in seconds that is interpolated.
    context : float
        Seconds of raw signal before each window (``running``).
    """

    normalize: str = "recording"
    calibration_minutes: float = 5.0
    calibration_code: int | None = None
    rates: dict = field(default_factory=dict, hash=False)
    max_gap: float = 1.0
    context: float = DEFAULT_CONTEXT

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE_MODES:
            raise ConfigError(
                f"unknown normalisation {self.normalize!r}; valid: {', '.join(NORMALIZE_MODES)}"
            )

    @classmethod
    def of(cls, config: DataConfig, rates: dict | None = None) -> Preprocessor:
        """The preprocessing a data configuration asks for (``rates`` replaces its overrides)."""
        code = None
        if config.normalize == "calibration" and config.calibration_label:
            code = label_code(config.dataset, config.calibration_label, config.path or None)
        return cls(
            config.normalize,
            float(config.calibration_minutes),
            code,
            dict(config.rates if rates is None else rates),
            float(config.max_gap),
        )

    def cache_params(self) -> dict:
        """What shapes the cleaned, resampled signals (part of the cache key)."""
        return {
            "rates": dict(sorted(self.rates.items())),
            "max_gap": self.max_gap,
            "defaults": preprocessing_defaults(),
        }

    # ---- whole recordings --------------------------------------------------------------------

    def clean(self, recording: Recording) -> PreprocessedRecording:
        """Gap-repaired, cleaned and resampled signals, not z-scored (what the cache holds)."""
        return preprocess_recording(recording, self.rates, self.max_gap, normalize=False)

    def calibration_span(
        self,
        labels: np.ndarray | None,
        label_rate: float | None,
        duration: float,
        where: str = "recording",
    ) -> tuple[float, float]:
        """``(start, end)`` seconds of the calibration part of a recording."""
        length = 60.0 * self.calibration_minutes
        if self.calibration_code is None:
            return 0.0, min(length, duration)
        if labels is None or not label_rate:
            raise DataError(f"{where}: calibration by a label needs the recording's labels")
        hits = np.flatnonzero(np.asarray(labels) == self.calibration_code)
        if not len(hits):
            raise DataError(
                f"{where}: no segment with label code {self.calibration_code} to calibrate on"
            )
        first = int(hits[0])
        after = np.flatnonzero(np.asarray(labels[first:]) != self.calibration_code)
        last = first + (int(after[0]) if len(after) else len(labels) - first)
        start = first / label_rate
        return start, min(last / label_rate, start + length, duration)

    def normalized(self, cleaned: PreprocessedRecording) -> PreprocessedRecording:
        """Z-score the cleaned signals of ``recording`` or ``calibration`` mode."""
        if self.normalize == "running":
            raise ConfigError(
                "normalisation 'running' works window by window from raw "
                "signals: use Preprocessor.prepare"
            )
        span = excluded = None
        where = f"{Path(cleaned.source).name} (subject {cleaned.subject})"
        if self.normalize == "calibration":
            span = self.calibration_span(
                cleaned.labels, cleaned.label_rate, cleaned.duration, where
            )
            excluded = span if self.calibration_code is not None else None
        signals = {}
        for m, x in cleaned.signals.items():
            fs = cleaned.rates[m]
            rows = None if span is None else (int(round(span[0] * fs)), int(round(span[1] * fs)))
            signals[m] = np.ascontiguousarray(signal_standardize(x.T, f"{where}: {m}", rows).T)
        return dataclasses.replace(cleaned, signals=signals, excluded=excluded)

    def raw(self, recording: Recording) -> PreprocessedRecording:
        """A recording held raw for the ``running`` mode (windows made by :meth:`windows`)."""
        rates = {m: target_rate(m, s.rate, self.rates) for m, s in recording.signals.items()}
        signals = {
            m: dataclasses.replace(s, data=np.asarray(s.data, dtype=np.float32))
            for m, s in recording.signals.items()
        }
        raw = dataclasses.replace(recording, signals=signals)
        return PreprocessedRecording(
            recording.subject,
            {},
            rates,
            recording.labels,
            recording.label_rate,
            str(recording.source),
            raw=raw,
            context=self.context,
            max_gap=self.max_gap,
        )

    def prepare(
        self, recording: Recording, cleaned: PreprocessedRecording | None = None
    ) -> PreprocessedRecording:
        """A recording ready to be cut into windows in this mode (``cleaned``: from the cache)."""
        if self.normalize == "running":
            return self.raw(recording)
        return self.normalized(cleaned if cleaned is not None else self.clean(recording))

    # ---- windows -----------------------------------------------------------------------------

    def plan(
        self, native_rates: dict, model_rates: dict, channels: dict, window: float, hop: float
    ) -> WindowPlan:
        """The per-window plan of the streaming path."""
        n_times = {m: int(round(window * model_rates[m])) for m in native_rates}
        return WindowPlan(
            dict(native_rates),
            dict(model_rates),
            n_times,
            dict(channels),
            float(window),
            float(hop),
            float(self.context),
            float(self.max_gap),
        )


def stream_inputs(plan: WindowPlan, data: dict, normalizer: Normalizer) -> dict:
    """Model inputs ``{modality: (n_windows, C, T)}`` of every window of raw ``data``
    ``{modality: (n, C) float32}`` processed one by one in time order (the streaming path)."""
    n = plan.n_windows({m: len(data[m]) for m in plan.modalities})
    inputs = {
        m: np.empty((n, plan.channels[m], plan.n_times[m]), dtype=np.float32)
        for m in plan.modalities
    }
    for k in range(n):
        segments = {}
        for m in plan.modalities:
            a, b = plan.segment(k, m)
            segments[m] = data[m][a:b]
        for m, x in plan.process(k, segments, normalizer).items():
            inputs[m][k] = x
    return inputs


def recording_windows(
    recording: PreprocessedRecording,
    task: Task | None,
    window: float,
    stride: float,
    keep_unlabelled: bool = False,
    context: float = 0.0,
) -> WindowSet:
    """Windows of one prepared recording (:meth:`Preprocessor.prepare`) every ``stride`` s.

    Z-scored signals are cut (:func:`~xmodal.signals.windows.make_windows`), leaving windows
    that overlap ``recording.excluded`` unlabelled; a raw (``running``) recording is processed
    window by window with the running statistics over all its windows (labelled or not).
    """
    if recording.raw is None:
        if recording.excluded is None:
            return make_windows(recording, task, window, stride, keep_unlabelled, context)
        ws = make_windows(recording, task, window, stride, True, context)
        t0, t1 = recording.excluded
        labels = np.where((ws.t_start < t1) & (ws.t_start + window > t0), -1, ws.labels)
        ws.labels = labels
        return ws if keep_unlabelled else ws.subset(labels >= 0)
    if context > window:
        raise ConfigError(
            "a features context longer than the window needs whole-recording or calibration "
            "normalisation; with 'running' use a features window equal to the window"
        )
    raw = recording.raw
    pre = Preprocessor("running", context=recording.context, max_gap=recording.max_gap)
    plan = pre.plan(
        {m: s.rate for m, s in raw.signals.items()},
        recording.rates,
        {m: s.n_channels for m, s in raw.signals.items()},
        window,
        stride,
    )
    inputs = stream_inputs(plan, {m: s.data for m, s in raw.signals.items()}, Normalizer("running"))
    n = len(next(iter(inputs.values())))
    starts = np.arange(n) * float(stride)
    if task is not None and recording.labels is not None:
        labels = label_windows(recording.labels, recording.label_rate, starts, window, task)
    else:
        labels = np.full(n, -1, dtype=np.int64)
    ws = WindowSet(
        inputs,
        np.full(n, recording.subject),
        labels,
        starts.astype(np.float64),
        dict(recording.rates),
        task.classes if task is not None else (),
        window,
    )
    return ws if keep_unlabelled else ws.subset(labels >= 0)

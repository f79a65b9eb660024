"""Real-time prediction from chunks of samples that arrive per modality.

Every modality arrives at its own rate, in chunks of any size and in any interleaving. A
prediction is emitted for window ``k`` (``[k * hop, k * hop + window)`` s from the stream start)
as soon as every modality has delivered the raw segment that window needs (its ``context``
before, the window, and a few samples after: see :class:`~xmodal.signals.window_plan.WindowPlan`). Samples no
window will need again are dropped, so each modality's buffer holds at most
``context + window + hop`` seconds plus the amount by which it runs ahead of the slowest
modality (a modality that is pushed far ahead has to be kept until the others catch up).

Windows are processed exactly as by :meth:`Predictor.predict` with the same normalisation
policy, so a stream gives the same predictions as the offline recording (up to float rounding of
batch-size-dependent kernels, ~1e-7). The ``recording`` and ``calibration`` normalisations need
the whole recording and are refused; the default is ``running``, which is also what a run trained
with ``--normalize running`` saw in training and evaluation.

A stream does not apply test-time adaptation (``data.adapt``): it predicts with the trained
network as it is, so its predictions equal ``Predictor.predict(..., adapt="none")``. The causal
adaptation modes are applied offline by :meth:`Predictor.predict`.
"""

from __future__ import annotations

import numpy as np

from xmodal.errors import ConfigError, DataError
from xmodal.inference.sample_checks import as_sample_array, check_rate
from xmodal.inference.table import PredictionTable
from xmodal.signals.normalize import Normalizer
from xmodal.signals.window_plan import DEFAULT_CONTEXT


class StreamingPredictor:
    """Buffers chunks per modality and predicts every ``hop`` seconds.

    Parameters
    ----------
    predictor : Predictor
        Model(s), classes and preprocessing of a trained run.
    rates : dict of str to float
        Sampling rate of every modality of the stream (Hz).
    hop : float, optional
        Seconds between predictions (default: the run's evaluation stride).
    normalization : {'running', 'window', 'fixed'}
        Normalisation policy (:mod:`xmodal.signals.normalize`).
    stats : dict, optional
        Statistics for ``fixed`` (:meth:`Predictor.calibrate`).
    context : float
        Seconds of signal before each window used to settle the filters.

    Examples
    --------
    >>> stream = predictor.stream({"chest.ECG": 700, "chest.EDA": 700})   # doctest: +SKIP
    >>> rows = stream.push("chest.ECG", ecg_chunk)     # PredictionTable, often empty
    """

    def __init__(
        self,
        predictor,
        rates: dict,
        hop: float | None = None,
        normalization: str = "running",
        stats: dict | None = None,
        context: float = DEFAULT_CONTEXT,
    ) -> None:
        if normalization in ("recording", "calibration"):
            raise ConfigError(
                f"normalisation {normalization!r} needs the whole recording; a "
                "stream can use 'running', 'window' or 'fixed' (with stats from "
                "Predictor.calibrate)"
            )
        self.predictor = predictor
        missing = [m for m in predictor.modalities if m not in rates]
        if missing:
            raise DataError(f"{missing[0]}: no sampling rate given for the stream")
        rates = {m: check_rate(m, rates[m]) for m in predictor.modalities}
        self.plan = predictor.plan(rates, hop, context)
        self.normalizer = Normalizer(normalization, stats)
        self.classes = predictor.classes
        self._channels = {m: predictor.input_shapes[m][0] for m in predictor.modalities}
        # buffer of each modality: samples [start, start + length) in absolute sample indices
        self._buf = {
            m: np.zeros((self._span(m), c), dtype=np.float32) for m, c in self._channels.items()
        }
        self._start = {m: 0 for m in self._channels}
        self._length = {m: 0 for m in self._channels}
        self.next_window = 0

    def _span(self, m: str) -> int:
        """Samples from the first needed sample of window k to the last of window k + 1."""
        k = max(1, int(np.ceil(self.plan.context / self.plan.hop)) + 1)
        a, _ = self.plan.segment(k, m)
        _, b = self.plan.segment(k + 1, m)
        return b - a

    @property
    def received(self) -> dict:
        """Samples received so far per modality."""
        return {m: self._start[m] + self._length[m] for m in self._channels}

    @property
    def nbytes(self) -> int:
        """Bytes held by the sample buffers."""
        return sum(b.nbytes for b in self._buf.values())

    def _append(self, m: str, x: np.ndarray) -> None:
        need = self.plan.segment(self.next_window, m)[0]
        drop = min(max(0, need - self._start[m]), self._length[m])
        buf, n = self._buf[m], self._length[m]
        if drop:
            buf[: n - drop] = buf[drop:n]
            self._start[m] += drop
            n -= drop
        if n + len(x) > len(buf):
            grown = np.zeros((max(2 * len(buf), n + len(x)), buf.shape[1]), dtype=np.float32)
            grown[:n] = buf[:n]
            self._buf[m] = buf = grown
        buf[n : n + len(x)] = x
        self._length[m] = n + len(x)

    def _ready(self) -> list[dict]:
        out = []
        received = self.received
        while all(self.plan.segment(self.next_window, m)[1] <= received[m] for m in self._channels):
            k = self.next_window
            segments = {}
            for m in self._channels:
                a, b = self.plan.segment(k, m)
                segments[m] = self._buf[m][a - self._start[m] : b - self._start[m]]
            out.append(self.plan.process(k, segments, self.normalizer))
            self.next_window += 1
        return out

    def _emit(self, first: int, windows: list[dict]) -> PredictionTable:
        t_start = (first + np.arange(len(windows))) * self.plan.hop
        if not windows:
            return PredictionTable(self.classes, t_start, t_start, np.zeros((0, len(self.classes))))
        inputs = {m: np.stack([w[m] for w in windows]) for m in self._channels}
        return PredictionTable(
            self.classes, t_start, t_start + self.plan.window, self.predictor.predict_proba(inputs)
        )

    def push(self, modality: str, samples) -> PredictionTable:
        """Add samples ``(n,)`` or ``(n, channels)`` of one modality; return new predictions.

        Long chunks are consumed hop by hop, so buffers never hold more than a window's worth
        (plus the lead over other modalities). Raises DataError for an unknown modality, a wrong
        channel count, or a NaN/inf run longer than ``max_gap`` in a window.
        """
        if modality not in self._channels:
            raise DataError(
                f"unknown modality {modality!r} for this stream "
                f"(expected {', '.join(self._channels)})"
            )
        x = as_sample_array(modality, samples, self._channels[modality])
        step = max(1, int(round(self.plan.hop * self.plan.native_rates[modality])))
        first, windows = self.next_window, []
        for i in range(0, len(x), step):
            self._append(modality, x[i : i + step])
            windows.extend(self._ready())
        return self._emit(first, windows)

    def push_many(self, chunks: dict) -> PredictionTable:
        """:meth:`push` several modalities' chunks (in the dict's order); concatenated results."""
        tables = [self.push(m, x) for m, x in chunks.items()]
        return PredictionTable.concat([t for t in tables if len(t)], self.classes)

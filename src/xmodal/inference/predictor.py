"""Apply a trained run to new recordings: load checkpoints, window, preprocess, predict.

Which weights: a run folder trained with ``xmodal train --final`` holds ``final/model.pt``, one
model trained on every subject; it has seen the most people and is used by default. Otherwise
the fold models are used as an ensemble (mean of their class probabilities): each was trained
on all subjects but one (or a fold's worth) and validated on others, and averaging them is more
stable than picking one fold's model. ``ensemble=True`` forces the fold ensemble; ``fold=NAME``
loads one fold's model (e.g. to reproduce that fold's test predictions).

Preprocessing is the run's :class:`~xmodal.signals.preprocessor.Preprocessor`: by default a
recording is normalised in the mode the run was trained with (``data.normalize``), and
:meth:`Predictor.predict` adapts the models to the recording as the run was evaluated
(``data.adapt``, see :mod:`xmodal.training.adaptation`). Streams (:meth:`Predictor.stream`) do
not adapt.

A hybrid run (``--features-blend``) blends each model's probabilities with its fold's saved
features classifier (:mod:`xmodal.training.features_blend`); it predicts whole recordings
with the run's ``recording`` or ``calibration`` normalisation, not streams.

The module is long because loading a run, preparing a recording as the run did, adapting,
blending and streaming all serve one object, :class:`Predictor`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from xmodal.config import (
    PREDICT_NORMALIZATIONS,
    WINDOW_POLICIES,
    RunConfig,
    load_run_config,
)
from xmodal.data.recording import Recording, Signal
from xmodal.errors import ConfigError, DataError
from xmodal.files import read_json
from xmodal.inference.sample_checks import as_sample_array, check_rate
from xmodal.inference.table import PredictionTable
from xmodal.models.base import XModalModel
from xmodal.models.checkpoint import read_checkpoint
from xmodal.models.features import features_of
from xmodal.models.registry import build_model, features_blend_of, get_model
from xmodal.signals.gaps import signal_fill_gaps
from xmodal.signals.normalize import ChannelStats, Normalizer, zscore
from xmodal.signals.preprocessor import Preprocessor, stream_inputs
from xmodal.signals.window_plan import DEFAULT_CONTEXT, WindowPlan
from xmodal.signals.windows import WindowSet, make_windows
from xmodal.training.adaptation import (
    adapted_predict,
    check_adaptable,
    expert_probabilities,
    window_probabilities,
)
from xmodal.training.features_blend import FeaturesBlend
from xmodal.version import __version__


def load_run(path: str | Path) -> tuple[RunConfig, dict]:
    """``config.toml`` and ``results.json`` of a finished run folder."""
    path = Path(path)
    if not (path / "results.json").is_file() or not (path / "config.toml").is_file():
        raise DataError(
            f"{path}: not a finished run folder (needs config.toml and results.json; "
            f"train with 'xmodal train DATA --out {path}')"
        )
    return load_run_config(path / "config.toml"), read_json(path / "results.json")


def checkpoint_paths(
    path: str | Path, ensemble: bool = False, fold: str | None = None
) -> tuple[str, list[Path]]:
    """``("final", [final/model.pt])`` when present (and not ``ensemble``), else the folds';
    with ``fold`` that fold's model only (``("fold", [folds/<fold>/model.pt])``)."""
    path = Path(path)
    if fold is not None:
        one = path / "folds" / str(fold) / "model.pt"
        if not one.is_file():
            have = ", ".join(sorted(p.parent.name for p in path.glob("folds/*/model.pt")))
            raise DataError(f"{path}: no model of fold {fold!r} (have: {have or 'none'})")
        return "fold", [one]
    final = path / "final" / "model.pt"
    if final.is_file() and not ensemble:
        return "final", [final]
    folds = sorted(path.glob("folds/*/model.pt"))
    if not folds:
        raise DataError(f"{path}: no checkpoints (final/model.pt or folds/*/model.pt)")
    return "ensemble", folds


class Predictor:
    """A trained model (or fold ensemble) with the preprocessing it was trained with.

    Parameters
    ----------
    models : list of XModalModel
        One model, or the fold models of an ensemble (probabilities are averaged).
    classes : sequence of str
        Class names of the task.
    rates : dict of str to float
        Model rate of every modality, in input order.
    window, hop : float
        Window length and default hop in seconds.
    max_gap : float
        Longest NaN/inf run in seconds that is interpolated.
    source : str
        ``"final"``, ``"ensemble"``, ``"fold"`` or ``"model"``.
    optimize : bool
        On CPU, compute probabilities with frozen TorchScript copies of the models
        (:func:`~xmodal.inference.frozen.freeze_for_cpu`; about twice as fast per window, equal
        within float32 rounding); built on first use. Attention always uses the eager models.
    preprocessor : Preprocessor, optional
        The run's preprocessing (normalisation mode and calibration); default: ``recording``
        normalisation at ``rates``.
    adapt : {'none', 'adabn', 'adabn-causal'}
        Test-time adaptation :meth:`predict` applies by default (the run's ``data.adapt``).
    adapt_minutes : float
        ``adabn-causal``: the adaptation period from the recording start.
    features : list of FeaturesBlend, optional
        A hybrid: each model's features half (same order as ``models``).
    feature_channels : dict of str to int, optional
        A hybrid: every modality its features read (``rates`` has theirs too) and its channels.
    features_window : float
        A hybrid: seconds of signal, ending with each window, its features describe.
    """

    def __init__(
        self,
        models: Sequence[XModalModel],
        classes: Sequence[str],
        rates: dict,
        window: float,
        hop: float,
        max_gap: float = 1.0,
        source: str = "model",
        optimize: bool = True,
        preprocessor: Preprocessor | None = None,
        adapt: str = "none",
        adapt_minutes: float = 5.0,
        features: Sequence[FeaturesBlend] | None = None,
        feature_channels: dict | None = None,
        features_window: float = 0.0,
    ) -> None:
        if not models:
            raise ConfigError("a Predictor needs at least one model")
        self.models = [m.eval() for m in models]
        self.classes = tuple(classes)
        self.input_shapes = dict(models[0].input_shapes)
        self.modalities = list(self.input_shapes)
        self.features = list(features) if features else None
        if self.features is not None and len(self.features) != len(self.models):
            raise ConfigError("a hybrid Predictor needs one features half per model")
        #: channels of every modality a recording must have (a hybrid's features read more)
        self.channels = {m: self.input_shapes[m][0] for m in self.modalities}
        if self.features is not None:
            self.channels = {**dict(feature_channels or {}), **self.channels}
        self.features_window = float(features_window)
        self.rates = {m: float(rates[m]) for m in self.channels}
        self.window = float(window)
        self.hop = float(hop)
        self.max_gap = float(max_gap)
        self.source = source
        self.optimize = bool(optimize)
        self._runners: list | None = None
        base = preprocessor or Preprocessor(max_gap=self.max_gap)
        self.preprocessor = dataclasses.replace(base, rates=dict(self.rates), max_gap=self.max_gap)
        for model in self.models:
            check_adaptable(model, adapt)
        self.adapt = adapt
        self.adapt_minutes = float(adapt_minutes)

    @classmethod
    def from_run(
        cls, path: str | Path, ensemble: bool = False, device: str = "cpu", fold: str | None = None
    ) -> Predictor:
        """Load a run folder (see the module docstring for which weights are used).

        Checkpoints are read with ``torch.load(..., weights_only=True)``: a state_dict of
        tensors, never arbitrary pickled objects.
        """
        from xmodal.training.trainer import resolve_device

        device = resolve_device(device)  # unknown device or no CUDA: ConfigError
        config, results = load_run(path)
        if not get_model(config.model.name).is_network:
            raise ConfigError(
                f"{path}: a {config.model.name!r} run ({get_model(config.model.name).description}) "
                "keeps no fitted network; predict, explain and export need a run of "
                "a network (attentive, cross, late-fusion, ...)"
            )
        source, paths = checkpoint_paths(path, ensemble, fold)
        shapes = {m: tuple(s) for m, s in results["windows"]["input_shapes"].items()}
        network_shapes = {m: shapes[m] for m in config.model.network_inputs(shapes)}
        classes = results["classes"]
        hybrid = features_blend_of(config.model) != "none"
        features = [FeaturesBlend.load(p.parent) for p in paths] if hybrid else None
        models = []
        for p in paths:
            model = build_model(config.model, network_shapes, len(classes))
            state = read_checkpoint(p, device)
            try:
                model.load_state_dict(state)
            except (RuntimeError, ValueError, KeyError, TypeError) as exc:
                lines = [ln.strip() for ln in str(exc).strip().splitlines()[:2]]
                first = " ".join(lines)[:160] if lines else type(exc).__name__
                trained = results.get("xmodal_version")
                hint = (
                    f"; trained with xmodal {trained}, this is {__version__}, whose preset "
                    f"may build another architecture"
                    if trained and trained != __version__
                    else ""
                )
                raise DataError(f"{p}: cannot load checkpoint ({first}){hint}") from None
            models.append(model.to(device).eval())
        rates = results["windows"]["rates"]
        return cls(
            models,
            classes,
            rates,
            config.data.window,
            config.data.stride,
            config.data.max_gap,
            source,
            preprocessor=Preprocessor.of(config.data, rates),
            adapt=config.data.adapt,
            adapt_minutes=config.data.adapt_minutes,
            features=features,
            feature_channels={m: s[0] for m, s in shapes.items()},
            features_window=config.model.features_window,
        )

    # ---- inputs ------------------------------------------------------------------------------

    @property
    def input_modalities(self) -> list[str]:
        """Modalities a recording must have: the networks' and, for a hybrid, its features'."""
        return list(self.channels)

    def _check(self, signals: dict, rates: dict) -> tuple[dict, dict]:
        needed = list(self.channels)
        missing = [m for m in needed if m not in signals]
        if missing:
            raise DataError(
                f"missing modality {missing[0]} (the model needs "
                f"{', '.join(needed)}; got {', '.join(signals) or 'none'})"
            )
        no_rate = [m for m in needed if m not in rates]
        if no_rate:
            raise DataError(f"{no_rate[0]}: no sampling rate given")
        data = {m: as_sample_array(m, signals[m], self.channels[m]) for m in needed}
        return data, {m: check_rate(m, rates[m]) for m in needed}

    def plan(
        self, rates: dict, hop: float | None = None, context: float = DEFAULT_CONTEXT
    ) -> WindowPlan:
        """The :class:`WindowPlan` for inputs at ``rates``."""
        hop = self.hop if hop is None else float(hop)
        if not math.isfinite(hop) or hop <= 0:
            raise ConfigError(f"hop must be a positive number of seconds, got {hop!r}")
        if not math.isfinite(context) or context < 0:
            raise ConfigError(f"context must be a finite number of seconds >= 0, got {context!r}")
        return WindowPlan(
            {m: float(rates[m]) for m in self.modalities},
            {m: self.rates[m] for m in self.modalities},
            {m: self.input_shapes[m][1] for m in self.modalities},
            {m: self.input_shapes[m][0] for m in self.modalities},
            self.window,
            hop,
            float(context),
            self.max_gap,
        )

    def calibrate(self, signals: dict, rates: dict) -> dict:
        """Normalisation statistics of a recording, preprocessed as in training (gap repair,
        cleaning, resampling to the model rate): ``{modality: {"mean": [...], "std": [...]}}``.

        Use them as ``stats=`` with ``normalization="fixed"`` (e.g. from a resting calibration
        recording of the same person); ``normalization="recording"`` computes them from the
        recording being predicted.
        """
        data, rates = self._check(signals, rates)
        cleaned = self.preprocessor.clean(self._recording(data, rates, self.modalities))
        out = {}
        for m in self.modalities:
            x = cleaned.signals[m]  # (channels, samples)
            stats = ChannelStats.of(x)
            zscore(x[:, :1], stats.mean, stats.std, m, strict=True)  # flat: DataError
            out[m] = stats.to_dict()
        return out

    def normalizer(self, normalization: str, stats: dict | None = None) -> Normalizer:
        """A fresh :class:`Normalizer` for a policy (see :mod:`xmodal.signals.normalize`)."""
        if normalization not in WINDOW_POLICIES:
            raise ConfigError(
                f"normalisation {normalization!r} works on whole recordings only "
                f"(Predictor.predict); per window: {', '.join(WINDOW_POLICIES)}"
            )
        return Normalizer(normalization, stats)

    # ---- models ------------------------------------------------------------------------------

    def _inference_models(self, device: torch.device) -> list:
        """The callables that give logits: frozen copies on CPU (``optimize``), else the models."""
        if not self.optimize or device.type != "cpu":
            return self.models
        if self._runners is None:
            from xmodal.inference.frozen import freeze_for_cpu

            self._runners = [freeze_for_cpu(m) for m in self.models]
        return self._runners

    @torch.no_grad()
    def predict_proba(self, inputs: dict, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` of model inputs ``{modality: (n, C, T)}``
        (mean over ensemble members); a hybrid predicts recordings only (:meth:`predict`)."""
        if self.features is not None:
            raise ConfigError(
                "a hybrid model (features blend) needs each window's features; predict whole "
                "recordings with Predictor.predict"
            )
        return self._network_proba(inputs, batch_size)

    def _network_proba(self, inputs: dict, batch_size: int = 256) -> np.ndarray:
        """The networks' mean probabilities of ``inputs`` (frozen runners on CPU)."""
        n = len(next(iter(inputs.values())))
        if n == 0:
            return np.zeros((0, len(self.classes)))
        device = next(self.models[0].parameters()).device
        xs = [
            torch.as_tensor(np.ascontiguousarray(inputs[m]), device=device) for m in self.modalities
        ]
        total = None
        for model in self._inference_models(device):
            parts = [
                torch.softmax(model(*[x[i : i + batch_size] for x in xs]).double(), dim=1)
                for i in range(0, n, batch_size)
            ]
            p = torch.cat(parts).cpu().numpy()
            total = p if total is None else total + p
        return total / len(self.models)

    @torch.no_grad()
    def attention(
        self,
        inputs: dict,
        features: np.ndarray | None = None,
        batch_size: int = 256,
        t_start: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict]:
        """Probabilities and attention maps ``{"src->tgt@block": (n, C, L)}`` (ensemble mean).
        A hybrid's probabilities are each network's blended with its features half on the
        windows' feature rows ``features`` (required for a hybrid) of windows starting at
        ``t_start`` s.

        Raises
        ------
        ConfigError
            The model has no attentive connections.
        """
        n = len(next(iter(inputs.values())))
        device = next(self.models[0].parameters()).device
        xs = [
            torch.as_tensor(np.ascontiguousarray(inputs[m]), device=device) for m in self.modalities
        ]
        each, maps = [], {}
        for model in self.models:
            probs, attn = [], {}
            for i in range(0, n, batch_size):
                logits, a = model.forward_with_attention(*[x[i : i + batch_size] for x in xs])
                probs.append(torch.softmax(logits.double(), dim=1).cpu())
                for key, value in a.items():
                    attn.setdefault(key, []).append(value.float().cpu())
            if not attn:
                raise ConfigError(
                    f"model {type(model).__name__} has no attention weights; "
                    f"only 'attentive' runs can be explained"
                )
            each.append(torch.cat(probs).numpy())
            if self._by_stream(len(each) - 1):
                own = {m: inputs[m] for m in self.modalities}
                each[-1] = expert_probabilities(model, own, device).astype(np.float64)
            for key, parts in attn.items():
                value = torch.cat(parts).numpy()
                maps[key] = value if key not in maps else maps[key] + value
        k = len(self.models)
        proba = self._blend(each, features, t_start) if self.features is not None else sum(each) / k
        return proba, {key: v / k for key, v in maps.items()}

    # ---- recordings --------------------------------------------------------------------------

    @property
    def normalization(self) -> str:
        """The normalisation the run was trained with (the default of :meth:`predict`)."""
        return self.preprocessor.normalize

    def windows(
        self,
        signals: dict,
        rates: dict,
        hop: float | None = None,
        normalization: str | None = None,
        stats: dict | None = None,
        context: float = DEFAULT_CONTEXT,
        labels: np.ndarray | None = None,
        label_rate: float | None = None,
    ) -> tuple[WindowPlan, dict]:
        """Model inputs ``{modality: (n_windows, C, T)}`` of a whole recording.

        ``recording`` and ``calibration`` process the whole recording as training does
        (:class:`~xmodal.signals.preprocessor.Preprocessor`); ``running``, ``window`` and
        ``fixed`` process each window from its raw segment (the streaming path).

        Raises
        ------
        DataError
            Missing modality, wrong channel count or rate, NaN runs longer than ``max_gap``,
            or a recording shorter than one window.
        """
        plan, inputs, _ = self.recording_windows(
            signals, rates, hop, normalization, stats, context, labels, label_rate
        )
        return plan, inputs

    def recording_windows(
        self,
        signals: dict,
        rates: dict,
        hop: float | None,
        normalization: str | None,
        stats: dict | None,
        context: float,
        labels: np.ndarray | None,
        label_rate: float | None,
    ) -> tuple[WindowPlan, dict, np.ndarray | None]:
        """:meth:`windows` and, for a hybrid, the windows' feature rows (else None), which
        :meth:`adapted_proba` blends in."""
        normalization = self.normalization if normalization is None else normalization
        if normalization not in PREDICT_NORMALIZATIONS:
            valid = ", ".join(PREDICT_NORMALIZATIONS)
            raise ConfigError(f"unknown normalisation {normalization!r}; valid: {valid}")
        if self.features is not None and normalization not in ("recording", "calibration"):
            raise ConfigError(
                f"a hybrid model (features blend) describes whole recordings; normalisation "
                f"{normalization!r} works window by window (use recording or calibration)"
            )
        data, rates = self._check(signals, rates)
        plan = self.plan(rates, hop, context)
        for m in self.modalities:  # one clear error for long NaN runs, before any window
            if not np.isfinite(data[m]).all():
                signal_fill_gaps(data[m], rates[m], self.max_gap, m)
        rows = None
        if normalization in ("recording", "calibration"):
            inputs, rows = self._whole_recording_inputs(
                data, rates, plan.hop, normalization, labels, label_rate
            )
            n = len(next(iter(inputs.values())))
        else:
            n = plan.n_windows({m: len(data[m]) for m in self.modalities})
        if n == 0:
            have = min(len(data[m]) / rates[m] for m in self.modalities)
            raise DataError(
                f"recording too short: {have:.1f} s, one {self.window:g}-s window "
                f"needs {plan.min_duration():.1f} s of every modality"
            )
        if normalization in ("recording", "calibration"):
            return plan, inputs, rows
        network = {m: data[m] for m in self.modalities}
        return plan, stream_inputs(plan, network, self.normalizer(normalization, stats)), None

    @staticmethod
    def _recording(
        data: dict,
        rates: dict,
        modalities: Sequence[str],
        labels: np.ndarray | None = None,
        label_rate: float | None = None,
    ) -> Recording:
        """Checked input samples of ``modalities`` as a :class:`Recording` to preprocess."""
        signals = {m: Signal(data[m], rates[m]) for m in modalities}
        return Recording("input", signals, labels, label_rate)

    def _whole_recording_inputs(
        self,
        data: dict,
        rates: dict,
        hop: float,
        normalization: str,
        labels: np.ndarray | None,
        label_rate: float | None,
    ) -> tuple[dict, np.ndarray | None]:
        """Windows cut from the whole cleaned and z-scored recording (training's path), and a
        hybrid's feature rows of them (else None)."""
        rec = self._recording(data, rates, self.channels, labels, label_rate)
        pre = dataclasses.replace(self.preprocessor, normalize=normalization)
        prepared = dataclasses.replace(pre.normalized(pre.clean(rec)), labels=None, label_rate=None)
        context = self.features_window if self.features is not None else 0.0
        windows = make_windows(prepared, None, self.window, hop, True, context)
        rows = features_of(windows)[0] if self.features is not None else None
        return {m: windows.inputs[m] for m in self.modalities}, rows

    def predict(
        self,
        signals: dict,
        rates: dict,
        hop: float | None = None,
        normalization: str | None = None,
        stats: dict | None = None,
        context: float = DEFAULT_CONTEXT,
        labels: np.ndarray | None = None,
        label_rate: float | None = None,
        adapt: str | None = None,
    ) -> PredictionTable:
        """Per-window predictions for one recording.

        Parameters
        ----------
        signals : dict of str to np.ndarray
            ``{modality: samples}``, each ``(n,)`` or ``(n, channels)`` at its own rate, all
            starting at t = 0. Extra modalities are ignored.
        rates : dict of str to float
            Sampling rate of each modality in Hz.
        hop : float, optional
            Seconds between window starts (default: the run's evaluation stride).
        normalization : {'recording', 'calibration', 'running', 'window', 'fixed'}, optional
            Where the z-score statistics come from (default: the run's ``data.normalize``).
            ``recording`` and ``calibration`` (the run's calibration settings) process the whole
            recording as training did; the others process each window on its own
            (:mod:`xmodal.signals.normalize`), ``running`` exactly as a stream does.
        stats : dict, optional
            Statistics for ``fixed`` (from :meth:`calibrate`).
        context : float
            Seconds of signal before each window used to settle the filters (per-window path).
        labels, label_rate : np.ndarray and float, optional
            Raw label codes of the recording: needed by a calibration on a label's segment.
        adapt : {'none', 'adabn', 'adabn-causal'}, optional
            Test-time adaptation to this recording from its own windows (default: the run's
            ``data.adapt``; see :mod:`xmodal.training.adaptation`).

        Returns
        -------
        PredictionTable
            ``t_start``, ``t_end``, ``predicted``, ``p_<class>`` per window.
        """
        plan, inputs, rows = self.recording_windows(
            signals, rates, hop, normalization, stats, context, labels, label_rate
        )
        n = len(next(iter(inputs.values())))
        t_start = np.arange(n) * plan.hop
        return PredictionTable(
            self.classes,
            t_start,
            t_start + self.window,
            self.adapted_proba(inputs, t_start, self.adapt if adapt is None else adapt, rows),
        )

    def adapted_proba(
        self,
        inputs: dict,
        t_start: np.ndarray,
        adapt: str,
        features: np.ndarray | None = None,
    ) -> np.ndarray:
        """Class probabilities of the windows ``inputs`` of one recording (starting at
        ``t_start`` s) by copies of the models adapted to that recording (``adapt``; the
        mean over ensemble members); ``none``: the models as trained. A hybrid blends each
        model's with its features half on the windows' feature rows ``features``."""
        if self.features is not None:
            each = [self._one_proba(i, inputs, t_start, adapt) for i in range(len(self.models))]
            return self._blend(each, features, t_start)
        if adapt == "none":
            return self._network_proba(inputs)
        return sum(
            self._one_proba(i, inputs, t_start, adapt) for i in range(len(self.models))
        ) / len(self.models)

    def _blend(
        self,
        each: list[np.ndarray],
        features: np.ndarray | None,
        t_start: np.ndarray | None = None,
    ) -> np.ndarray:
        """The mean over members of each network's probabilities ``each`` blended with its
        features half on the feature rows ``features`` of windows starting at ``t_start``
        (None: equally spaced; ConfigError without the rows)."""
        if features is None:
            raise ConfigError("a hybrid model (features blend) needs the windows' features")
        blended = [half.blend_rows(features, p, t_start) for half, p in zip(self.features, each)]
        return sum(blended) / len(blended)

    def _by_stream(self, index: int) -> bool:
        """Whether model ``index`` is a hybrid's network that enters its blend by stream."""
        return self.features is not None and bool(self.features[index].network_streams)

    def _probabilities(self, index: int) -> Callable:
        """How model ``index``'s probabilities are taken: ``(n, k)``, or ``(n, 1 + streams,
        k)`` by stream (:meth:`_by_stream`)."""
        return expert_probabilities if self._by_stream(index) else window_probabilities

    def _one_proba(self, index: int, inputs: dict, t_start: np.ndarray, adapt: str) -> np.ndarray:
        """Model ``index``'s probabilities of one recording's windows under ``adapt``."""
        model = self.models[index]
        device = next(model.parameters()).device
        probabilities = self._probabilities(index)
        if adapt == "none":
            return probabilities(model, inputs, device).astype(np.float64)
        n = len(t_start)
        windows = WindowSet(
            {m: inputs[m] for m in self.modalities},
            np.full(n, "input"),
            np.full(n, -1, dtype=np.int64),
            np.asarray(t_start, dtype=np.float64),
            {m: self.rates[m] for m in self.modalities},
            self.classes,
            self.window,
        )
        return adapted_predict(
            model,
            windows,
            windows,
            lambda net, x: probabilities(net, x, device),
            adapt,
            self.adapt_minutes,
            device,
        ).astype(np.float64)

    def stream(
        self,
        rates: dict,
        hop: float | None = None,
        normalization: str = "running",
        stats: dict | None = None,
        context: float = DEFAULT_CONTEXT,
    ):
        """A :class:`~xmodal.inference.streaming.StreamingPredictor` for inputs at ``rates``
        (not for a hybrid, whose features describe whole recordings)."""
        from xmodal.inference.streaming import StreamingPredictor

        if self.features is not None:
            raise ConfigError(
                "a hybrid model (features blend) cannot stream; predict whole recordings"
            )

        return StreamingPredictor(self, rates, hop, normalization, stats, context)

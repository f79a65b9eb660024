"""What a fold trains: one estimator contract for the networks and the ``features`` baseline.

The fold runner (:mod:`xmodal.training.folds`) knows nothing of the model: it hands a
:class:`FoldEstimator` the fold's training (and, if it selects on them, validation) windows,
asks it for test probabilities and lets it save its state. :func:`estimator_for` picks the
estimator of a configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from xmodal.config import PERSON_BLENDS, RunConfig
from xmodal.errors import ConfigError
from xmodal.files import save_state_dict
from xmodal.models.complexity import count_parameters, flops_per_window
from xmodal.models.features import features_of
from xmodal.models.registry import (
    build_model,
    features_blend_of,
    features_detrend_of,
    features_model_of,
    get_model,
    person_refit_of,
)
from xmodal.signals.windows import WindowSet, drop_contexts
from xmodal.training.adaptation import expert_probabilities, has_stream_experts
from xmodal.training.features_blend import BLEND_FILE, CLASSIFIER_FILE, FeaturesBlend
from xmodal.training.recipe import fit_network
from xmodal.training.trainer import predict_logits, resolve_device, softmax

#: points an attention time course is resampled to when summarised per class
ATTENTION_POINTS = 50


class FoldEstimator(Protocol):
    """A model as the fold runner sees it; one new instance per fold.

    Attributes
    ----------
    label : str
        Name shown in the progress lines.
    epochs : int
        Epochs announced to the progress display.
    uses_validation : bool
        True: :meth:`fit` selects on the validation windows (early stopping). False: the fold
        runner adds the validation subjects' windows to the training windows instead.
    parallel_folds : bool
        Whether folds may run in worker processes (``--jobs``).
    final_model : bool
        Whether ``--final`` can train and keep one model on every subject.
    reads_features : bool
        Whether it reads the classical features of the windows (the fold runner attaches
        them, :func:`~xmodal.training.window_features.attach_features`, before :meth:`prepare`).
    state_files : tuple of str
        Files :meth:`save` writes into a fold folder; a fold is done when they exist.
    """

    label: str
    epochs: int
    uses_validation: bool
    parallel_folds: bool
    final_model: bool
    reads_features: bool
    state_files: tuple[str, ...]

    def check_modalities(self, modalities: Sequence[str]) -> None:
        """ConfigError unless the estimator takes this many modalities."""

    def prepare(self, windows: WindowSet) -> WindowSet:
        """Work done once per run on all windows before the folds select from them."""

    def complexity(self, input_shapes: dict, n_classes: int) -> dict:
        """``{"n_parameters": ..., "flops_per_window": ...}`` (None where they do not apply)."""

    def fit(
        self,
        train: WindowSet,
        validation: WindowSet | None,
        *,
        seed: int,
        on_epoch: Callable[[dict], None] | None = None,
        unlabelled: WindowSet | None = None,
        recordings: WindowSet | None = None,
    ) -> dict:
        """Fit on the fold's windows; return the fold record's training fields (``best_epoch``,
        ``epochs_run``, ``train_s``, ``windows_per_s``, ``history``, ...). ``unlabelled``:
        windows for in-fold pretraining; ``recordings``: the training people's whole
        recordings (labels unread), passed only when the configured blend reads them
        (``experts-gate``), so an estimator without that keyword still runs."""

    def predict_proba(self, windows: WindowSet) -> np.ndarray:
        """Class probabilities ``(n_windows, n_classes)``."""

    def save(self, folder: Path) -> None:
        """Write the fitted state (:attr:`state_files`) into ``folder``."""

    def fold_record(self, test: WindowSet) -> dict:
        """Extra fields of the fold record computed on the test windows (``attention``)."""


def attention_summary(model, windows: WindowSet, n_classes: int, device) -> dict:
    """Attention weights on the test windows: mean over channels, per class, over time."""
    if not hasattr(model, "forward_with_attention") or len(windows) == 0:
        return {}
    model.eval()
    sums: dict[str, np.ndarray] = {}
    counts = np.zeros(n_classes)
    with torch.no_grad():
        xs = [torch.from_numpy(windows.inputs[m]).to(device) for m in windows.modalities]
        for i in range(0, len(windows), 256):
            _, attn = model.forward_with_attention(*[x[i : i + 256] for x in xs])
            y = windows.labels[i : i + 256]
            for key, a in attn.items():
                course = a.float().mean(dim=1, keepdim=True)  # (batch, 1, L)
                course = torch.nn.functional.interpolate(
                    course, size=ATTENTION_POINTS, mode="linear", align_corners=False
                )
                course = course[:, 0].cpu().numpy()
                acc = sums.setdefault(key, np.zeros((n_classes, ATTENTION_POINTS)))
                np.add.at(acc, y, course)
            counts += np.bincount(y, minlength=n_classes)
    return {
        key: [(s / c).tolist() if c else None for s, c in zip(acc, counts)]
        for key, acc in sums.items()
    }


class NetworkEstimator:
    """A network of the registry trained by :func:`~xmodal.training.recipe.fit_network`, with
    early stopping on the validation windows; saves ``model.pt``.

    With a features blend (``model.features_blend``, :func:`features_blend_of`) it is a hybrid: the features
    classifier of the same fold is blended into the probabilities
    (:mod:`xmodal.training.features_blend`); the network then reads
    ``model.network_modalities`` (empty: all) and the features every modality of the windows.
    """

    uses_validation = True
    parallel_folds = True
    final_model = True

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.label = config.model.name
        self.epochs = config.training.epochs
        self.device = resolve_device(config.training.device)
        self.model: torch.nn.Module | None = None
        blend = features_blend_of(config.model)
        self.features: FeaturesBlend | None = (
            None
            if blend == "none"
            else FeaturesBlend(
                blend,
                features_model_of(config.model),
                refit=person_refit_of(config.model) == "recording",
                detrend=features_detrend_of(config.model),
                smoothing=config.model.experts_smoothing,
                disagreement=config.model.experts_disagreement,
            )
        )
        #: the network enters the blend as its fused output and each stream alone
        self.stream_experts = config.model.network_experts == "streams"
        if self.stream_experts:
            _check_stream_experts(config, blend)
        self.state_files = ("model.pt",)
        if self.features is not None:
            self.state_files += (BLEND_FILE, CLASSIFIER_FILE)
            self.label = f"{self.label}+features"

    @property
    def reads_features(self) -> bool:
        """Whether the estimator reads the classical features of the windows (a hybrid)."""
        return self.features is not None

    @property
    def reads_recording(self) -> bool:
        """Whether the hybrid weighs its experts on each test subject's whole recording."""
        return self.features is not None and self.features.reads_recording

    def network_view(self, windows: WindowSet) -> WindowSet:
        """The windows as the network reads them (``model.network_modalities``)."""
        chosen = self.config.model.network_inputs(windows.modalities)
        return windows if chosen == list(windows.modalities) else windows.with_modalities(chosen)

    def check_modalities(self, modalities: Sequence[str]) -> None:
        """ConfigError unless the network takes this many modalities (and reads only some of
        them)."""
        chosen = self.config.model.network_modalities
        missing = [m for m in chosen if m not in modalities]
        if missing:
            raise ConfigError(
                f"network_modalities {' '.join(missing)} are not among the run's modalities "
                f"({' '.join(modalities)})"
            )
        get_model(self.config.model.name).check_modalities(
            self.config.model.network_inputs(modalities)
        )

    def prepare(self, windows: WindowSet) -> WindowSet:
        """The features of every window, once, for a hybrid (then its context windows are
        dropped: only the features are needed); networks read the windows themselves."""
        if self.features is not None:
            features_of(windows)
            drop_contexts(windows)
        return windows

    def complexity(self, input_shapes: dict, n_classes: int) -> dict:
        """Parameters and FLOPs per window of the configured network (freshly built)."""
        shapes = {m: input_shapes[m] for m in self.config.model.network_inputs(input_shapes)}
        net = build_model(self.config.model, shapes, n_classes)
        return {
            "n_parameters": count_parameters(net),
            "flops_per_window": flops_per_window(net, shapes),
        }

    def fit(
        self,
        train: WindowSet,
        validation: WindowSet | None,
        *,
        seed: int,
        on_epoch: Callable[[dict], None] | None = None,
        unlabelled: WindowSet | None = None,
        recordings: WindowSet | None = None,
    ) -> dict:
        """Build and train the network (see :func:`~xmodal.training.recipe.fit_network`),
        then, for a hybrid, the features half (``experts-gate`` reads ``recordings``)."""
        view = self.network_view
        network_train = view(train)
        if self.stream_experts:  # before any training: a network without per-stream experts
            shapes, n_classes = network_train.input_shapes, len(train.classes)
            if not has_stream_experts(build_model(self.config.model, shapes, n_classes)):
                raise ConfigError(
                    f"network_experts 'streams': {self.config.model.name!r} has no per-stream "
                    "experts (attentive, cross and late-fusion have)"
                )
        self.model, result = fit_network(
            self.config,
            network_train,
            None if validation is None else view(validation),
            len(train.classes),
            network_train.input_shapes,
            seed,
            on_epoch=on_epoch,
            unlabelled=None if unlabelled is None else view(unlabelled),
        )
        if self.features is not None:
            if self.stream_experts:
                self.features.network_streams = list(network_train.modalities)
            result["features_blend"] = self.features.fit(
                train, validation, self.network_proba, seed=seed, recordings=recordings
            )
        return result

    def network_proba(self, windows: WindowSet) -> np.ndarray:
        """Softmax of the network's logits (the network's modalities of ``windows``);
        ``(n, 1 + streams, k)``, the fused output and each stream alone, for a hybrid whose
        network enters the blend by stream (``network_experts``)."""
        view = self.network_view(windows)
        if self.stream_experts:
            return expert_probabilities(self.model, view.inputs, self.device)
        if len(windows) == 0:
            return np.zeros((0, len(windows.classes)))
        return softmax(predict_logits(self.model, view, device=self.device))

    def blend(self, windows: WindowSet, network: np.ndarray) -> np.ndarray:
        """The hybrid's probabilities from the network's (unchanged without a features half)."""
        return network if self.features is None else self.features.blend(windows, network)

    def predict_proba(self, windows: WindowSet) -> np.ndarray:
        """Class probabilities: the network's, blended with the features' for a hybrid."""
        return self.blend(windows, self.network_proba(windows))

    def save(self, folder: Path) -> None:
        """Write ``folder/model.pt`` (the state dict) and, for a hybrid, the features half's
        weight and classifier (:meth:`FeaturesBlend.save`)."""
        save_state_dict(Path(folder) / "model.pt", self.model.cpu().state_dict())
        if self.features is not None:
            self.features.save(folder)

    def fold_record(self, test: WindowSet) -> dict:
        """The attention summary on the test windows (:func:`attention_summary`) and, for a
        hybrid whose blend weighs its experts per person, the weights each test subject got."""
        record = {
            "attention": attention_summary(
                self.model.to(self.device),
                self.network_view(test),
                len(test.classes),
                self.device,
            )
        }
        if self.reads_recording:
            record["expert_weights"] = dict(self.features.person_weights)
        if self.features is not None and self.features.refit:
            record["refit_weights"] = dict(self.features.refit_weights)
        return record


def _check_stream_experts(config: RunConfig, blend: str) -> None:
    """ConfigError unless a network can enter its blend by stream: an experts-* blend, a fusion
    network, and no test-time adaptation that mixes the same experts itself."""
    if blend not in PERSON_BLENDS:
        raise ConfigError(
            f"network_experts 'streams' mixes the network's streams as experts of an "
            f"{' or '.join(PERSON_BLENDS)} blend, not of {blend!r}"
        )
    entry = get_model(config.model.name)
    if not entry.is_network or entry.min_modalities < 2:
        raise ConfigError(
            f"network_experts 'streams' needs a fusion network of two or more streams, "
            f"not {config.model.name!r}"
        )
    if "experts" in config.data.adapt:
        raise ConfigError(
            f"network_experts 'streams' and adapt {config.data.adapt!r} both weigh the "
            "network's streams; choose one"
        )


def estimator_for(config: RunConfig) -> FoldEstimator:
    """A new, unfitted estimator of the configured model: the registered model's own
    (:mod:`xmodal.models.registry`), else a :class:`NetworkEstimator`; ConfigError for an
    unknown model."""
    make = get_model(config.model.name).estimator or NetworkEstimator
    return make(config)

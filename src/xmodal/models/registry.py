"""Models by name: the built-in ones, any registered from Python and any a package adds.

``--model NAME`` (and ``[model] name`` in a configuration) is looked up here. A model is a
*builder* ``builder(config, input_shapes, n_outputs) -> torch.nn.Module`` (a network trained
by the standard recipe) or, for models that are not trained that way, an *estimator* factory
``estimator(run_config) -> FoldEstimator`` (see :mod:`xmodal.training.estimators`). The
built-in models register themselves in :func:`builtin_registry`; a user adds one with
:func:`register_model`, a package through the ``xmodal.models`` entry point group, whose
entries name a builder or a :class:`ModelEntry` and are loaded when a name is not found.

The module is long because it is the one place where a model name means something: the
registry, the built-in models' builders and how the features settings resolve for each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from xmodal.config import (
    DEFAULT_BLEND,
    DEFAULT_FEATURES_MODEL,
    DEFAULT_HYBRID_FEATURES_MODEL,
    PERSON_BLENDS,
    ModelConfig,
)
from xmodal.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "MODELS",
    "ModelEntry",
    "ModelRegistry",
    "build_model",
    "features_model_of",
    "get_model",
    "model_names",
    "person_refit_of",
    "features_detrend_of",
    "register_model",
    "stream_kwargs",
    "unregister_model",
]

#: the entry point group a package lists its models in (``name = "module:builder"``)
ENTRY_POINT_GROUP = "xmodal.models"

Builder = Callable[[ModelConfig, Mapping[str, tuple[int, int]], int], Any]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Attributes
    ----------
    name : str
        The ``--model`` name.
    builder : callable or None
        ``builder(config, input_shapes, n_outputs)``: the network for a resolved
        :class:`~xmodal.config.ModelConfig` (presets filled in), the ordered
        ``{modality: (n_channels, n_times)}`` and the number of classes; None for a model that
        is not a network (it then needs ``estimator``).
    estimator : callable or None
        ``estimator(run_config)``: a new :class:`~xmodal.training.estimators.FoldEstimator`;
        None: the network estimator (the standard training recipe with early stopping).
    min_modalities, max_modalities : int
        How many modalities the model takes (``max_modalities`` None: no limit).
    description : str
        One line shown in the model lists.
    """

    name: str
    builder: Builder | None = None
    estimator: Callable[[Any], Any] | None = None
    min_modalities: int = 1
    max_modalities: int | None = None
    description: str = ""

    @property
    def is_network(self) -> bool:
        """Whether the model is a network built by :attr:`builder` (predict, export apply)."""
        return self.builder is not None

    def check_modalities(self, modalities: Sequence[str]) -> None:
        """ConfigError unless the model takes this many modalities."""
        n, names = len(modalities), " ".join(modalities)
        if self.max_modalities == 1 and n != 1:
            raise ConfigError(
                f"model {self.name!r} takes exactly one modality, got {n}: {names}; use a "
                f"fusion model or pick one"
            )
        if n < self.min_modalities:
            hint = "; use --model single for one" if self.min_modalities == 2 else ""
            raise ConfigError(
                f"model {self.name!r} fuses modalities and needs at least "
                f"{'two' if self.min_modalities == 2 else self.min_modalities}, got {n} "
                f"({names}){hint}"
            )
        if self.max_modalities is not None and n > self.max_modalities:
            raise ConfigError(
                f"model {self.name!r} takes at most {self.max_modalities} modalities, got "
                f"{n}: {names}"
            )


class ModelRegistry:
    """Models by name, in registration order; the ``xmodal.models`` entry points are read when
    a name is not found (and by :meth:`names`)."""

    def __init__(self, entries: Iterable[ModelEntry] = (), group: str | None = None) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._group = group
        self._loaded: set[str] = set()  # entry points read already
        for entry in entries:
            self.add(entry)

    def add(self, entry: ModelEntry, replace: bool = False) -> None:
        """Add ``entry``; ValueError if its name is taken (unless ``replace``)."""
        if not isinstance(entry, ModelEntry):
            raise TypeError(f"expected a ModelEntry, got {type(entry).__name__}")
        if not entry.name or not isinstance(entry.name, str):
            raise ValueError(f"a model needs a name, got {entry.name!r}")
        if entry.builder is None and entry.estimator is None:
            raise ValueError(f"model {entry.name!r} needs a builder or an estimator")
        if entry.name in self._entries and not replace:
            raise ValueError(f"a model named {entry.name!r} is already registered")
        self._entries[entry.name] = entry

    def register(
        self,
        name: str,
        builder: Builder | None = None,
        *,
        estimator: Callable[[Any], Any] | None = None,
        min_modalities: int = 1,
        max_modalities: int | None = None,
        description: str = "",
        replace: bool = False,
    ) -> ModelEntry:
        """Register a model (see :class:`ModelEntry` for the arguments); return its entry."""
        entry = ModelEntry(name, builder, estimator, min_modalities, max_modalities, description)
        self.add(entry, replace)
        return entry

    def unregister(self, name: str) -> None:
        """Remove the model ``name`` (nothing if absent); an entry point of that name is read
        again when the name is next looked up."""
        self._entries.pop(name, None)
        self._loaded.discard(name)

    def _load_entry_points(self) -> None:
        if self._group is None:
            return
        for point in entry_points(group=self._group):
            if point.name in self._loaded or point.name in self._entries:
                continue
            self._loaded.add(point.name)
            try:
                obj = point.load()
            except Exception as exc:  # a broken plug-in names itself, it does not crash the CLI
                raise ConfigError(
                    f"model {point.name!r} (entry point {point.value} in {self._group}) "
                    f"cannot be loaded: {type(exc).__name__}: {exc}"
                ) from None
            if isinstance(obj, ModelEntry):
                self.add(dataclasses.replace(obj, name=point.name))
            elif callable(obj):
                self.register(point.name, obj)
            else:
                raise ConfigError(
                    f"model {point.name!r} (entry point {point.value} in {self._group}) is "
                    f"neither a builder nor a ModelEntry"
                )

    def names(self) -> tuple[str, ...]:
        """Registered names (entry points included), in registration order."""
        self._load_entry_points()
        return tuple(self._entries)

    def get(self, name: str) -> ModelEntry:
        """The model ``name``; a one-line ConfigError listing the valid names otherwise."""
        if not isinstance(name, str) or name not in self._entries:
            self._load_entry_points()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"unknown model {name!r}; valid: {', '.join(self._entries)}"
            ) from None


def stream_kwargs(config: ModelConfig) -> dict[str, Any]:
    """The per-stream settings of a resolved configuration, as the built-in networks take them
    (``widths``, ``kernels``, ``pool_size``, ``pool_stride``, ``convs_per_block``,
    ``batch_norm``, ``stem_stride``, ``dropout``, ``head_hidden``)."""
    return dict(
        widths=config.widths,
        kernels=config.kernels,
        pool_size=config.pool_size,
        pool_stride=config.pool_stride,
        convs_per_block=config.convs_per_block,
        batch_norm=config.batch_norm,
        stem_stride=config.stem_stride,
        dropout=config.dropout,
        head_hidden=config.head_hidden,
    )


def _connected(attention: bool) -> Builder:
    def build(cfg: ModelConfig, shapes, n_outputs: int):
        from xmodal.models.multimodal import CrossModalNet

        if not cfg.connections:
            raise ConfigError(
                f"model {cfg.name!r} needs at least one connection block "
                f"(connections is empty); use 'late-fusion' for none"
            )
        return CrossModalNet(
            shapes,
            n_outputs,
            connections=cfg.connections,
            direction=cfg.direction,
            attention=attention,
            gate=cfg.gate,
            aux_heads=cfg.aux_heads,
            experts=cfg.output == "experts",
            **stream_kwargs(cfg),
        )

    return build


def _late_fusion(cfg: ModelConfig, shapes, n_outputs: int):
    from xmodal.models.multimodal import CrossModalNet

    return CrossModalNet(
        shapes,
        n_outputs,
        connections=(),
        aux_heads=cfg.aux_heads,
        experts=cfg.output == "experts",
        **stream_kwargs(cfg),
    )


def _single(cfg: ModelConfig, shapes, n_outputs: int):
    from xmodal.models.multimodal import CrossModalNet

    return CrossModalNet(shapes, n_outputs, connections=(), **stream_kwargs(cfg))


def _early_fusion(cfg: ModelConfig, shapes, n_outputs: int):
    from xmodal.models.early_fusion import EarlyFusionNet

    return EarlyFusionNet(shapes, n_outputs, **stream_kwargs(cfg))


def _score_fusion(cfg: ModelConfig, shapes, n_outputs: int):
    from xmodal.models.score_fusion import ScoreFusionNet

    return ScoreFusionNet(shapes, n_outputs, **stream_kwargs(cfg))


def _features(config):
    from xmodal.models.features import FeaturesEstimator

    return FeaturesEstimator(features_model_of(config.model))


def builtin_registry() -> ModelRegistry:
    """A registry of the built-in models that also reads the ``xmodal.models`` entry points."""
    return ModelRegistry(
        (
            ModelEntry("attentive", _connected(True), None, 2, None, "attentive connections"),
            ModelEntry("cross", _connected(False), None, 2, None, "plain connections"),
            ModelEntry("late-fusion", _late_fusion, None, 2, None, "streams, no connections"),
            ModelEntry("early-fusion", _early_fusion, None, 2, None, "inputs stacked, one stream"),
            ModelEntry("score-fusion", _score_fusion, None, 2, None, "per-modality networks"),
            ModelEntry("single", _single, None, 1, 1, "one modality's stream"),
            ModelEntry(
                "features", None, _features, 1, None, "hand-crafted features + scikit-learn"
            ),
        ),
        group=ENTRY_POINT_GROUP,
    )


#: the registry the package uses (:func:`register_model` adds to it)
MODELS = builtin_registry()


def register_model(
    name: str,
    builder: Builder | None = None,
    *,
    estimator: Callable[[Any], Any] | None = None,
    min_modalities: int = 1,
    max_modalities: int | None = None,
    description: str = "",
    replace: bool = False,
) -> ModelEntry:
    """Make a model available as ``--model NAME`` and ``XModalClassifier(model=NAME)``.

    Parameters
    ----------
    name : str
        The model's name.
    builder : callable, optional
        ``builder(config, input_shapes, n_outputs) -> torch.nn.Module``: a network taking one
        tensor ``(batch, n_channels, n_times)`` per modality, in the order of
        ``input_shapes``, and returning logits ``(batch, n_outputs)``. ``config`` is the
        resolved :class:`~xmodal.config.ModelConfig` (see :func:`stream_kwargs`).
    estimator : callable, optional
        ``estimator(run_config) -> FoldEstimator`` for a model not trained by the network
        recipe (see :mod:`xmodal.training.estimators`); None: the network recipe.
    min_modalities, max_modalities : int
        How many modalities it takes.
    description : str
        One line for the model lists.
    replace : bool
        Replace a model of that name instead of raising ValueError.

    Returns
    -------
    ModelEntry
    """
    return MODELS.register(
        name,
        builder,
        estimator=estimator,
        min_modalities=min_modalities,
        max_modalities=max_modalities,
        description=description,
        replace=replace,
    )


def unregister_model(name: str) -> None:
    """Remove a registered model (nothing if absent)."""
    MODELS.unregister(name)


def get_model(name: str) -> ModelEntry:
    """The registered model ``name``; ConfigError ``unknown model ...; valid: ...`` otherwise."""
    return MODELS.get(name)


def model_names() -> tuple[str, ...]:
    """Names of the registered models."""
    return MODELS.names()


def features_blend_of(config: ModelConfig) -> str:
    """The features blend a model configuration trains with: ``auto`` is
    :data:`~xmodal.config.DEFAULT_BLEND` for a fusion network (a network of two or more
    modalities) and ``none`` for one stream or a model that is not a network."""
    if config.features_blend != "auto":
        return config.features_blend
    entry = get_model(config.name)
    return DEFAULT_BLEND if entry.is_network and entry.min_modalities >= 2 else "none"


def features_detrend_of(config: ModelConfig) -> str:
    """The removal of each person's trend from the features
    (:mod:`xmodal.training.person_trend`): ``auto`` and ``soft`` stay as they are (decided per
    fold) for the ``experts-mi`` blend and are ``none`` otherwise; ConfigError for ``person``
    without it."""
    blend = features_blend_of(config)
    if config.features_detrend in ("auto", "soft"):
        return config.features_detrend if blend == "experts-mi" else "none"
    if config.features_detrend == "person" and blend != "experts-mi":
        raise ConfigError(
            f"features_detrend {config.features_detrend!r} removes each person's trend from "
            f"the features of the experts-mi blend; model {config.name!r} trains with "
            f"features_blend {blend!r}"
        )
    return config.features_detrend


def person_refit_of(config: ModelConfig) -> str:
    """Whether a model configuration refits its experts on the scored person
    (:mod:`xmodal.training.person_refit`): ``auto`` is ``recording`` for a blend of
    :data:`~xmodal.config.PERSON_BLENDS` and ``none`` otherwise; ConfigError for ``recording``
    without such a blend."""
    blend = features_blend_of(config)
    if config.person_refit == "auto":
        return "recording" if blend in PERSON_BLENDS else "none"
    if config.person_refit == "recording" and blend not in PERSON_BLENDS:
        raise ConfigError(
            f"person_refit 'recording' refits the per-sensor experts of a person blend; model "
            f"{config.name!r} trains with features_blend {blend!r} "
            f"(it needs {' or '.join(PERSON_BLENDS)})"
        )
    return config.person_refit


def features_model_of(config: ModelConfig) -> str:
    """The classifier of the classical features a model configuration trains: ``auto`` is
    :data:`~xmodal.config.DEFAULT_HYBRID_FEATURES_MODEL` in a hybrid (a network blended with
    the features) and :data:`~xmodal.config.DEFAULT_FEATURES_MODEL` otherwise."""
    if config.features_model != "auto":
        return config.features_model
    if features_blend_of(config) != "none":
        return DEFAULT_HYBRID_FEATURES_MODEL
    return DEFAULT_FEATURES_MODEL


def build_model(config: ModelConfig, input_shapes: Mapping[str, Sequence[int]], n_outputs: int):
    """Network named by ``config.name`` for the given inputs.

    Parameters
    ----------
    config : ModelConfig
        Model settings; presets are resolved and validated here.
    input_shapes : mapping of str to (int, int)
        Ordered ``{modality: (n_channels, n_times)}``; the order is the input order.
    n_outputs : int
        Number of classes.

    Returns
    -------
    torch.nn.Module
        What the model's builder returns (for ``attentive``/``cross``/``late-fusion``/``single``
        a :class:`~xmodal.models.multimodal.CrossModalNet`, ``early-fusion`` an
        :class:`~xmodal.models.early_fusion.EarlyFusionNet`, ``score-fusion`` a
        :class:`~xmodal.models.score_fusion.ScoreFusionNet`); a
        :class:`~xmodal.models.ensemble.SeedEnsemble` of them with ``ensemble > 1``.

    Raises
    ------
    ConfigError
        Unknown or inconsistent settings; a model that is not a network; the wrong number of
        modalities for the model; ``attentive``/``cross`` without connection blocks.
    """
    from xmodal.models.base import validate_input_shapes, validate_n_outputs

    entry = get_model(config.name)
    cfg = config.resolved()
    shapes = validate_input_shapes(input_shapes)
    validate_n_outputs(n_outputs)
    if entry.builder is None:
        raise ConfigError(
            f"model {cfg.name!r} is not a network (it has its own estimator); it has no build_model"
        )
    entry.check_modalities(list(shapes))
    if cfg.ensemble > 1:
        from xmodal.models.ensemble import SeedEnsemble

        member = dataclasses.replace(cfg, ensemble=1)
        return SeedEnsemble([build_model(member, shapes, n_outputs) for _ in range(cfg.ensemble)])
    return entry.builder(cfg, shapes, n_outputs)

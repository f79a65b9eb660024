"""Run configuration as dataclasses; TOML files map onto them section by section.

Every setting is declared once, with :func:`setting`: its type, default, help, allowed range
or names, and option. The command line's options (:mod:`xmodal.cli`), the validation of what
TOML files, studies and options set (:func:`validate_values`) and the configuration reference
of the documentation are made from these declarations. The module is long because it holds
all of them, and the vocabularies (presets, modes) they allow, in one place.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from xmodal.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: which streams feed which through the connections (see
#: :func:`xmodal.models.multimodal.connection_pairs`)
DIRECTIONS = ("both", "a2b", "b2a")

#: the attention gate of a connection (see :class:`xmodal.models.connections.CrossModalConnection`)
GATES = ("sigmoid", "softmax")

#: scikit-learn estimators of the classical ``features`` model (Schmidt et al. 2018); ``auto``
#: is DEFAULT_FEATURES_MODEL for the ``features`` model and DEFAULT_HYBRID_FEATURES_MODEL for a
#: hybrid's features half (see xmodal.models.registry.features_model_of)
FEATURES_MODELS = ("rf", "lda", "adaboost")
DEFAULT_FEATURES_MODEL = "rf"
DEFAULT_HYBRID_FEATURES_MODEL = "lda"
#: features classifiers a hybrid saves as arrays (xmodal.models.features_arrays)
SAVABLE_FEATURES_MODELS = ("rf", "lda")
#: a network's hybrid with the features classifier: auto (DEFAULT_BLEND for a fusion network,
#: none for one stream and for non-networks), none, equal weights, the weight best on the
#: inner validation subjects, or the network and one features classifier per sensor mixed per
#: person by mutual information or by a gate learned on the fold's people (see
#: xmodal.training.features_blend)
FEATURES_BLENDS = ("auto", "none", "equal", "val", "experts-mi", "experts-gate")
#: the blends that make a network a hybrid
HYBRID_BLENDS = ("equal", "val", "experts-mi", "experts-gate")
#: the hybrid blends that weigh per-sensor experts per person on the person's recording
PERSON_BLENDS = ("experts-mi", "experts-gate")
DEFAULT_BLEND = "experts-mi"
#: a person blend's per-sensor classifiers refitted on the scored person's recording, with the
#: blend's labels as teacher (see xmodal.training.person_refit): auto (recording for a person
#: blend, none otherwise), none, recording
PERSON_REFITS = ("auto", "none", "recording")
#: each person's linear trend over the session removed from the features of an experts-mi blend
#: (see xmodal.training.person_trend): auto (for experts-mi: where the fold's training people
#: gain from it; none otherwise), none, person (always)
FEATURES_DETRENDS = ("auto", "none", "person", "soft")
#: how a hybrid's network enters its experts-* blend (``--network-experts``)
NETWORK_EXPERTS = ("fused", "streams")
#: seconds over which an experts-* blend averages each expert's probabilities before their
#: mutual information weighs the experts (see xmodal.training.features_blend.mixture_weights):
#: about a minute, shorter than any state of a session and as long as the features' window
EXPERTS_SMOOTHING = 60.0
#: which sensors a hybrid's features read: the network's, plus the TEMP and ACC of the same
#: device (placement) that the dataset offers (device), or the network's only (same)
FEATURES_SENSORS = ("device", "same")

#: window length (s) of the ``features`` model unless one is given: Schmidt et al.'s 60 s, long
#: enough for heart-rate variability and skin-conductance responses
FEATURES_WINDOW = 60.0

#: stream presets: conv widths, kernel sizes (at the rate reaching the block), max-pool size and
#: stride, and the stride of a strided stem before the blocks (1: none; long streams only)
PRESETS: dict[str, dict[str, Any]] = {
    # the default: compact's widths behind a stride-8 stem (a 256-Hz ECG stream runs its
    # blocks at 32 steps/s; 64-Hz BVP gets stride 4, see blocks.adapt_stem) with kernels of 8,
    # ~6x fewer FLOPs than compact
    "efficient": {
        "widths": (16, 32, 64),
        "kernels": (8, 8, 8),
        "pool_size": 8,
        "pool_stride": 4,
        "stem_stride": 8,
    },
    "compact": {
        "widths": (16, 32, 64),
        "kernels": (16, 8, 8),
        "pool_size": 8,
        "pool_stride": 4,
        "stem_stride": 1,
    },
    # the paper's stream (after Sarkar & Etemad): 32/64/128 filters, kernels 32/16/8
    "paper": {
        "widths": (32, 64, 128),
        "kernels": (32, 16, 8),
        "pool_size": 8,
        "pool_stride": 2,
        "stem_stride": 1,
    },
    # narrower, short kernels, same stem as efficient: the cheapest preset
    "fast": {
        "widths": (8, 16, 32),
        "kernels": (8, 8, 8),
        "pool_size": 8,
        "pool_stride": 4,
        "stem_stride": 4,
    },
}
DEFAULT_PRESET = "efficient"

#: how a model with per-stream heads forms its output: ``fused`` head only; ``mean`` of all
#: heads' probabilities; ``val`` the mix of heads best on the inner validation subjects;
#: ``blend`` the final gradient-blending loss weights
OUTPUT_MODES = ("fused", "mean", "val", "blend", "experts")

#: where training's z-score statistics come from (see :mod:`xmodal.signals.preprocessor`): each
#: subject's whole recording, a calibration part of it, or causal running statistics
NORMALIZE_MODES = ("recording", "calibration", "running")
#: how the per-window path (prediction, streams, the ``running`` mode) z-scores a window (see
#: :mod:`xmodal.signals.normalize`): the recording's statistics, running ones, the window's own
#: or statistics given by the caller
WINDOW_POLICIES = ("recording", "running", "window", "fixed")
#: what prediction accepts: training's modes and the per-window policies
PREDICT_NORMALIZATIONS = NORMALIZE_MODES + tuple(
    p for p in WINDOW_POLICIES if p not in NORMALIZE_MODES
)
#: test-time adaptation to the test subject from its unlabelled windows (see
#: :mod:`xmodal.training.adaptation`)
ADAPT_MODES = (
    "none",
    "adabn",
    "adabn-causal",
    "experts-mi",
    "experts-mi-causal",
    "adabn-experts-mi",
)

#: evaluation protocols (see :mod:`xmodal.training.splits`)
PROTOCOLS = ("loso", "kfold", "holdout", "kfold-windows")

#: numeric precision of training (see xmodal.training.precision): ``auto`` (bf16 where the
#: hardware computes it, else fp32 on CPU and fp16 on CUDA), ``fp32``, ``bf16``, ``fp16`` (CUDA)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


#: the highest target rate (Hz) accepted in ``[data] rates`` / ``--rates``
MAX_RATE = 10_000.0

#: the ``source`` under which the command line's options are applied: errors then name the
#: option (``--lr``) instead of the TOML key (``[training] lr``)
COMMAND_LINE = "command line"

#: the forms ``[training] device`` takes
DEVICES = "cpu, cuda, cuda:N (N: a GPU index), auto"
_DEVICE = re.compile(r"cpu|auto|cuda(:\d+)?")


class ValueRange(NamedTuple):
    """The allowed values of one numeric setting.

    Attributes
    ----------
    kind : str
        ``"int"``, ``"float"``, ``"ints"`` (every element of a tuple) or ``"rates"`` (every
        value of a dict).
    lower, upper : float or None
        Bounds; None: unbounded on that side. Floats must be finite in any case.
    inclusive : tuple of bool
        Whether ``lower`` and ``upper`` themselves are allowed.
    """

    kind: str
    lower: float | None = None
    upper: float | None = None
    inclusive: tuple[bool, bool] = (True, True)

    def allows(self, value: Any) -> bool:
        """Whether one number (an element, for ``ints`` and ``rates``) is in range."""
        integral = self.kind in ("int", "ints")
        if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        if self.lower is not None and (
            value < self.lower or (value == self.lower and not self.inclusive[0])
        ):
            return False
        return (
            self.upper is None or value < self.upper or (value == self.upper and self.inclusive[1])
        )

    def describe(self) -> str:
        """E.g. ``"an integer >= 1"``, ``"a number in [0, 1)"``, ``"integers >= 1"``."""

        def num(x: float) -> str:
            return str(int(x)) if float(x).is_integer() else f"{x:g}"

        noun = {"int": "an integer", "ints": "integers"}.get(self.kind, "a finite number")
        low, high = self.inclusive
        if self.lower is not None and self.upper is not None:
            noun = {"int": "an integer", "ints": "integers"}.get(self.kind, "a number")
            return (
                f"{noun} in {'[' if low else '('}{num(self.lower)}, {num(self.upper)}"
                f"{']' if high else ')'}"
            )
        if self.lower is not None:
            return f"{noun} {'>=' if low else '>'} {num(self.lower)}"
        if self.upper is not None:
            return f"{noun} {'<=' if high else '<'} {num(self.upper)}"
        return noun


def _above(lower: float, kind: str = "float", inclusive: bool = True) -> ValueRange:
    """A range bounded below only."""
    return ValueRange(kind, lower, None, (inclusive, True))


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    check: ValueRange | tuple[str, ...] | None = None,
    flag: str = "",
    metavar: str = "",
    group: str = "",
) -> Any:
    """A configuration field and its schema, declared once.

    The command line's options (:mod:`xmodal.cli`), the validation of every value a TOML file,
    a study or the command line sets (:func:`validate_values`) and the configuration reference
    of the documentation are made from it.

    Parameters
    ----------
    default, factory
        The default value, or a function that makes it (mutable defaults).
    help : str
        What the setting does: the option's help and the reference's meaning. The default is
        appended to the option's help unless the text states its own (one that depends on the
        data, the model or the preset).
    check : ValueRange or tuple of str, optional
        The allowed range of a number, or the allowed names.
    flag : str
        The option, where it is not ``--`` and the key with dashes; ``"-"``: none (a setting
        given otherwise, such as the data folder).
    metavar : str
        The option's placeholder in the help (default: the allowed names, else the key).
    group : str
        The help section of the option, where it is not the configuration section's.
    """
    ranged = isinstance(check, ValueRange)
    metadata = {
        "help": help,
        "range": check if ranged else None,
        "choices": () if ranged or check is None else tuple(check),
        "flag": flag,
        "metavar": metavar,
        "group": group,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


#: the help section of the fusion recipe's options
RECIPE = "fusion recipe (fusion models)"


@dataclass
class DataConfig:
    """Where the data is and how windows are made."""

    path: str = setting("", "dataset folder (the DATA argument of the command)", flag="-")
    dataset: str = setting(
        "wesad",
        "dataset adapter: wesad | drivedb | csv | e4 or a registered one (default: the one "
        "that recognises the data folder, else wesad)",
    )
    modalities: tuple[str, ...] = setting(
        ("chest.ECG", "chest.EDA"),
        "e.g. chest.ECG chest.EDA (wesad default); drivedb: ecg hand_gsr (default); csv: the "
        "[signals] of dataset.toml (default: all)",
        metavar="M",
    )
    subjects: tuple[str, ...] = setting((), "only these subjects (default: all found)", metavar="S")
    task: str = setting(
        "3class",
        "wesad: binary | 3class (default) | 4class; drivedb: drive3 (default) | drive2; csv: "
        "from dataset.toml",
    )
    window: float = setting(
        10.0,
        "window length in seconds (default 10; 60 for --model features)",
        check=_above(0, inclusive=False),
    )
    stride: float = setting(
        10.0, "stride of evaluation windows in seconds", check=_above(0, inclusive=False)
    )
    train_stride: float = setting(
        5.0,
        "stride of training windows in seconds (overlap augments)",
        check=_above(0, inclusive=False),
    )
    rates: dict[str, float] = setting(
        help="target rates in Hz of chosen modalities, e.g. wrist.BVP=32 (default: each "
        "modality's rate in the dataset adapter)",
        factory=dict,
        check=ValueRange("rates", 0, MAX_RATE, (False, True)),
        metavar="M=HZ",
    )
    max_gap: float = setting(
        1.0, "longest NaN gap in seconds that is interpolated", check=_above(0)
    )
    cache_dir: str = setting("", "window cache folder (default $XMODAL_CACHE or ~/.cache/xmodal)")
    use_cache: bool = setting(
        True,
        "use the window cache (--cache-dir)",
        flag="--no-cache",
    )
    labels: str = setting(
        "",
        "segments CSV (drivedb, csv; default: the one found beside the data)",
        metavar="FILE",
    )
    normalize: str = setting(
        "recording",
        "z-score statistics of each subject: its whole recording, a calibration part of "
        "it, or causal running statistics (as a stream)",
        check=NORMALIZE_MODES,
    )
    calibration_minutes: float = setting(
        5.0,
        "--normalize calibration: minutes of the calibration part",
        check=_above(0, inclusive=False),
        metavar="MIN",
    )
    calibration_label: str = setting(
        "",
        "--normalize calibration: calibrate on the first minutes of this label's segment "
        "(e.g. baseline; windows overlapping it are then neither trained on nor scored) "
        "instead of the recording start",
        metavar="LABEL",
    )
    adapt: str = setting(
        "adabn",
        "test-time adaptation to each test subject from its unlabelled windows: none; adabn: "
        "BatchNorm statistics of its recording; experts-mi: the fused model and each stream "
        "alone weighted per person by how much their predictions vary (mutual information); "
        "-causal: from its first --adapt-minutes only, then frozen",
        check=ADAPT_MODES,
    )
    adapt_minutes: float = setting(
        5.0,
        "--adapt ...-causal: minutes from the recording start",
        check=_above(0, inclusive=False),
        metavar="MIN",
    )


@dataclass
class ModelConfig:
    """Which network and its hyper-parameters (see the Models page of the documentation)."""

    name: str = setting(
        "late-fusion",
        "a registered model: a built-in one (see the Models page) or one a package adds; an "
        "unknown name lists the registered ones",
        flag="--model",
    )
    preset: str = setting(DEFAULT_PRESET, "stream size", check=tuple(PRESETS))
    widths: tuple[int, ...] = setting(
        (),
        "channels of each stream block (default from the preset)",
        check=_above(1, "ints"),
        metavar="16,32,64",
    )
    kernels: tuple[int, ...] = setting(
        (),
        "kernel length of each stream block (default from the preset)",
        check=_above(1, "ints"),
        metavar="8,8,8",
    )
    pool_size: int = setting(
        0, "pooling window (default from the preset)", check=_above(0, "int"), metavar="N"
    )
    pool_stride: int = setting(
        0, "pooling stride (default from the preset)", check=_above(0, "int"), metavar="N"
    )
    stem_stride: int = setting(
        0,
        "stride of the strided stem of long streams (default from the preset; 1: none)",
        check=_above(0, "int"),
        metavar="S",
    )
    convs_per_block: int = setting(
        2, "convolutions per stream block", check=_above(1, "int"), metavar="N"
    )
    batch_norm: bool = setting(True, "BatchNorm after each convolution")
    dropout: float = setting(
        0.3,
        "dropout before the classifier's last layer",
        check=ValueRange("float", 0, 1, (True, False)),
    )
    connections: tuple[int, ...] = setting(
        (1, 2, 3),
        "blocks after which streams connect ('' for none)",
        check=_above(1, "ints"),
        metavar="1,2,3",
    )
    direction: str = setting(
        "both", "which streams feed which (a = first modality)", check=DIRECTIONS
    )
    gate: str = setting("sigmoid", "attention gate of the connections", check=GATES)
    head_hidden: int = setting(
        64, "width of the classifier's hidden layer", check=_above(1, "int"), metavar="N"
    )
    features_model: str = setting(
        "auto",
        "classifier of the classical features: rf | lda | adaboost for the 'features' model, "
        "rf | lda for the hybrid (--features-blend); auto (default): rf for the 'features' "
        "model, lda (shrinkage) for the hybrid",
        check=("auto", *FEATURES_MODELS),
    )
    features_blend: str = setting(
        "auto",
        "the hybrid: the network's probabilities mixed with those of the features classifier "
        "of the same fold: equal weights, the weight best on the inner validation subjects "
        "(val), or one features classifier per sensor beside the network, weighted per person "
        "by the mutual information of each one's predictions over the person's unlabelled "
        "windows (experts-mi), or the same experts with the sensors' share split by a gate "
        "learned on the fold's training people from how each expert behaves on a recording "
        "(experts-gate); auto (default): experts-mi for fusion networks, none for single "
        "and features",
        check=FEATURES_BLENDS,
    )
    person_refit: str = setting(
        "auto",
        "with an experts-* blend: refit each sensor's features classifier on the scored "
        "person's unlabelled recording, the blend's most probable class of each window as "
        "label, and mix the refits (weighted by how well each reproduces those labels on "
        "windows it was not fitted on) into the person's probabilities (recording); none: "
        "the blend as it is; auto (default): recording for experts-mi and experts-gate",
        check=PERSON_REFITS,
    )
    features_detrend: str = setting(
        "soft",
        "with the experts-mi blend: remove each person's linear trend over the recording from "
        "every feature, fitted on the person's own windows, before the experts read them "
        "(person); auto: only in the folds whose training people, each held out in turn, gain "
        "from it by more than twice its standard error; soft (default): the experts with and "
        "without the trends both read the person, their probabilities mixed with a share that "
        "grows from 0 to 1 as that gain goes from one to three standard errors (auto and soft: "
        "never for other blends); none: the features as they are",
        check=FEATURES_DETRENDS,
    )
    experts_smoothing: float = setting(
        EXPERTS_SMOOTHING,
        "with an experts-* blend: seconds over which each expert's probabilities are averaged "
        "around every window before their mutual information over the person's recording "
        "weighs the experts, so that what changes from one window to the next does not count "
        "as information (0: window by window)",
        check=_above(0),
        metavar="S",
    )
    experts_disagreement: float = setting(
        0.0,
        "with an experts-* blend of three or more experts: an expert whose probabilities "
        "(averaged as for the weights) correlate with the other experts' by r < 0 on average "
        "over the person's recording keeps 1 + r/R of its weight, none at r <= -R, so that a "
        "sensor that reads the person's states the wrong way round is not trusted for being "
        "confident (0: off)",
        check=_above(0),
        metavar="R",
    )
    network_experts: str = setting(
        "fused",
        "with an experts-* blend: the network enters the mix as one expert (fused) or as its "
        "fused output and each stream alone, the others withheld, each an expert weighed like "
        "the features' (streams; a fusion network of two or more streams)",
        check=NETWORK_EXPERTS,
    )
    features_sensors: str = setting(
        "device",
        "the sensors the hybrid's features read: the network's plus the wrist's TEMP and ACC "
        "(device) or the network's only (same)",
        check=FEATURES_SENSORS,
    )
    network_modalities: tuple[str, ...] = setting(
        (),
        "with --features-blend: the modalities the network reads (default all); the features "
        "read every modality of --modalities",
        metavar="M",
    )
    features_window: float = setting(
        FEATURES_WINDOW,
        "with --features-blend: seconds of signal, ending where each window ends, the "
        "features describe",
        check=_above(0, inclusive=False),
        metavar="S",
    )
    aux_heads: bool = setting(
        False, "a linear head per stream, trained with its own loss", group=RECIPE
    )
    output: str = setting(
        "fused",
        "prediction of a model with per-stream heads: the fused head, the mean of all heads, "
        "the mix best on inner validation, or the blending weights; experts (no heads): the "
        "fused model and each stream alone, mixed per window by a gate fitted on inner "
        "validation",
        check=OUTPUT_MODES,
        group=RECIPE,
    )
    ensemble: int = setting(
        3,
        "train K networks with different seeds and average them",
        check=_above(1, "int"),
        metavar="K",
        group=RECIPE,
    )

    def network_inputs(self, modalities: Sequence[str]) -> list[str]:
        """The modalities the network reads, of a run's ``modalities``: ``network_modalities``
        where set (a hybrid whose features read more sensors), else all of them."""
        return list(self.network_modalities or modalities)

    def resolved(self) -> ModelConfig:
        """Return a copy with preset values filled in and everything validated (the model's
        name is looked up in the model registry, :mod:`xmodal.models.registry`)."""
        for item in fields(self):
            allowed, value = item.metadata["choices"], getattr(self, item.name)
            if allowed and value not in allowed:
                raise ConfigError(
                    f"unknown {item.name.replace('_', ' ')} {value!r}; valid: {', '.join(allowed)}"
                )
        preset = PRESETS[self.preset]
        out = dataclasses.replace(
            self,
            widths=tuple(self.widths) or preset["widths"],
            kernels=tuple(self.kernels) or preset["kernels"],
            pool_size=self.pool_size or preset["pool_size"],
            pool_stride=self.pool_stride or preset["pool_stride"],
            stem_stride=self.stem_stride or preset["stem_stride"],
        )
        if out.stem_stride < 1:
            raise ConfigError(f"stem_stride must be at least 1 (1: no stem), got {out.stem_stride}")
        if len(out.widths) != len(out.kernels):
            raise ConfigError(f"widths {out.widths} and kernels {out.kernels} differ in length")
        bad = [k for k in out.connections if not 1 <= k <= len(out.widths)]
        if bad:
            raise ConfigError(
                f"connection after block {bad[0]} but the streams have "
                f"{len(out.widths)} blocks (valid: 1..{len(out.widths)})"
            )
        if out.output == "experts" and out.aux_heads:
            raise ConfigError(
                "output 'experts' mixes the fused model and each stream alone; it replaces "
                "the per-stream heads (drop --aux-heads)"
            )
        if out.output not in ("fused", "experts") and not out.aux_heads:
            raise ConfigError(
                f"output {out.output!r} mixes the per-stream heads: it needs "
                f"aux_heads (--aux-heads)"
            )
        if out.ensemble < 1:
            raise ConfigError(f"ensemble must be at least 1, got {out.ensemble}")
        if out.features_blend in HYBRID_BLENDS and out.features_model not in (
            "auto",
            *SAVABLE_FEATURES_MODELS,
        ):
            raise ConfigError(
                f"features_blend saves its features classifier as arrays, which works for "
                f"{' and '.join(SAVABLE_FEATURES_MODELS)}, not {out.features_model!r}"
            )
        if out.network_modalities and out.features_blend not in HYBRID_BLENDS:
            raise ConfigError(
                "network_modalities names the network's share of the modalities; the rest "
                f"feed the features of a hybrid, so it needs features_blend "
                f"{' or '.join(HYBRID_BLENDS)}"
            )
        return out


@dataclass
class TrainConfig:
    """Optimisation, early stopping and reproducibility."""

    epochs: int = setting(20, "maximum epochs", check=_above(1, "int"))
    epoch_fraction: float = setting(
        0.5,
        "share of the training windows drawn at random per epoch",
        check=ValueRange("float", 0, 1, (False, True)),
        metavar="F",
    )
    batch_size: int = setting(
        64,
        "training windows per batch",
        check=_above(2, "int"),  # batch norm needs two
    )
    lr: float = setting(1e-3, "learning rate (AdamW)", check=_above(0, inclusive=False))
    weight_decay: float = setting(1e-2, "weight decay (AdamW)", check=_above(0), metavar="WD")
    patience: int = setting(
        5, "early-stopping patience: epochs without validation improvement", check=_above(0, "int")
    )
    min_epochs: int = setting(
        4, "warm-up epochs, never selected nor stopped in", check=_above(0, "int")
    )
    val_subjects: int = setting(2, "inner validation subjects per fold", check=_above(0, "int"))
    seed: int = setting(
        0,
        "seed of splits, initialisation and sampling; the same seed gives the same results",
        check=ValueRange("int", 0, 2**32 - 1),  # numpy and scikit-learn seeds
    )
    device: str = setting("cpu", "cpu | cuda | cuda:N | auto")
    threads: int = setting(
        0,
        "torch threads per training process: 0 torch's own (reproducible), N, or -1 as many "
        "as idle CPUs",
        check=_above(-1, "int"),
        metavar="N",
    )
    amp: bool = setting(True, "--precision auto may use bf16 or fp16 (--no-amp: auto means fp32)")
    precision: str = setting(
        "auto",
        "auto: bf16 where the CPU or GPU computes it, else fp32 on CPU and fp16 on CUDA; fp16 "
        "on CUDA only",
        check=PRECISIONS,
    )
    # the fusion recipe (each an option; see xmodal.training.recipe)
    aux_weight: float = setting(
        0.0,
        "weight of each per-stream head's loss (with --aux-heads)",
        check=_above(0),
        metavar="W",
        group=RECIPE,
    )
    gblend: bool = setting(
        False,
        "weight the heads' losses by how they generalise on the inner validation subjects "
        "(gradient blending)",
        group=RECIPE,
    )
    aux_detach: bool = setting(
        False,
        "per-stream heads learn from the streams' features without training the streams "
        "(they only serve --output)",
        group=RECIPE,
    )
    modality_dropout: float = setting(
        0.3,
        "share of training windows that lose one random stream",
        check=ValueRange("float", 0, 1, (True, False)),
        metavar="P",
        group=RECIPE,
    )
    ogm_alpha: float = setting(
        0.0,
        "OGM-GE gradient modulation of the dominant stream (0: off)",
        check=_above(0),
        metavar="A",
        group=RECIPE,
    )
    augment: float = setting(
        1.0,
        "strength of physiological augmentation of training windows (0: off)",
        check=ValueRange("float", 0, 5),
        metavar="S",
        group=RECIPE,
    )
    warm_start: bool = setting(
        False, "train each stream alone first, then fine-tune the fused model", group=RECIPE
    )
    warm_lr_factor: float = setting(
        0.3,
        "learning-rate factor of warm-started streams",
        check=_above(0, inclusive=False),
        metavar="F",
        group=RECIPE,
    )
    swa: bool = setting(False, "average the weights of the epochs after the warm-up", group=RECIPE)
    pretrain_epochs: int = setting(
        0,
        "contrastive pretraining of the streams on the unlabelled time of each fold's "
        "training subjects, N epochs (0: off)",
        check=_above(0, "int"),
        metavar="N",
        group=RECIPE,
    )
    transductive: bool = setting(
        False,
        "pretraining also reads the test subject's unlabelled signal (recorded as "
        "transductive in the results)",
        group=RECIPE,
    )
    init: str = setting(
        "",
        "start the streams from the encoders of 'xmodal pretrain --out DIR'",
        metavar="DIR",
        group=RECIPE,
    )
    stack_members: bool = setting(
        True,
        "train the ensemble's members together as one stacked network (in fp32 the same "
        "results as one after another; --no-stack-members: one after another)",
        group=RECIPE,
    )


@dataclass
class EvalConfig:
    """The evaluation protocol."""

    protocol: str = setting(
        "loso",
        "loso (leave-one-record-out for drivedb) | kfold | holdout (with --test) | "
        "kfold-windows (window-level, subjects mixed: subject-dependent, for comparison only)",
        check=PROTOCOLS,
    )
    folds: int = setting(5, "number of folds for kfold and kfold-windows", check=_above(2, "int"))
    test_subjects: tuple[str, ...] = setting(
        (), "test subjects (records) of --protocol holdout", flag="--test", metavar="SUBJECT"
    )


@dataclass
class RunConfig:
    """Everything needed to rerun an experiment; saved as RUN/config.toml."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists), suitable for TOML and JSON."""

        def clean(value: Any) -> Any:
            if isinstance(value, tuple):
                return [clean(v) for v in value]
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            return value

        return {
            sec.name: {
                f.name: clean(getattr(getattr(self, sec.name), f.name))
                for f in fields(getattr(self, sec.name))
            }
            for sec in fields(self)
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> RunConfig:
        """Build from nested dicts; unknown sections or keys raise a ConfigError."""
        config = cls()
        return config.updated(raw, source)

    def updated(self, raw: dict[str, Any], source: str = "config") -> RunConfig:
        """Return a copy with the values in ``raw`` (nested by section) applied.

        The values set are checked by :func:`validate_values`; an out-of-range one is a
        ConfigError naming ``source`` and the key (the option, for :data:`COMMAND_LINE`).
        """
        sections = {f.name: f for f in fields(self)}
        new = dataclasses.replace(self)
        checked: list[tuple[str, str]] = []
        for sec_name, values in raw.items():
            if sec_name not in sections:
                raise ConfigError(
                    f"{source}: unknown section [{sec_name}]; valid: {', '.join(sections)}"
                )
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: [{sec_name}] must be a table")
            section = getattr(new, sec_name)
            known = {f.name: f for f in fields(section)}
            changes = {}
            for key, value in values.items():
                if key not in known:
                    raise ConfigError(
                        f"{source}: unknown key {key!r} in [{sec_name}]; valid: {', '.join(known)}"
                    )
                changes[key] = _coerce(
                    value, getattr(section, key), f"{source}: [{sec_name}] {key}"
                )
            setattr(new, sec_name, dataclasses.replace(section, **changes))
            checked.extend((sec_name, key) for key in changes)
        validate_values(new, source, checked)
        return new


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Convert a TOML/CLI value to the type of the field's default; raise ConfigError if impossible."""
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, tuple):
            if isinstance(value, (str, int, float)):
                value = [value]
            return tuple(type(default[0])(v) if default else v for v in value)
        if isinstance(default, dict):
            return {str(k): float(v) for k, v in dict(value).items()}
        if isinstance(default, (int, float, str)):
            if isinstance(default, (int, float)) and isinstance(value, bool):
                raise TypeError
            if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
                raise TypeError
            return type(default)(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"{where}: cannot use {value!r} (expected {type(default).__name__})"
        ) from None
    return value


def read_toml(path: str | Path, missing: str = "config file not found") -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file is a one-line ConfigError."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {missing}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


#: how runs behaved before the fusion-recipe settings existed: a run folder's config.toml that
#: lacks one of them was written by such a version and is read with these values, not with
#: today's defaults, so its checkpoints still build the architecture they were trained with
LEGACY_VALUES: dict[str, dict[str, Any]] = {
    "data": {"normalize": "recording", "adapt": "none"},
    "model": {
        "aux_heads": False,
        "output": "fused",
        "ensemble": 1,
        "features_blend": "none",
        "features_model": DEFAULT_FEATURES_MODEL,
    },
    "training": {
        "aux_weight": 0.0,
        "aux_detach": False,
        "gblend": False,
        "modality_dropout": 0.0,
        "ogm_alpha": 0.0,
        "augment": 0.0,
        "warm_start": False,
        "swa": False,
        "pretrain_epochs": 0,
        "precision": "fp32",
    },
}


def load_run_config(path: str | Path) -> RunConfig:
    """Read a run folder's saved ``config.toml``; keys it lacks take :data:`LEGACY_VALUES`."""
    raw = read_toml(path)
    for section, values in LEGACY_VALUES.items():
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            for key, value in values.items():
                table.setdefault(key, value)
    return RunConfig.from_dict(raw, source=str(path))


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML file into a RunConfig; unknown keys are an error."""
    return RunConfig.from_dict(read_toml(path), source=str(path))


def _declared(kind: str) -> dict[tuple[str, str], Any]:
    """The ``range`` or the ``choices`` of every setting that declares one (:func:`setting`)."""
    return {
        (section.name, item.name): item.metadata[kind]
        for section in fields(RunConfig)
        for item in fields(section.default_factory())
        if item.metadata.get(kind)
    }


#: the range of every numeric setting (declared with it), checked by :func:`validate_values`
#: whenever a TOML file, a study or the command line sets it (keys this version lacks are
#: skipped)
VALUE_RANGES: dict[tuple[str, str], ValueRange] = _declared("range")
#: the allowed values of every setting that takes one of a few names, checked like
#: :data:`VALUE_RANGES`
VALUE_CHOICES: dict[tuple[str, str], tuple[str, ...]] = _declared("choices")


def check_device(name: str, where: str = "device") -> str:
    """Return ``name`` if it is one of cpu, cuda, cuda:N, auto; else raise ConfigError."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ConfigError(f"{where}: unknown device {name!r}; valid: {DEVICES}")
    return name


def validate_values(
    config: RunConfig, source: str = "config", keys: Sequence[tuple[str, str]] | None = None
) -> None:
    """Check settings against :data:`VALUE_RANGES`, :data:`VALUE_CHOICES` and the device's form.

    Parameters
    ----------
    config : RunConfig
        The configuration to check.
    source : str
        Where the values come from (a file, :data:`COMMAND_LINE`, a study); starts the message.
    keys : sequence of (section, key), optional
        Only these settings (those just set); default: every one.

    Raises
    ------
    ConfigError
        The first value out of range; the message names the option (command line) or
        ``[section] key`` (files), the allowed range and the value.
    """
    wanted = (
        list(VALUE_RANGES) + list(VALUE_CHOICES) + [("training", "device")]
        if keys is None
        else list(keys)
    )
    for section, key in wanted:
        part = getattr(config, section, None)
        if part is None or not hasattr(part, key):
            continue
        value = getattr(part, key)
        label = (
            f"{source}: --{key.replace('_', '-')}"
            if source == COMMAND_LINE
            else f"{source}: [{section}] {key}"
        )
        if (section, key) == ("training", "device"):
            check_device(value, label)
            continue
        if (section, key) in VALUE_CHOICES:
            if value not in VALUE_CHOICES[section, key]:
                raise ConfigError(
                    f"{label}: unknown value {value!r}; valid: "
                    f"{', '.join(VALUE_CHOICES[section, key])}"
                )
            continue
        allowed = VALUE_RANGES.get((section, key))
        if allowed is None:
            continue
        if allowed.kind == "rates":
            for name, rate in dict(value).items():
                if not allowed.allows(rate):
                    raise ConfigError(
                        f"{label} {name} must be {allowed.describe()} Hz, got {rate!r}"
                    )
        elif allowed.kind == "ints":
            bad = [v for v in value if not allowed.allows(v)]
            if bad:
                raise ConfigError(
                    f"{label} must be {allowed.describe()}, got {bad[0]!r} in {list(value)}"
                )
        elif not allowed.allows(value):
            raise ConfigError(f"{label} must be {allowed.describe()}, got {value!r}")

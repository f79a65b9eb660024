"""Run configuration as dataclasses; TOML files map onto them section by section."""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Sequence
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
#: person by mutual information (see xmodal.training.features_blend)
FEATURES_BLENDS = ("auto", "none", "equal", "val", "experts-mi")
#: the blends that make a network a hybrid
HYBRID_BLENDS = ("equal", "val", "experts-mi")
DEFAULT_BLEND = "experts-mi"
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


@dataclass
class DataConfig:
    """Where the data is and how windows are made."""

    path: str = ""
    dataset: str = "wesad"
    modalities: tuple[str, ...] = ("chest.ECG", "chest.EDA")
    subjects: tuple[str, ...] = ()  # empty: every subject found
    task: str = "3class"
    window: float = 10.0  # seconds
    stride: float = 10.0  # seconds, evaluation windows
    train_stride: float = 5.0  # seconds, training windows (overlap augments)
    rates: dict[str, float] = field(default_factory=dict)  # per-modality target-rate overrides
    max_gap: float = 1.0  # seconds of NaN/inf repaired by interpolation
    cache_dir: str = ""  # empty: $XMODAL_CACHE or ~/.cache/xmodal
    use_cache: bool = True
    labels: str = ""  # segments CSV (drivedb, csv); empty: found beside the data
    normalize: str = "recording"  # recording | calibration | running (NORMALIZE_MODES)
    calibration_minutes: float = 5.0  # length of the calibration part (calibration)
    calibration_label: str = ""  # calibrate on this label's first segment; empty: start
    adapt: str = "adabn"  # none | adabn | experts-mi [-causal] (ADAPT_MODES): test-time adaptation
    adapt_minutes: float = 5.0  # adabn-causal: adaptation period from the recording start


@dataclass
class ModelConfig:
    """Which network and its hyper-parameters (see the Models page of the documentation)."""

    name: str = "attentive"  # a registered model (xmodal.models.registry)
    preset: str = DEFAULT_PRESET
    widths: tuple[int, ...] = ()  # empty: from preset
    kernels: tuple[int, ...] = ()  # empty: from preset
    pool_size: int = 0  # 0: from preset
    pool_stride: int = 0  # 0: from preset
    stem_stride: int = 0  # 0: from preset; 1: no stem
    convs_per_block: int = 2
    batch_norm: bool = True
    dropout: float = 0.3
    connections: tuple[int, ...] = (1, 2, 3)  # blocks after which streams connect (1-based)
    direction: str = "both"  # both | a2b | b2a (DIRECTIONS)
    gate: str = "sigmoid"  # sigmoid | softmax over channels (GATES)
    head_hidden: int = 64
    features_model: str = "auto"  # auto | rf | lda | adaboost (features model and hybrid)
    features_blend: str = "auto"  # auto | none | equal | val | experts-mi (FEATURES_BLENDS)
    features_sensors: str = "device"  # device | same: the sensors a hybrid's features read
    network_modalities: tuple[str, ...] = ()  # with features_blend; empty: every modality
    features_window: float = FEATURES_WINDOW  # s of signal the blend's features read
    aux_heads: bool = False  # a linear head per stream (fusion models)
    output: str = "fused"  # fused | mean | val | blend | experts (see OUTPUT_MODES)
    ensemble: int = 3  # members trained with different seeds, averaged

    def network_inputs(self, modalities: Sequence[str]) -> list[str]:
        """The modalities the network reads, of a run's ``modalities``: ``network_modalities``
        where set (a hybrid whose features read more sensors), else all of them."""
        return list(self.network_modalities or modalities)

    def resolved(self) -> ModelConfig:
        """Return a copy with preset values filled in and everything validated (the model's
        name is looked up in the model registry, :mod:`xmodal.models.registry`)."""
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; valid: {', '.join(PRESETS)}")
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
        if out.direction not in DIRECTIONS:
            raise ConfigError(
                f"unknown direction {out.direction!r}; valid: {', '.join(DIRECTIONS)}"
            )
        if out.gate not in GATES:
            raise ConfigError(f"unknown gate {out.gate!r}; valid: {', '.join(GATES)}")
        if out.output not in OUTPUT_MODES:
            raise ConfigError(f"unknown output {out.output!r}; valid: {', '.join(OUTPUT_MODES)}")
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
        if out.features_model not in ("auto", *FEATURES_MODELS):
            raise ConfigError(
                f"unknown features model {out.features_model!r}; valid: auto, "
                f"{', '.join(FEATURES_MODELS)}"
            )
        if out.features_blend not in FEATURES_BLENDS:
            raise ConfigError(
                f"unknown features blend {out.features_blend!r}; valid: "
                f"{', '.join(FEATURES_BLENDS)}"
            )
        if out.features_sensors not in FEATURES_SENSORS:
            raise ConfigError(
                f"unknown features sensors {out.features_sensors!r}; valid: "
                f"{', '.join(FEATURES_SENSORS)}"
            )
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

    epochs: int = 20
    epoch_fraction: float = 0.5  # share of the training windows drawn per epoch
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 5  # epochs without validation improvement
    min_epochs: int = 4  # warm-up: not selected, no early stop before
    val_subjects: int = 2  # inner validation subjects per fold
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | auto
    threads: int = 0  # 0: torch default (reproducible); N; -1: auto (idle CPUs)
    amp: bool = True  # false: precision auto means fp32
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (see PRECISIONS)
    # the fusion recipe (each an option; see xmodal.training.recipe)
    aux_weight: float = 0.0  # weight of each per-stream head's loss (aux_heads)
    gblend: bool = False  # per-head loss weights from inner validation
    aux_detach: bool = False  # per-stream heads learn without training the streams
    modality_dropout: float = 0.3  # share of training windows that lose one stream
    ogm_alpha: float = 0.0  # OGM-GE gradient modulation strength (0: off)
    augment: float = 1.0  # physiological augmentation strength (0: off)
    warm_start: bool = False  # streams first trained alone, then fused
    warm_lr_factor: float = 0.3  # learning-rate factor of warm-started streams
    swa: bool = False  # average the weights of the epochs after warm-up
    pretrain_epochs: int = 0  # in-fold contrastive pretraining epochs (0: off)
    transductive: bool = False  # pretraining also reads the test subject's signal
    init: str = ""  # folder of `xmodal pretrain`: initial encoders
    stack_members: bool = True  # train ensemble members together as one stacked network


@dataclass
class EvalConfig:
    """The evaluation protocol."""

    protocol: str = "loso"  # loso | kfold | holdout | kfold-windows
    folds: int = 5  # for kfold and kfold-windows
    test_subjects: tuple[str, ...] = ()  # for holdout: the test subjects (records)


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


#: the range of every numeric setting, checked by :func:`validate_values` whenever a TOML file,
#: a study or the command line sets it (keys this version lacks are skipped)
VALUE_RANGES: dict[tuple[str, str], ValueRange] = {
    ("data", "window"): _above(0, inclusive=False),
    ("model", "features_window"): _above(0, inclusive=False),
    ("data", "stride"): _above(0, inclusive=False),
    ("data", "train_stride"): _above(0, inclusive=False),
    ("data", "rates"): ValueRange("rates", 0, MAX_RATE, (False, True)),
    ("data", "max_gap"): _above(0),
    ("data", "calibration_minutes"): _above(0, inclusive=False),
    ("data", "adapt_minutes"): _above(0, inclusive=False),
    ("model", "widths"): _above(1, "ints"),
    ("model", "kernels"): _above(1, "ints"),
    ("model", "pool_size"): _above(0, "int"),  # 0: from the preset
    ("model", "pool_stride"): _above(0, "int"),
    ("model", "stem_stride"): _above(0, "int"),
    ("model", "convs_per_block"): _above(1, "int"),
    ("model", "dropout"): ValueRange("float", 0, 1, (True, False)),
    ("model", "head_hidden"): _above(1, "int"),
    ("model", "ensemble"): _above(1, "int"),
    ("training", "epochs"): _above(1, "int"),
    ("training", "epoch_fraction"): ValueRange("float", 0, 1, (False, True)),
    ("training", "batch_size"): _above(2, "int"),  # batch norm needs two windows
    ("training", "lr"): _above(0, inclusive=False),
    ("training", "weight_decay"): _above(0),
    ("training", "patience"): _above(0, "int"),
    ("training", "min_epochs"): _above(0, "int"),
    ("training", "val_subjects"): _above(0, "int"),
    ("training", "seed"): ValueRange("int", 0, 2**32 - 1),  # numpy and scikit-learn seeds
    ("training", "threads"): _above(-1, "int"),  # -1: auto, 0: torch's default
    ("training", "aux_weight"): _above(0),
    ("training", "modality_dropout"): ValueRange("float", 0, 1, (True, False)),
    ("training", "ogm_alpha"): _above(0),
    ("training", "augment"): ValueRange("float", 0, 5),
    ("training", "warm_lr_factor"): _above(0, inclusive=False),
    ("training", "pretrain_epochs"): _above(0, "int"),
    ("evaluation", "folds"): _above(2, "int"),
}


#: the allowed values of every setting that takes one of a few names, checked by
#: :func:`validate_values` like :data:`VALUE_RANGES`
VALUE_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("data", "normalize"): NORMALIZE_MODES,
    ("data", "adapt"): ADAPT_MODES,
    ("training", "precision"): PRECISIONS,
    ("evaluation", "protocol"): PROTOCOLS,
}


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

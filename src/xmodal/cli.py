"""Command line: ``xmodal simulate | train | benchmark | report | predict | explain | ...``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

from xmodal.config import (
    ADAPT_MODES,
    DEFAULT_PRESET,
    FEATURES_BLENDS,
    FEATURES_MODELS,
    FEATURES_SENSORS,
    FEATURES_WINDOW,
    NORMALIZE_MODES,
    OUTPUT_MODES,
    PRESETS,
    RunConfig,
    load_config,
    read_toml,
)
from xmodal.errors import ConfigError, XmodalError
from xmodal.files import folder_lock
from xmodal.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated block numbers, got {text!r}"
        ) from None


def _rate(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        if not name.strip():
            raise ValueError(text)
        return name.strip(), float(value)  # the range is checked with the configuration
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MODALITY=HZ, got {text!r}") from None


def _add_train_options(p: argparse.ArgumentParser, benchmark: bool = False) -> None:
    d = p.add_argument_group("data")
    d.add_argument(
        "--dataset",
        help="dataset adapter: wesad | drivedb | csv | e4 or a registered one (default: the "
        "one that recognises the data folder, else wesad)",
    )
    d.add_argument(
        "--labels",
        metavar="FILE",
        help="segments CSV (drivedb, csv; default: the one found beside the data)",
    )
    d.add_argument(
        "--modalities",
        nargs="+",
        metavar="M",
        help="e.g. chest.ECG chest.EDA (wesad default); drivedb: ecg hand_gsr (default); "
        "csv: the [signals] of dataset.toml (default: all)",
    )
    d.add_argument(
        "--subjects", nargs="+", metavar="S", help="only these subjects (default: all found)"
    )
    d.add_argument(
        "--task",
        nargs="+" if benchmark else None,
        help="wesad: binary | 3class (default) | 4class; drivedb: drive3 "
        "(default) | drive2; csv: from dataset.toml"
        + ("; several run one after the other" if benchmark else ""),
    )
    d.add_argument(
        "--window",
        type=float,
        help="window length in seconds (default 10; 60 for --model features)",
    )
    d.add_argument(
        "--stride", type=float, help="stride of evaluation windows in seconds (default 10)"
    )
    d.add_argument(
        "--train-stride", type=float, help="stride of training windows in seconds (default 5)"
    )
    d.add_argument(
        "--rates",
        nargs="+",
        type=_rate,
        metavar="M=HZ",
        help="target rates in Hz of chosen modalities, e.g. wrist.BVP=32 (default: each "
        "modality's rate in the dataset adapter)",
    )
    d.add_argument(
        "--max-gap", type=float, help="longest NaN gap in seconds that is interpolated (default 1)"
    )
    d.add_argument(
        "--normalize",
        choices=NORMALIZE_MODES,
        help="z-score statistics of each subject: its whole recording (default), a "
        "calibration part of it, or causal running statistics (as a stream)",
    )
    d.add_argument(
        "--calibration-minutes",
        type=float,
        metavar="MIN",
        help="--normalize calibration: minutes of the calibration part (default 5)",
    )
    d.add_argument(
        "--calibration-label",
        metavar="LABEL",
        help="--normalize calibration: calibrate on the first minutes of this label's "
        "segment (e.g. baseline; windows overlapping it are then neither "
        "trained on nor scored) instead of "
        "the recording start",
    )
    d.add_argument(
        "--adapt",
        choices=ADAPT_MODES,
        help="test-time adaptation to each test subject from its unlabelled windows: none; "
        "adabn (default): BatchNorm statistics of its recording; experts-mi: the fused "
        "model and each stream alone weighted per person by how much their predictions vary "
        "(mutual information); -causal: from its first --adapt-minutes only, then frozen",
    )
    d.add_argument(
        "--adapt-minutes",
        type=float,
        metavar="MIN",
        help="--adapt ...-causal: minutes from the recording start (default 5)",
    )
    d.add_argument(
        "--cache-dir", help="window cache folder (default $XMODAL_CACHE or ~/.cache/xmodal)"
    )
    d.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    m = p.add_argument_group("model")
    if not benchmark:
        m.add_argument(
            "--model",
            help="a registered model (default attentive): a built-in one (see the Models page) "
            "or one a package adds; an unknown name lists the registered ones",
        )
    m.add_argument(
        "--features-model",
        choices=("auto", *FEATURES_MODELS),
        help="classifier of the classical features: rf | lda | adaboost for the 'features' "
        "model, rf | lda for the hybrid (--features-blend); auto (default): rf for the "
        "'features' model, lda (shrinkage) for the hybrid",
    )
    m.add_argument(
        "--features-blend",
        choices=FEATURES_BLENDS,
        help="the hybrid: the network's probabilities mixed with those of the features "
        "classifier of the same fold: equal weights, the weight best on the inner validation "
        "subjects (val), or one features classifier per sensor beside the network, weighted "
        "per person by the mutual information of each one's predictions over the person's "
        "unlabelled windows (experts-mi); auto (default): experts-mi for fusion networks, "
        "none for single and features",
    )
    m.add_argument(
        "--features-sensors",
        choices=FEATURES_SENSORS,
        help="the sensors the hybrid's features read: the network's plus the wrist's TEMP "
        "and ACC (device, default) or the network's only (same)",
    )
    m.add_argument(
        "--network-modalities",
        nargs="+",
        metavar="M",
        help="with --features-blend: the modalities the network reads (default all); the "
        "features read every modality of --modalities",
    )
    m.add_argument(
        "--features-window",
        type=float,
        metavar="S",
        help="with --features-blend: seconds of signal, ending where each window ends, the "
        f"features describe (default {FEATURES_WINDOW:g})",
    )
    m.add_argument("--preset", help=f"stream size: {', '.join(PRESETS)} (default {DEFAULT_PRESET})")
    m.add_argument(
        "--stem-stride",
        type=int,
        metavar="S",
        help="stride of the strided stem of long streams (default from the preset; 1: none)",
    )
    m.add_argument(
        "--connections",
        type=_int_list,
        metavar="1,2,3",
        help="blocks after which streams connect (default 1,2,3); '' for none",
    )
    m.add_argument("--direction", help="both (default) | a2b | b2a (a = first modality)")
    m.add_argument("--gate", help="attention gate: sigmoid (default) | softmax")
    m.add_argument(
        "--widths",
        type=_int_list,
        metavar="16,32,64",
        help="channels of each stream block (default from the preset)",
    )
    m.add_argument(
        "--kernels",
        type=_int_list,
        metavar="7,5,3",
        help="kernel length of each stream block (default from the preset)",
    )
    m.add_argument(
        "--pool-size", type=int, metavar="N", help="pooling window (default from the preset)"
    )
    m.add_argument(
        "--pool-stride", type=int, metavar="N", help="pooling stride (default from the preset)"
    )
    m.add_argument("--convs-per-block", type=int, metavar="N", help="convolutions per block")
    m.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="BatchNorm after each convolution",
    )
    m.add_argument("--dropout", type=float, help="dropout before the classifier's last layer")
    m.add_argument(
        "--head-hidden", type=int, metavar="N", help="width of the classifier's hidden layer"
    )
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, help="maximum epochs (default 20)")
    t.add_argument(
        "--epoch-fraction",
        type=float,
        metavar="F",
        help="share of the training windows drawn at random per epoch (default 0.5)",
    )
    t.add_argument("--batch-size", type=int, help="training windows per batch")
    t.add_argument("--lr", type=float, help="learning rate (AdamW)")
    t.add_argument("--weight-decay", type=float, metavar="WD", help="weight decay (AdamW)")
    t.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 5)")
    t.add_argument(
        "--min-epochs", type=int, help="warm-up epochs, never selected nor stopped in (default 4)"
    )
    t.add_argument(
        "--val-subjects", type=int, help="inner validation subjects per fold (default 2)"
    )
    if benchmark:
        t.add_argument(
            "--seeds",
            type=int,
            default=1,
            metavar="K",
            help="repeat every configuration with seeds 0..K-1 (default 1)",
        )
    else:
        t.add_argument(
            "--seed",
            type=int,
            help="seed of splits, initialisation and sampling; the same seed gives the same "
            "results",
        )
    t.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="train the folds of a configuration in N worker processes with one "
        "thread each (default: $XMODAL_JOBS or the number of usable CPUs; 1: "
        "in this process with torch's threads; CUDA always uses 1)",
    )
    t.add_argument("--device", help="cpu (default) | cuda | auto")
    t.add_argument(
        "--precision",
        help="auto (default: bf16 where the CPU or GPU computes it, "
        "else fp32 on CPU, fp16 on CUDA) | fp32 | bf16 | fp16 "
        "(CUDA only)",
    )
    t.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--precision auto may use bf16 or fp16 (--no-amp: auto means fp32)",
    )
    t.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch threads per training process: 0 torch's own (reproducible), N, or -1 "
        "as many as idle CPUs",
    )
    t.add_argument(
        "--stack-members",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the ensemble's members together as one stacked network (in fp32 the "
        "same results as one after another; --no-stack-members: one after another)",
    )
    r = p.add_argument_group("fusion recipe (fusion models)")
    r.add_argument(
        "--aux-heads",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a linear head per stream, trained with its own loss",
    )
    r.add_argument(
        "--aux-weight",
        type=float,
        metavar="W",
        help="weight of each per-stream head's loss (with --aux-heads)",
    )
    r.add_argument(
        "--aux-detach",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="per-stream heads learn from the streams' features without training "
        "the streams (they only serve --output)",
    )
    r.add_argument(
        "--gblend",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="weight the heads' losses by how they generalise on the inner "
        "validation subjects (gradient blending)",
    )
    r.add_argument(
        "--output",
        choices=OUTPUT_MODES,
        help="prediction of a model with per-stream heads: the fused head, the mean "
        "of all heads, the mix best on inner validation, or the blending weights; "
        "experts (no heads): the fused model and each stream alone, mixed per window by a "
        "gate fitted on inner validation",
    )
    r.add_argument(
        "--modality-dropout",
        type=float,
        metavar="P",
        help="share of training windows that lose one random stream",
    )
    r.add_argument(
        "--ogm-alpha",
        type=float,
        metavar="A",
        help="OGM-GE gradient modulation of the dominant stream (0: off)",
    )
    r.add_argument(
        "--augment",
        type=float,
        metavar="S",
        help="strength of physiological augmentation of training windows (0: off)",
    )
    r.add_argument(
        "--warm-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train each stream alone first, then fine-tune the fused model",
    )
    r.add_argument(
        "--warm-lr-factor",
        type=float,
        metavar="F",
        help="learning-rate factor of warm-started streams",
    )
    r.add_argument(
        "--swa",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average the weights of the epochs after the warm-up",
    )
    r.add_argument(
        "--ensemble",
        type=int,
        metavar="K",
        help="train K networks with different seeds and average them",
    )
    r.add_argument(
        "--pretrain-epochs",
        type=int,
        metavar="N",
        help="contrastive pretraining of the streams on the unlabelled time of each "
        "fold's training subjects, N epochs (0: off)",
    )
    r.add_argument(
        "--transductive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="pretraining also reads the test subject's unlabelled signal (recorded "
        "as transductive in the results)",
    )
    r.add_argument(
        "--init",
        metavar="DIR",
        help="start the streams from the encoders of 'xmodal pretrain --out DIR'",
    )
    e = p.add_argument_group("evaluation")
    e.add_argument(
        "--protocol",
        help="loso (default; leave-one-record-out for drivedb) | kfold | "
        "holdout (with --test) | kfold-windows (window-level, "
        "subjects mixed: subject-dependent, for comparison only)",
    )
    e.add_argument(
        "--test", nargs="+", metavar="SUBJECT", help="test subjects (records) of --protocol holdout"
    )
    e.add_argument(
        "--folds", type=int, help="number of folds for kfold and kfold-windows (default 5)"
    )
    x = p.add_argument_group("execution (never changes results)")
    x.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local (default): this machine, --jobs worker processes; ray: every fold "
        "is a Ray task on a Ray cluster (pip install 'xmodal[ray]')",
    )
    x.add_argument(
        "--address",
        help="address of a running Ray cluster (default $RAY_ADDRESS; "
        "neither: a local Ray instance for this command)",
    )
    x.add_argument(
        "--cpus-per-task",
        type=float,
        metavar="N",
        help="CPUs (and torch threads) a Ray fold task declares (default 1)",
    )
    x.add_argument(
        "--gpus-per-task",
        type=float,
        metavar="N",
        help="GPUs a Ray fold task declares (default 1 with --device cuda, else 0)",
    )
    p.add_argument("--config", help="TOML file with [data] [model] [training] [evaluation] tables")
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    _show_defaults(p)


_FLAG_TO_KEY = {
    "dataset": ("data", "dataset"),
    "modalities": ("data", "modalities"),
    "subjects": ("data", "subjects"),
    "task": ("data", "task"),
    "window": ("data", "window"),
    "stride": ("data", "stride"),
    "train_stride": ("data", "train_stride"),
    "max_gap": ("data", "max_gap"),
    "cache_dir": ("data", "cache_dir"),
    "normalize": ("data", "normalize"),
    "calibration_minutes": ("data", "calibration_minutes"),
    "calibration_label": ("data", "calibration_label"),
    "adapt": ("data", "adapt"),
    "adapt_minutes": ("data", "adapt_minutes"),
    "model": ("model", "name"),
    "preset": ("model", "preset"),
    "stem_stride": ("model", "stem_stride"),
    "features_model": ("model", "features_model"),
    "features_blend": ("model", "features_blend"),
    "features_sensors": ("model", "features_sensors"),
    "network_modalities": ("model", "network_modalities"),
    "features_window": ("model", "features_window"),
    "connections": ("model", "connections"),
    "direction": ("model", "direction"),
    "gate": ("model", "gate"),
    "dropout": ("model", "dropout"),
    "widths": ("model", "widths"),
    "kernels": ("model", "kernels"),
    "pool_size": ("model", "pool_size"),
    "pool_stride": ("model", "pool_stride"),
    "convs_per_block": ("model", "convs_per_block"),
    "batch_norm": ("model", "batch_norm"),
    "head_hidden": ("model", "head_hidden"),
    "weight_decay": ("training", "weight_decay"),
    "threads": ("training", "threads"),
    "amp": ("training", "amp"),
    "stack_members": ("training", "stack_members"),
    "epochs": ("training", "epochs"),
    "epoch_fraction": ("training", "epoch_fraction"),
    "batch_size": ("training", "batch_size"),
    "lr": ("training", "lr"),
    "patience": ("training", "patience"),
    "min_epochs": ("training", "min_epochs"),
    "val_subjects": ("training", "val_subjects"),
    "seed": ("training", "seed"),
    "device": ("training", "device"),
    "precision": ("training", "precision"),
    "protocol": ("evaluation", "protocol"),
    "folds": ("evaluation", "folds"),
    "test": ("evaluation", "test_subjects"),
    "aux_heads": ("model", "aux_heads"),
    "output": ("model", "output"),
    "ensemble": ("model", "ensemble"),
    "aux_weight": ("training", "aux_weight"),
    "gblend": ("training", "gblend"),
    "aux_detach": ("training", "aux_detach"),
    "modality_dropout": ("training", "modality_dropout"),
    "ogm_alpha": ("training", "ogm_alpha"),
    "augment": ("training", "augment"),
    "warm_start": ("training", "warm_start"),
    "warm_lr_factor": ("training", "warm_lr_factor"),
    "swa": ("training", "swa"),
    "pretrain_epochs": ("training", "pretrain_epochs"),
    "transductive": ("training", "transductive"),
    "init": ("training", "init"),
}


def _shown(value: object) -> str:
    """A configuration default as the help shows it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value not in ("", {}) else "none"


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append to the help of each option that sets a configuration key the key's default in
    :class:`~xmodal.config.RunConfig`, where the help does not state its own (one that
    depends on the data, the model or the preset)."""
    defaults = RunConfig().to_dict()
    for action in parser._actions:
        key = _FLAG_TO_KEY.get(action.dest)
        if key is None or not action.option_strings or "default" in (action.help or ""):
            continue
        action.help = f"{action.help} (default {_shown(defaults[key[0]][key[1]])})"


def config_from_args(args: argparse.Namespace, between: dict | None = None) -> RunConfig:
    """Defaults, then ``--config FILE``, then ``between`` (a study's [base]), then explicit flags."""
    config = load_config(args.config) if args.config else RunConfig()
    if between:
        config = config.updated(between, source="study [base]")
    raw: dict[str, dict] = {}
    for flag, (section, key) in _FLAG_TO_KEY.items():
        value = getattr(args, flag, None)
        if value is not None:
            raw.setdefault(section, {})[key] = list(value) if isinstance(value, tuple) else value
    if args.rates:
        raw.setdefault("data", {})["rates"] = dict(args.rates)
    if args.no_cache:
        raw.setdefault("data", {})["use_cache"] = False
    if getattr(args, "labels", None):
        raw.setdefault("data", {})["labels"] = str(Path(args.labels).resolve())
    raw.setdefault("data", {})["path"] = str(Path(args.data).resolve())
    config = config.updated(raw, source="command line")
    file_data = read_toml(args.config).get("data", {}) if args.config else {}

    def given(key: str) -> bool:  # set by a flag, the study's [base] or --config
        return (
            getattr(args, key, None) is not None
            or key in (between or {}).get("data", {})
            or key in file_data
        )

    if not given("dataset"):  # a folder of E4 sessions, drivedb records, ...: its own adapter
        from xmodal.data.datasets import detect_dataset

        detected = detect_dataset(config.data.path)
        if detected != config.data.dataset:
            config = config.updated({"data": {"dataset": detected}}, source="detected dataset")
    if config.model.name == "features" and not given("window"):
        config = config.updated({"data": {"window": FEATURES_WINDOW}}, source="features default")
    return _resolve_dataset_defaults(config, args)


def _resolve_dataset_defaults(config: RunConfig, args: argparse.Namespace) -> RunConfig:
    """Explicit --modalities are checked against the dataset; unset ones become its defaults."""
    import dataclasses

    from xmodal.config import DataConfig
    from xmodal.data.datasets import get_task, resolve_data_defaults, validate_modalities

    data = config.data
    if data.dataset == DataConfig.dataset:  # the configuration's defaults are its own: nothing
        return config  # to resolve, names are checked with each run
    if getattr(args, "modalities", None):
        validate_modalities(data.dataset, data.modalities, data.path)
    if getattr(args, "task", None):
        get_task(data.task, data.dataset, data.path)
    data = resolve_data_defaults(
        data,
        explicit_modalities=bool(getattr(args, "modalities", None)),
        explicit_task=bool(getattr(args, "task", None)),
    )
    return dataclasses.replace(config, data=data)


def cmd_simulate(args: argparse.Namespace) -> int:
    from xmodal.data.synthetic import simulate_wesad

    if args.subjects < 1 or args.minutes <= 0:
        raise ConfigError("--subjects must be >= 1 and --minutes > 0")
    written = simulate_wesad(
        Path(args.out),
        subjects=args.subjects,
        minutes=args.minutes,
        seed=args.seed,
        coupled=args.coupled,
        uninformative=args.uninformative or (),
        responders=args.responders,
    )
    print(f"wrote {len(written)} synthetic WESAD subjects ({', '.join(written)}) to {args.out}")
    if args.responders:
        print(f"response profiles: {Path(args.out) / 'responders.json'}")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from xmodal.training.threads import default_jobs

    if args.jobs is None:
        return default_jobs()
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    return args.jobs


def _backend(args: argparse.Namespace, config: RunConfig):
    """The execution backend of ``--backend`` (a context manager: Ray connects on entry)."""
    from xmodal.training.execution import LocalBackend

    if args.backend != "ray":
        if args.address or args.cpus_per_task is not None or args.gpus_per_task is not None:
            raise ConfigError("--address, --cpus-per-task and --gpus-per-task need --backend ray")
        return LocalBackend(_jobs(args))
    from xmodal.training.ray_backend import RayBackend

    cpus = 1.0 if args.cpus_per_task is None else args.cpus_per_task
    gpus = args.gpus_per_task
    if gpus is None:
        gpus = 1.0 if str(config.training.device).startswith("cuda") else 0.0
    return RayBackend(address=args.address, cpus_per_task=cpus, gpus_per_task=gpus)


def cmd_train(args: argparse.Namespace) -> int:
    from xmodal.evaluation.run_outputs import write_run_outputs
    from xmodal.evaluation.summary import format_results
    from xmodal.training.experiment import run_experiment
    from xmodal.training.progress import Progress

    config = config_from_args(args)
    with folder_lock(Path(args.out)):
        with _backend(args, config) as backend:
            results = run_experiment(
                config,
                Path(args.out),
                Progress(quiet=args.quiet),
                final=getattr(args, "final", False),
                jobs=_jobs(args),
                backend=backend,
            )
        write_run_outputs(Path(args.out))
    print(format_results(results))
    print(f"results in {args.out}/ (results.json, predictions.csv, config.toml, *.png)")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from xmodal.training.pretrain import pretrain_to_folder
    from xmodal.training.progress import Progress

    config = config_from_args(args)
    epochs = args.pretrain_epochs if args.pretrain_epochs is not None else 10
    with folder_lock(Path(args.out)), _backend(args, config) as backend:
        record = pretrain_to_folder(
            config,
            Path(args.out),
            epochs,
            on_subject=Progress(quiet=args.quiet).subject,
            backend=backend,
            exclude=tuple(args.exclude or ()),
        )
    print(
        f"pretrained {', '.join(record['modalities'])} encoders on {record['n_windows']} "
        f"windows of {len(record['subjects'])} subjects ({', '.join(record['subjects'])}), "
        f"final loss {record['losses'][-1]:.3f}; wrote {args.out}/encoders.pt, pretrain.json"
    )
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from xmodal.evaluation.report import write_report
    from xmodal.evaluation.run_outputs import write_run_outputs
    from xmodal.training.benchmark import benchmark_summary, load_study, run_benchmark
    from xmodal.training.progress import Progress

    tasks = list(args.task or [])
    args.task = None
    study = load_study(args.study)
    config = config_from_args(args, between=study.base)
    progress = Progress(quiet=args.quiet)
    with folder_lock(Path(args.out)):
        with _backend(args, config) as backend:
            state = run_benchmark(
                config,
                Path(args.out),
                study=study,
                only=args.only or (),
                tasks=tasks,
                seeds=args.seeds,
                jobs=_jobs(args),
                progress=progress,
                command=sys.argv,
                after_run=write_run_outputs,
                backend=backend,
            )
        write_report(Path(args.out))
    progress.line(benchmark_summary(state, Path(args.out)))
    mine = [e for e in state.get("entries", []) if e.get("status") in ("done", "failed")]
    if mine and all(e["status"] == "failed" for e in mine):
        first = (str(mine[0].get("error")).strip().splitlines() or ["?"])[0]
        runs = "the only run" if len(mine) == 1 else f"all {len(mine)} runs"
        raise XmodalError(f"{runs} failed (first: {first}); see {args.out}/benchmark.json")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from xmodal.evaluation.report import write_report

    written = write_report(Path(args.path))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from xmodal.data.registry import detect_adapter, get_adapter
    from xmodal.data.survey import format_survey, survey_dataset

    dataset = (get_adapter(args.dataset) if args.dataset else detect_adapter(args.data)).name
    surveys = survey_dataset(
        dataset, Path(args.data), args.modalities or (), args.subjects or (), args.labels
    )
    print(format_survey(dataset, args.data, surveys))
    failed = [s.subject for s in surveys if s.error]
    if failed:
        raise XmodalError(
            f"{len(failed)} of {len(surveys)} subjects could not be read "
            f"({', '.join(failed)}); see the report above"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from xmodal.demo import run_demo

    run_demo(Path(args.out), quiet=args.quiet)
    return 0


def _add_inference_commands(sub) -> None:
    from xmodal.inference import commands

    p = sub.add_parser("predict", help="predict every window of a new recording")
    commands.add_input_options(p)
    p.add_argument("--out", required=True, help="per-window predictions, FILE.csv or FILE.json")
    p.add_argument("--plot", metavar="FILE.png", help="signals and class probabilities over time")
    p.set_defaults(func=commands.cmd_predict)

    p = sub.add_parser("explain", help="attention weights per connection over a recording")
    commands.add_input_options(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=commands.cmd_explain)

    p = sub.add_parser("export", help="export the run's model to ONNX or TorchScript")
    p.add_argument("run", help="run folder of 'xmodal train'")
    p.add_argument("--format", default="onnx", choices=("onnx", "torchscript"))
    p.add_argument("--out", required=True, help="output file")
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="export the fold ensemble even when the run has a final model",
    )
    p.add_argument(
        "--attention",
        action="store_true",
        help="also output the attention weights (attentive models)",
    )
    p.set_defaults(func=commands.cmd_export)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="xmodal",
        description="Emotion recognition from wearable physiology "
        "with attentive cross-modal connections.",
    )
    parser.add_argument("--version", action="version", version=f"xmodal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("simulate", help="write a synthetic dataset in the WESAD layout")
    p.add_argument("out", help="output folder (SX/SX.pkl per subject)")
    p.add_argument("--subjects", type=int, default=6)
    p.add_argument("--minutes", type=float, default=20.0, help="length of each recording")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--coupled", action="store_true", help="classes separable only from ECG and EDA together"
    )
    p.add_argument(
        "--uninformative",
        nargs="+",
        metavar="MODALITY",
        help="modalities that carry no class information: rendered from "
        "class-independent physiology on a schedule unrelated to the labels; "
        "the others stay as without this option (e.g. chest.ECG; valid: "
        "chest.ACC, chest.ECG, chest.EMG, chest.EDA, chest.Temp, chest.Resp, "
        "wrist.ACC, wrist.BVP, wrist.EDA, wrist.TEMP; not with --coupled)",
    )
    p.add_argument(
        "--responders",
        action="store_true",
        help="people differ: each subject draws which response channels (cardiac, "
        "electrodermal, thermal, motor) respond to stress and to amusement, and how "
        "strongly; profiles in OUT/responders.json (not with --coupled)",
    )
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "train", help="train and evaluate a model (leave-one-subject-out by default)"
    )
    p.add_argument("data", help="dataset folder (WESAD: S2/S2.pkl, ...)")
    p.add_argument("--out", required=True, help="run folder for results, checkpoints and plots")
    _add_train_options(p)
    p.add_argument(
        "--final",
        action="store_true",
        help="after the folds, train one model on all subjects into RUN/final/",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "pretrain",
        help="self-supervised pretraining of the streams on the "
        "unlabelled time of a dataset (cross-modal contrastive)",
    )
    p.add_argument("data", help="dataset folder (WESAD: S2/S2.pkl, ...)")
    p.add_argument(
        "--out",
        required=True,
        help="folder for encoders.pt and pretrain.json (then: xmodal train --init DIR)",
    )
    p.add_argument(
        "--exclude",
        nargs="+",
        metavar="S",
        help="leave these subjects out (e.g. the test subjects of a later run; "
        "--subjects keeps only the listed ones)",
    )
    _add_train_options(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser(
        "benchmark",
        help="the paper's comparison: train every configuration of "
        "a study, then table.md/.csv and report.md/.html",
    )
    p.add_argument("data", help="dataset folder (WESAD: S2/S2.pkl, ...)")
    p.add_argument(
        "--out", required=True, help="benchmark folder: runs/<configuration>/, tables, report"
    )
    p.add_argument(
        "--study",
        default="paper",
        help="paper (default) or FILE.toml with [[configuration]] tables",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="only these configurations (a "
        "configuration name, or a model name for its default configuration)",
    )
    _add_train_options(p, benchmark=True)
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser(
        "report",
        help="rewrite report.md/.html (and tables) of a benchmark folder "
        "or a run folder from its saved results, without training",
    )
    p.add_argument("path", help="benchmark folder (xmodal benchmark --out) or run folder")
    p.set_defaults(func=cmd_report)

    _add_inference_commands(sub)

    p = sub.add_parser(
        "datasets",
        help="describe a data folder: subjects, modalities, rates, "
        "durations, labels, signal problems (no training)",
    )
    p.add_argument("data", help="data folder (WESAD root, drivedb records, csv dataset folder)")
    p.add_argument(
        "--dataset", help="wesad | drivedb | csv | e4 (default: guessed from the folder)"
    )
    p.add_argument("--labels", metavar="FILE", help="segments CSV (drivedb, csv)")
    p.add_argument("--modalities", nargs="+", metavar="M", help="only these (default: all present)")
    p.add_argument("--subjects", nargs="+", metavar="S", help="only these subjects (records)")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("demo", help="simulate a small dataset and compare models (a few minutes)")
    p.add_argument("--out", default="xmodal-demo")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(f"xmodal: warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors print one line and return 2.

    Ctrl-C (SIGINT) and SIGTERM print one line and return 130 and 143 (128 + the signal):
    files are written atomically and finished folds are kept, so the same command resumes.
    """
    handlers = threading.current_thread() is threading.main_thread()
    # SIGTERM is raised like Ctrl-C so that the same clean-up runs (files, Ray, workers), and
    # recorded here: libraries that catch the interrupt (Ray's get, for one) raise a
    # KeyboardInterrupt of their own, so no exception type could carry it
    received: list[int] = []

    def raise_terminated(signum: int, frame) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    if handlers:
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGTERM, raise_terminated)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        if handlers:  # a second signal must not end the process in the middle of the message
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        terminated = signal.SIGTERM in received
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        sys.stderr.write(f"xmodal: {what}; run the same command again to resume\n")
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    finally:
        if handlers:
            for signum, handler in previous.items():
                if handler is not None:  # None: set outside Python, cannot be restored
                    signal.signal(signum, handler)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        # deprecation notices of libraries (e.g. pyparsing under an older matplotlib) are meant
        # for their developers, not for our users
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        try:
            return args.func(args)
        except XmodalError as exc:
            sys.stderr.write(f"xmodal: error: {exc}\n")
            return 2
        except BrokenPipeError:  # e.g. `xmodal train ... | head`: results are written
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except OSError as exc:
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            sys.stderr.write(f"xmodal: error:{where} {exc.strerror or exc}\n")
            return 2

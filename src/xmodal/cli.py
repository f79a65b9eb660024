"""Command line: ``xmodal simulate | train | benchmark | report | predict | explain | ...``.

The options that set the configuration are made from its declarations
(:func:`xmodal.config.setting`); the commands' own options and their small handlers are here,
one parser for all of them (the inference commands live in :mod:`xmodal.inference.commands`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

from xmodal.config import (
    FEATURES_WINDOW,
    RECIPE,
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


#: settings ``benchmark`` takes otherwise: each configuration names its model, ``--seeds``
#: repeats it
_NOT_IN_BENCHMARK = {("model", "name"), ("training", "seed")}
#: the help sections of the options, in order (:func:`~xmodal.config.setting`'s ``group``)
_GROUPS = ("data", "model", "training", RECIPE, "evaluation")


def _settings() -> list[tuple[str, dataclasses.Field, object]]:
    """(section, field, default) of every configuration key, in declaration order."""
    defaults = RunConfig()
    return [
        (section.name, item, getattr(getattr(defaults, section.name), item.name))
        for section in dataclasses.fields(RunConfig)
        for item in dataclasses.fields(getattr(defaults, section.name))
    ]


def option_of(item: dataclasses.Field) -> str:
    """The option that sets a configuration key (``""``: none, such as the data folder)."""
    flag = item.metadata.get("flag") or "--" + item.name.replace("_", "-")
    return "" if flag == "-" else flag


def setting_dests() -> dict[str, tuple[str, str]]:
    """The argparse destination of every option that sets a configuration key, and the key."""
    return {
        option_of(item)[2:].replace("-", "_"): (section, item.name)
        for section, item, _ in _settings()
        if option_of(item)
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


def _setting_option(item: dataclasses.Field, default: object) -> dict:
    """The argparse keywords of a setting's option, from its declaration."""
    meta = item.metadata
    text = meta["help"]
    if isinstance(default, bool) and option_of(item).startswith("--no-"):  # turns it off
        return {"action": "store_true", "help": f"do not {text} (default: on)"}
    if "default" not in text:  # a default of its own (the data's, the preset's) is in the text
        text += f" (default {_shown(default)})"
    kwargs: dict = {"help": text}
    if isinstance(default, bool):
        return {**kwargs, "action": argparse.BooleanOptionalAction, "default": None}
    if isinstance(default, dict):
        kwargs.update(nargs="+", type=_rate)
    elif isinstance(default, tuple) and "int" in str(item.type):
        kwargs["type"] = _int_list
    elif isinstance(default, tuple):
        kwargs["nargs"] = "+"
    elif isinstance(default, (int, float)):
        kwargs["type"] = type(default)
    metavar = meta["metavar"] or ("{" + ",".join(meta["choices"]) + "}" if meta["choices"] else "")
    if metavar:
        kwargs["metavar"] = metavar
    return kwargs


def _add_train_options(p: argparse.ArgumentParser, benchmark: bool = False) -> None:
    """Every configuration key as an option (:func:`~xmodal.config.setting` declares each),
    then the options of how a command runs."""
    groups = {title: p.add_argument_group(title) for title in _GROUPS}
    for section, item, default in _settings():
        flag = option_of(item)
        if not flag or (benchmark and (section, item.name) in _NOT_IN_BENCHMARK):
            continue
        kwargs = _setting_option(item, default)
        if benchmark and (section, item.name) == ("data", "task"):
            kwargs.update(nargs="+", help=kwargs["help"] + "; several run one after the other")
        groups[item.metadata["group"] or section].add_argument(flag, **kwargs)
    t = groups["training"]
    if benchmark:
        t.add_argument(
            "--seeds",
            type=int,
            default=1,
            metavar="K",
            help="repeat every configuration with seeds 0..K-1 (default 1)",
        )
    t.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="train the folds of a configuration in N worker processes with one "
        "thread each (default: $XMODAL_JOBS or the number of usable CPUs; 1: "
        "in this process with torch's threads; CUDA always uses 1)",
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


def config_from_args(args: argparse.Namespace, between: dict | None = None) -> RunConfig:
    """Defaults, then ``--config FILE``, then ``between`` (a study's [base]), then explicit flags."""
    config = load_config(args.config) if args.config else RunConfig()
    if between:
        config = config.updated(between, source="study [base]")
    raw: dict[str, dict] = {}
    for dest, (section, key) in setting_dests().items():
        value = getattr(args, dest, None)
        if value is None or value is False and dest == "no_cache":
            continue
        if dest == "no_cache":
            value = False
        elif dest == "rates":
            value = dict(value)
        elif dest == "labels":
            value = str(Path(value).resolve())
        raw.setdefault(section, {})[key] = list(value) if isinstance(value, tuple) else value
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

    state = run_demo(Path(args.out), quiet=args.quiet)
    failed = [e for e in state["entries"] if e["status"] == "failed"]
    if failed:  # a demo with a missing row does not make its comparison
        raise XmodalError(
            f"{len(failed)} of {len(state['entries'])} demo runs failed (first: "
            f"{failed[0]['run']}: {failed[0]['error']})"
        )
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

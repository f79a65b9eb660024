"""The ``predict``, ``explain`` and ``export`` subcommands (argument handling and output files)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from xmodal.errors import ConfigError
from xmodal.files import atomic_write_json
from xmodal.inference.inputs import (
    InputRecording,
    parse_mapping,
    read_dataset_input,
    read_plain_csv,
)


def add_input_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``predict`` and ``explain``."""
    p.add_argument("run", help="run folder of 'xmodal train'")
    p.add_argument(
        "input",
        help="recording: a dataset subject folder/file (e.g. WESAD S2 or "
        "S2.pkl) or a plain CSV with --columns and --rates",
    )
    p.add_argument("--dataset", help="adapter of INPUT (default: guessed from the path)")
    p.add_argument(
        "--columns",
        metavar="M=COL,...",
        help="plain CSV: run modality to column, e.g. chest.ECG=ECG,chest.EDA=EDA",
    )
    p.add_argument("--rates", metavar="M=HZ,...", help="plain CSV: sampling rate per modality")
    p.add_argument("--hop", type=float, help="seconds between windows (default: the run's stride)")
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="use the fold models' ensemble even when the run has a final model",
    )
    p.add_argument(
        "--fold",
        metavar="NAME",
        help="only this fold's model, e.g. fold-00-S2 (the one that never saw S2)",
    )
    p.add_argument(
        "--normalize",
        default=None,
        choices=("recording", "calibration", "running", "window"),
        help="z-score statistics: of the whole recording, of its calibration part "
        "(the run's --calibration-minutes/--calibration-label), running since "
        "the start (as a stream), or of each window; default: the mode the run "
        "was trained with",
    )
    p.add_argument(
        "--context",
        type=float,
        default=5.0,
        help="seconds before each window used to settle the filters (default 5)",
    )


def read_input(args: argparse.Namespace, modalities: list[str]) -> InputRecording:
    """The recording named by INPUT (plain CSV when --columns is given)."""
    if args.columns or args.rates:
        if not (args.columns and args.rates):
            raise ConfigError("a plain CSV needs both --columns and --rates")
        return read_plain_csv(
            args.input,
            modalities,
            parse_mapping(args.columns, "--columns"),
            parse_mapping(args.rates, "--rates"),
        )
    return read_dataset_input(args.input, modalities, args.dataset)


def _segments(rec: InputRecording, run: Path) -> list | None:
    """True labelled segments ``(start_s, end_s, class)`` of a labelled recording, for plots."""
    if rec.labels is None or not rec.label_rate:
        return None
    from xmodal.data.datasets import get_task
    from xmodal.inference.predictor import load_run

    config, _ = load_run(run)
    try:
        task = get_task(config.data.task, config.data.dataset)
    except Exception:  # a task of another dataset: plot without labels
        return None
    classes = task.map_labels(rec.labels).astype(np.int64)
    edges = np.flatnonzero(np.diff(classes)) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(classes)]
    return [
        (s / rec.label_rate, e / rec.label_rate, int(classes[s]))
        for s, e in zip(starts, ends)
        if classes[s] >= 0
    ]


def cmd_predict(args: argparse.Namespace) -> int:
    from xmodal.inference.predictor import Predictor

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--out must end in .csv or .json, got {out.name!r}")
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        raise ConfigError(f"--plot must end in .png, got {args.plot!r}")
    predictor = Predictor.from_run(args.run, ensemble=args.ensemble, fold=args.fold)
    rec = read_input(args, predictor.input_modalities)
    table = predictor.predict(
        rec.signals,
        rec.rates,
        hop=args.hop,
        normalization=args.normalize,
        context=args.context,
        labels=rec.labels,
        label_rate=rec.label_rate,
    )
    table.start_unix, table.timezone = rec.start_unix, rec.timezone
    if out.suffix.lower() == ".csv":
        table.to_csv(out)
    else:
        table.to_json(out)
    if args.plot:
        from xmodal.inference.plots import plot_predictions

        plot_predictions(
            {m: rec.signals[m] for m in predictor.input_modalities},
            rec.rates,
            table,
            Path(args.plot),
            f"{rec.name}: {Path(args.run).name} "
            f"({predictor.source}, {len(predictor.models)} model(s))",
            _segments(rec, Path(args.run)),
            rec.events,
        )
    counts = {c: int((table.predicted == c).sum()) for c in table.classes}
    print(
        f"{rec.name}: {len(table)} windows ({predictor.source} model) -> {out}; predicted {counts}"
    )
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from xmodal.inference.explain import explain
    from xmodal.inference.plots import plot_attention_by_class, plot_attention_over_time
    from xmodal.inference.predictor import Predictor

    predictor = Predictor.from_run(args.run, ensemble=args.ensemble, fold=args.fold)
    rec = read_input(args, predictor.input_modalities)
    result = explain(
        predictor,
        rec.signals,
        rec.rates,
        hop=args.hop,
        normalization=args.normalize,
        context=args.context,
        labels=rec.labels,
        label_rate=rec.label_rate,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "predictions.csv")
    atomic_write_json(out / "attention.json", result.to_dict())
    plot_attention_over_time(
        result.table.t_start,
        predictor.window,
        result.courses,
        result.table,
        out / "attention_over_time.png",
        f"{rec.name}: attention per connection over time",
    )
    plot_attention_by_class(
        result.by_class(),
        predictor.classes,
        out / "attention_by_class.png",
        f"{rec.name}: attention per predicted class",
    )
    print(
        f"{rec.name}: {len(result.table)} windows, {len(result.courses)} connections -> {out}/ "
        f"(attention_over_time.png, attention_by_class.png, attention.json, predictions.csv)"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from xmodal.inference.export import export_run

    path = export_run(
        args.run, args.out, args.format, ensemble=args.ensemble, attention=args.attention
    )
    print(f"wrote {args.format} model to {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0

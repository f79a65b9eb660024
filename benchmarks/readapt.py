"""Test-time adaptation of a finished run's fold models, and the lever tables.

Test-time adaptation (``data.adapt``) changes nothing in training: a run trained with
``adapt = "none"`` holds in ``folds/*/model.pt`` exactly the networks a run with another mode
trains for the same seed. ``readapt`` re-tests those networks on their test subjects under
another mode and writes a complete run folder (``config.toml`` with the mode, ``fold.json``,
``results.json``, ``predictions.csv``), so every mode is compared on the same networks
(training time copied from the source run; ``adapt_s``: the adaptation's own time)::

    python -m benchmarks.readapt readapt RUN --adapt experts-mi --out NEW_RUN

``table`` writes the markdown tables of a set of run folders: mean macro-F1, the worst
subject's difference to its own best single sensor, paired differences to a reference row
(bootstrap interval, Wilcoxon p), wall time per LOSO run, and the per-subject scores::

    python -m benchmarks.readapt table --runs NAME=RUN_GLOB ... --singles NAME=RUN_GLOB ...
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import shutil
import time
from pathlib import Path

import numpy as np


def readapt(source: Path, mode: str, out: Path, minutes: float | None = None) -> dict:
    """Re-test the fold networks of the finished run ``source`` under adaptation ``mode``."""
    import torch

    from xmodal.config import load_run_config
    from xmodal.data.datasets import get_task
    from xmodal.files import atomic_write_json, atomic_write_text, read_json
    from xmodal.models.checkpoint import read_checkpoint
    from xmodal.models.registry import build_model, features_blend_of
    from xmodal.signals.pipeline import prepare_subjects
    from xmodal.training.adaptation import fold_probabilities
    from xmodal.training.estimators import NetworkEstimator
    from xmodal.training.folds import fold_windows, run_windows
    from xmodal.training.metrics import classification_metrics
    from xmodal.training.run_files import aggregate, config_toml, write_predictions
    from xmodal.training.splits import make_folds

    config = load_run_config(source / "config.toml")
    if features_blend_of(config.model) != "none":
        raise SystemExit(
            f"{source}: a hybrid run (features blend); readapt re-tests networks alone, train "
            "with --features-blend none"
        )
    data = dataclasses.replace(
        config.data,
        adapt=mode,
        adapt_minutes=config.data.adapt_minutes if minutes is None else float(minutes),
    )
    config = dataclasses.replace(config, data=data)
    task = get_task(data.task, data.dataset, data.path)
    t0 = time.perf_counter()
    windows = run_windows(prepare_subjects(data), task, config)
    preprocess_s = time.perf_counter() - t0
    ev = windows.eval
    folds = make_folds(
        ev.subjects,
        ev.labels,
        config.evaluation.protocol,
        config.evaluation.folds,
        config.training.val_subjects,
        config.training.seed,
        config.evaluation.test_subjects,
    )
    records = []
    for fold in folds:
        src = source / "folds" / fold.name
        record = read_json(src / "fold.json")
        if record["test_subjects"] != list(fold.test):
            raise SystemExit(f"{src}: its test subjects differ from the folds rebuilt here")
        estimator = NetworkEstimator(config)
        estimator.model = build_model(config.model, ev.input_shapes, len(task.classes))
        estimator.model.load_state_dict(read_checkpoint(src / "model.pt", "cpu"))
        test = fold_windows(fold, windows).test
        t = time.perf_counter()
        with torch.no_grad():
            proba = fold_probabilities(
                estimator, test, windows.recordings, mode, data.adapt_minutes
            )
        adapt_s = time.perf_counter() - t
        pred = proba.argmax(1)
        record.update(classification_metrics(test.labels, pred, test.classes))
        record["adapt_s"] = round(adapt_s, 3)
        record["predictions"] = {
            "subject": test.subjects.tolist(),
            "t_start": test.t_start.tolist(),
            "true": test.labels.tolist(),
            "proba": proba.round(6).tolist(),
        }
        folder = out / "folds" / fold.name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "model.pt", folder / "model.pt")
        atomic_write_json(folder / "fold.json", record)
        records.append(record)
    complexity = estimator.complexity(ev.input_shapes, len(task.classes))
    results = aggregate(
        config, task.classes, records, preprocess_s, len(windows.train), ev, complexity
    )
    results["readapted_from"] = str(source)
    atomic_write_text(out / "config.toml", config_toml(config))
    write_predictions(out, records, task.classes)
    atomic_write_json(out / "results.json", results)
    return results


def _per_subject(run: Path) -> dict[str, float]:
    res = json.loads((run / "results.json").read_text())
    return {s: v["macro_f1"] for s, v in res["per_subject"].items()}


def _mean_over(runs: list[Path]) -> tuple[dict[str, float], float, int]:
    """Per-subject macro-F1 averaged over the runs (seeds), mean training s per LOSO run."""
    scores: dict[str, list[float]] = {}
    seconds = []
    for run in runs:
        for s, v in _per_subject(run).items():
            scores.setdefault(s, []).append(v)
        res = json.loads((run / "results.json").read_text())
        folds = res["folds"]
        seconds.append(sum(f.get("train_s", 0.0) for f in folds))
    return {s: float(np.mean(v)) for s, v in scores.items()}, float(np.mean(seconds)), len(runs)


def _runs(pattern: str) -> list[Path]:
    runs = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / "results.json").exists())
    if not runs:
        raise SystemExit(f"no finished run matches {pattern}")
    return runs


def table(rows: list[tuple[str, str]], singles: list[tuple[str, str]], reference: str) -> str:
    """Markdown: one line per row, then per-subject scores (see the module docstring)."""
    from xmodal.evaluation.statistics import paired_comparison

    loaded = {name: _mean_over(_runs(p)) for name, p in rows + singles}
    single_names = [n for n, _ in singles]
    subjects = sorted(
        set.intersection(*(set(v[0]) for v in loaded.values())),
        key=lambda s: (len(s), s),
    )
    best_single = {s: max(loaded[n][0][s] for n in single_names) for s in subjects}
    oracle = float(np.mean([best_single[s] for s in subjects]))
    lines = [
        f"| configuration | macro-F1 | worst Δ vs subject's best single | Δ vs {reference} "
        f"[95% CI] (p) | seeds | train s per LOSO run |",
        "|---|---|---|---|---|---|",
    ]
    ref = loaded[reference][0]
    for name, _ in rows + singles:
        scores, secs, n = loaded[name]
        mean = float(np.mean([scores[s] for s in subjects]))
        worst = min(scores[s] - best_single[s] for s in subjects)
        comp = (
            paired_comparison({s: scores[s] for s in subjects}, {s: ref[s] for s in subjects})
            if name != reference
            else None
        )
        delta = (
            f"{comp.mean_difference:+.3f} [{comp.ci_low:+.3f}, {comp.ci_high:+.3f}] (p={comp.p_value:.3f})"
            if comp is not None
            else "reference"
        )
        lines.append(f"| {name} | {mean:.3f} | {worst:+.3f} | {delta} | {n} | {secs:.0f} |")
    lines += [
        "",
        f"Per-person oracle (mean of each subject's best single sensor): {oracle:.3f}",
        "",
    ]
    lines.append("| subject | " + " | ".join(n for n, _ in rows + singles) + " |")
    lines.append("|---" * (len(rows) + len(singles) + 1) + "|")
    for s in subjects:
        cells = " | ".join(f"{loaded[n][0][s]:.3f}" for n, _ in rows + singles)
        lines.append(f"| {s} | {cells} |")
    return "\n".join(lines) + "\n"


def _named(items: list[str]) -> list[tuple[str, str]]:
    return [tuple(item.split("=", 1)) for item in items]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readapt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("readapt", help="re-test a run's fold networks under another --adapt")
    r.add_argument("source", type=Path)
    r.add_argument("--adapt", required=True)
    r.add_argument("--adapt-minutes", type=float)
    r.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("table", help="markdown tables of run folders")
    t.add_argument("--runs", nargs="+", required=True, metavar="NAME=GLOB")
    t.add_argument("--singles", nargs="+", required=True, metavar="NAME=GLOB")
    t.add_argument("--reference", required=True)
    t.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "readapt":
        res = readapt(args.source, args.adapt, args.out, args.adapt_minutes)
        print(f"{args.out}: macro-F1 {res['mean']['macro_f1']:.3f}")
        return 0
    text = table(_named(args.runs), _named(args.singles), args.reference)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

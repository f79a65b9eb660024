"""The same real recordings as WESAD pickles and as Empatica E4 exports: same signals, labels, results?

    python -m benchmarks.e4_equivalence --work DIR --out benchmarks/results/e4_equivalence.json \
        --tasks binary 3class --calibration 3class --plot docs/e4_timeline_S2.png   (repo root)

Needs ``../shared/data`` (six real WESAD wrist subjects, S2-S7). In ``DIR`` it

1. builds both layouts of the same recordings with the data's own scripts: ``DIR/wesad``
   (``build_wesad.py``: ``SX/SX.pkl``, signals cut at the chest device's start) and ``DIR/e4``
   (``build_e4.py``: E4 export folders from the E4's start, with ``segments.csv``);
2. compares, subject by subject, every wrist signal sample by sample on the overlapping time
   (the E4 recording starts ``offset_s`` of ``SX_sync.json`` earlier) and the label codes on the
   E4 adapter's 10-Hz label grid;
3. counts the labelled windows of both layouts and how far their grids lie apart;
4. trains ``xmodal train`` on both (wrist.BVP + wrist.EDA, LOSO, default recipe; per task of
   ``--tasks``, and with ``--normalize calibration`` per task of ``--calibration``; an existing
   run folder resumes) and compares macro-F1 paired per subject;
5. predicts one E4 session, as a folder and as a zip, with the WESAD-layout run's model of the
   fold that held that subject out, and compares the probabilities with each other and with
   the WESAD-layout recording's at the same moments; writes the timeline plot
   (``--plot``).

Writes ``--out`` (JSON) and the same path with ``.md``. Training dominates the time (about
6 minutes per run and task on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SUBJECTS = {
    "wesad_wrist": ("S2", "S3", "S4"),
    "wesad_wrist_more": ("S5", "S6", "S7"),
}
MODALITIES = ("wrist.ACC", "wrist.BVP", "wrist.EDA", "wrist.TEMP")
TRAIN_MODALITIES = ("wrist.BVP", "wrist.EDA")


def sync(subject: str) -> dict:
    for folder, names in SUBJECTS.items():
        if subject in names:
            return json.loads((DATA / folder / subject / f"{subject}_sync.json").read_text())
    raise KeyError(subject)


def build(work: Path) -> None:
    script = DATA / "wesad_wrist"
    for layout, name in (("wesad", "build_wesad.py"), ("e4", "build_e4.py")):
        if (work / layout / "S7").is_dir():
            continue
        for extra in ([], [str(DATA / "wesad_wrist_more")]):
            subprocess.run(
                [sys.executable, str(script / name), str(work / layout), *extra],
                check=True,
                stdout=subprocess.DEVNULL,
            )


def compare_samples(work: Path) -> dict:
    """Per subject and modality: samples compared, identical, largest difference."""
    from xmodal.data.e4 import LABEL_RATE, load_e4_session
    from xmodal.data.wesad import load_wesad_subject

    out = {}
    for subject in (s for names in SUBJECTS.values() for s in names):
        offset = float(sync(subject)["offset_s"])
        w = load_wesad_subject(work / "wesad" / subject / f"{subject}.pkl", MODALITIES, subject)
        e = load_e4_session(work / "e4" / subject, MODALITIES)
        row = {"offset_s": offset, "signals": {}}
        for m in MODALITIES:
            ws, es = w.signals[m], e.signals[m]
            assert ws.rate == es.rate, (subject, m, ws.rate, es.rate)
            first = int(round(offset * es.rate))
            n = min(len(ws.data), len(es.data) - first)
            a, b = ws.data[:n], es.data[first : first + n]
            row["signals"][m] = {
                "rate": es.rate,
                "compared": int(n),
                "identical": int(np.all(a == b, axis=1).sum()),
                "max_abs_diff": float(np.abs(a.astype(np.float64) - b).max()),
            }
        # labels: the E4 10-Hz grid, each sample against the WESAD label at the same moment
        j = np.arange(len(e.labels))
        t_wesad = j / LABEL_RATE - offset
        inside = (t_wesad >= 0) & (t_wesad < len(w.labels) / w.label_rate)
        k = np.round(t_wesad[inside] * w.label_rate).astype(np.int64)
        k = np.minimum(k, len(w.labels) - 1)
        row["labels"] = {
            "compared": int(inside.sum()),
            "different": int((w.labels[k] != e.labels[inside]).sum()),
            "e4_labelled_outside_overlap": int((e.labels[~inside] > 0).sum()),
        }
        out[subject] = row
    return out


def window_grids(work: Path, task: str, window: float = 10.0, stride: float = 10.0) -> dict:
    """Labelled windows per subject in both layouts and the shift between their grids."""
    from xmodal.config import DataConfig
    from xmodal.data.datasets import get_task
    from xmodal.signals.pipeline import prepare_subjects, windows_of

    out = {}
    for layout in ("wesad", "e4"):
        config = DataConfig(
            path=str(work / layout),
            dataset=layout,
            modalities=TRAIN_MODALITIES,
            task=task,
        )  # the training runs' cache entries, when present
        windows = windows_of(
            prepare_subjects(config), get_task(task, layout, config.path), window, stride
        )
        for subject in np.unique(windows.subjects):
            labels = windows.labels[windows.subjects == subject]
            out.setdefault(str(subject), {})[layout] = {
                "windows": int(len(labels)),
                "per_class": np.bincount(labels, minlength=len(windows.classes)).tolist(),
            }
    for subject, row in out.items():
        # WESAD window k starts at E4 time offset + k * stride; E4 windows at j * stride
        row["grid_shift_s"] = float(sync(subject)["offset_s"]) % stride
    return out


#: training variants: run-name suffix -> extra ``xmodal train`` options. ``calibration``
#: z-scores every subject with its first 5 minutes of baseline, the same samples in both
#: layouts (the default, ``recording``, uses the whole recording, which the E4 layout holds
#: longer: from the E4's start, not the chest device's)
VARIANTS = {"": (), "calib": ("--normalize", "calibration", "--calibration-label", "baseline")}


def train(work: Path, runs: Path, task: str, variant: str = "") -> dict:
    """LOSO macro-F1 per subject of both layouts (the runs are trained unless finished)."""
    from xmodal.cli import main

    scores = {}
    for layout in ("wesad", "e4"):
        run = runs / f"{layout}_{task}{'_' + variant if variant else ''}"
        if not (run / "results.json").is_file():
            args = ["train", str(work / layout), "--dataset", layout, "--modalities"]
            args += [*TRAIN_MODALITIES, "--task", task, "--out", str(run), "--quiet"]
            args += VARIANTS[variant]
            code = main(args)
            if code:
                raise SystemExit(f"training {run} failed ({code})")
        scores[layout] = _per_subject(run)
    from xmodal.evaluation.statistics import paired_comparison

    paired = paired_comparison(scores["e4"], scores["wesad"])
    return {
        "macro_f1": scores,
        "mean": {k: float(np.mean(list(v.values()))) for k, v in scores.items()},
        "e4_minus_wesad": {
            "per_subject": dict(zip(paired.subjects, paired.differences)),
            "mean": paired.mean_difference,
            "ci95": [paired.ci_low, paired.ci_high],
            "wilcoxon_p": paired.p_value,
        },
    }


def _per_subject(run: Path) -> dict:
    out = {}
    for fold in sorted((run / "folds").glob("*/fold.json")):
        record = json.loads(fold.read_text())
        for subject in record["test_subjects"]:
            out[subject] = record["macro_f1"]
    return out


def _predict(run: Path, source: Path, fold: str, csv: Path, *extra: str) -> np.ndarray:
    from xmodal.cli import main

    args = ["predict", str(run), str(source), "--fold", fold, "--hop", "2", "--out", str(csv)]
    if main([*args, *extra]):
        raise SystemExit(f"predict on {source} failed")
    return np.genfromtxt(csv, delimiter=",", names=True, dtype=None, encoding="utf-8")


def _same_moments(wesad: np.ndarray, e4: np.ndarray, offset: float) -> dict:
    """p(stress) of the WESAD windows against the E4 windows starting at the same moment."""
    index = {round(float(t), 3): i for i, t in enumerate(e4["t_start"])}
    pairs = [(i, index.get(round(float(t) + offset, 3))) for i, t in enumerate(wesad["t_start"])]
    wi, ej = np.array([(i, j) for i, j in pairs if j is not None]).T
    diff = np.abs(wesad["p_stress"][wi] - e4["p_stress"][ej])
    return {
        "matched_windows": int(len(wi)),
        "p_stress_abs_diff": {
            "max": float(diff.max()),
            "mean": float(diff.mean()),
            "median": float(np.median(diff)),
            "max_after_first_window": float(diff[1:].max()),
        },
        "same_predicted_class": float(np.mean(wesad["predicted"][wi] == e4["predicted"][ej])),
    }


def predictions(work: Path, runs: Path, subject: str, plot: Path | None) -> dict:
    """One E4 session as folder and zip, and the WESAD-layout subject, through ``predict``
    with the model of the fold that held ``subject`` out, every 2 s (the offsets are even, so
    the WESAD windows start at moments the E4 windows start too)."""
    run = runs / "wesad_binary"
    fold = next(p.name for p in (run / "folds").iterdir() if p.name.endswith(f"-{subject}"))
    session = work / "e4" / subject
    zipped = work / "zipped" / f"{subject}.zip"
    zipped.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(session.iterdir()):
            zf.write(f, f.name)
    offset = float(sync(subject)["offset_s"])
    plot_args = ["--plot", str(plot)] if plot is not None else []
    folder = _predict(run, session, fold, work / f"pred_{subject}_folder.csv")
    zip_ = _predict(run, zipped, fold, work / f"pred_{subject}_zip.csv", *plot_args)
    wesad = _predict(run, work / "wesad" / subject, fold, work / f"pred_{subject}_wesad.csv")
    out = {
        "subject": subject,
        "model": f"{run.name}/folds/{fold}",
        "hop_s": 2.0,
        "windows": {"folder": len(folder), "zip": len(zip_), "wesad": len(wesad)},
        "folder_equals_zip": bool(np.array_equal(folder, zip_)),
        "max_abs_diff_folder_zip": float(np.abs(folder["p_stress"] - zip_["p_stress"]).max()),
        "vs_wesad": {"recording": _same_moments(wesad, folder, offset)},
        "first_rows_zip": (work / f"pred_{subject}_zip.csv").read_text().splitlines()[:2],
    }
    # per-window z-scoring: each window's input depends on its own samples (and 5 s of context)
    # only, not on how long the recording is
    e4_w = _predict(run, zipped, fold, work / "pred_w_e4.csv", "--normalize", "window")
    wesad_w = _predict(
        run, work / "wesad" / subject, fold, work / "pred_w_wesad.csv", "--normalize", "window"
    )
    out["vs_wesad"]["window"] = _same_moments(wesad_w, e4_w, offset)
    return out


def markdown(result: dict) -> str:
    lines = ["# WESAD pickles vs E4 exports of the same six recordings", ""]
    lines.append(
        "| subject | offset s | signals identical | label samples differing | grid shift s |"
    )
    lines.append("|---|---|---|---|---|")
    for s, row in result["samples"].items():
        ident = all(v["identical"] == v["compared"] for v in row["signals"].values())
        shift = result["windows"]["binary"][s]["grid_shift_s"] if "windows" in result else ""
        lines.append(
            f"| {s} | {row['offset_s']:g} | {'yes' if ident else 'no'} | "
            f"{row['labels']['different']} of {row['labels']['compared']} | {shift} |"
        )
    for task, w in result.get("windows", {}).items():
        lines += ["", f"Labelled windows ({task}, 10 s every 10 s): wesad / e4 (per class)", ""]
        lines += [
            f"- {s}: {r['wesad']['windows']} {r['wesad']['per_class']} / {r['e4']['windows']} "
            f"{r['e4']['per_class']}; E4 grid shifted by {r['grid_shift_s']:g} s"
            for s, r in w.items()
        ]
    for task, t in result.get("training", {}).items():
        lines += ["", f"LOSO macro-F1 ({task}):", "", "| subject | wesad | e4 | e4 - wesad |"]
        lines.append("|---|---|---|---|")
        for s in t["macro_f1"]["wesad"]:
            a, b = t["macro_f1"]["wesad"][s], t["macro_f1"]["e4"][s]
            lines.append(f"| {s} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")
        d = t["e4_minus_wesad"]
        lines.append(
            f"| mean | {t['mean']['wesad']:.3f} | {t['mean']['e4']:.3f} | {d['mean']:+.3f} "
            f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] p={d['wilcoxon_p']:.2f} |"
        )
    if "predictions" in result:
        lines += ["", "Predictions: " + json.dumps(result["predictions"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="folder for both layouts and the runs")
    parser.add_argument("--out", required=True, help="result JSON (and .md beside it)")
    parser.add_argument(
        "--tasks", nargs="*", default=["binary"], help="tasks to train (none: skip)"
    )
    parser.add_argument(
        "--calibration",
        nargs="*",
        default=[],
        help="tasks to train also with --normalize calibration (baseline)",
    )
    parser.add_argument("--subject", default="S2", help="the session predicted on")
    parser.add_argument("--plot", help="timeline PNG of the zipped session")
    args = parser.parse_args(argv)
    work = Path(args.work)
    runs = work / "runs"
    os.environ.setdefault("XMODAL_CACHE", str(work / "cache"))
    build(work)
    from benchmarks.machine import machine_info

    result: dict = {"machine": machine_info(), "samples": compare_samples(work)}
    result["windows"] = {task: window_grids(work, task) for task in args.tasks or ["binary"]}
    result["training"] = {task: train(work, runs, task) for task in args.tasks}
    for task in args.calibration:
        result["training"][f"{task} calibration"] = train(work, runs, task, "calib")
    if "binary" in args.tasks:
        result["predictions"] = predictions(
            work, runs, args.subject, Path(args.plot) if args.plot else None
        )
    result["machine"]["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=1, default=float) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()

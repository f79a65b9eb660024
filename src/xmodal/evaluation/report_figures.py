"""The report's figures of a benchmark: macro-F1 bars, per-subject heat maps, pooled confusion
matrices and an attention example."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xmodal.evaluation.benchmark_rows import PROPOSED, Row, finite
from xmodal.files import read_json


def bar_chart(rows: list[Row], path: Path, title: str) -> None:
    from xmodal.evaluation.plots import plt, save_figure

    ok = [r for r in rows if r.ok]
    means = [r.values["macro_f1"][0] or 0 for r in ok]
    stds = [r.values["macro_f1"][1] or 0 for r in ok]
    colors = [
        "C3" if r.model in PROPOSED else ("C2" if r.model == "features" else "C0") for r in ok
    ]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(ok) + 2), 3.8))
    x = np.arange(len(ok))
    ax.bar(x, means, yerr=stds, color=colors, capsize=3)
    k = len(ok[0].results[0]["classes"]) if ok else 2
    ax.axhline(1.0 / k, color="grey", ls="--", lw=1, label=f"chance accuracy (1/{k})")
    ax.set_xticks(x, [r.name for r in ok], rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("macro-F1 (mean ± std over folds)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def heatmap(rows: list[Row], path: Path, title: str) -> None:
    from xmodal.evaluation.plots import plt, save_figure

    ok = [r for r in rows if r.ok]
    subjects: list[str] = []
    for r in ok:
        for res in r.results:
            subjects += [s for s in res.get("per_subject", {}) if s not in subjects]
    grid = np.full((len(ok), len(subjects)), np.nan)
    for i, r in enumerate(ok):
        for j, s in enumerate(subjects):
            vals = [
                res["per_subject"][s]["macro_f1"]
                for res in r.results
                if s in res.get("per_subject", {}) and finite(res["per_subject"][s]["macro_f1"])
            ]
            if vals:
                grid[i, j] = np.mean(vals)
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(subjects) + 3), max(3, 0.32 * len(ok) + 1.5)))
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    if len(ok) * len(subjects) <= 400:
        for i in range(len(ok)):
            for j in range(len(subjects)):
                if np.isfinite(grid[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{grid[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if grid[i, j] < 0.5 else "black",
                    )
    ax.set_xticks(range(len(subjects)), subjects, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(ok)), [r.name for r in ok], fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03, label="macro-F1")
    save_figure(fig, path)


def pooled_confusion(row: Row) -> np.ndarray:
    return np.sum([np.asarray(res["pooled"]["confusion_matrix"]) for res in row.results], axis=0)


def attention_example(row: Row) -> tuple[dict, str] | None:
    """Attention summary (per class over time) of the first fold of the row's first run."""
    for run in row.runs:
        for path in sorted(run.glob("folds/*/fold.json")):
            rec = read_json(path)
            if rec.get("attention"):
                return rec["attention"], ",".join(rec["test_subjects"])
    return None


# ---- the document ---------------------------------------------------------------------------

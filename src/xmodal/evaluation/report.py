"""Benchmark tables and report (``table.md``, ``table.csv``, ``report.md``, ``report.html``).

Everything here reads saved files only (``benchmark.json``, ``runs/*/results.json``,
``runs/*/folds/*/fold.json``), so ``xmodal report DIR`` regenerates it without training. A single
run folder (``xmodal report RUN``) is reported as a one-row benchmark; its plots are rewritten.

Configurations are compared per held-out subject (:mod:`xmodal.evaluation.statistics`): each
table has the paired macro-F1 difference to the best single-modality configuration and to the
``features`` configuration (BCa bootstrap interval, Wilcoxon p Holm-adjusted over the rows of
the column), and a metric's best value is bold only where its paired difference to the
runner-up is resolved (bootstrap interval above 0 and Wilcoxon p < 0.05).
``per_subject.csv`` and a per-subject table list every subject's scores (mean over seeds).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmodal.errors import DataError
from xmodal.evaluation.statistics import (
    PairedComparison,
    holm_adjust_comparisons,
    mean_over_seeds,
    paired_comparison,
    smallest_wilcoxon_p,
)
from xmodal.files import atomic_write_text, read_json

METRICS = (
    ("macro_f1", "macro-F1"),
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
)
#: columns where lower is better
COSTS = (
    ("n_parameters", "parameters"),
    ("flops_per_window", "FLOPs / window"),
    ("train_s", "train s"),
)
SUBJECT_DEPENDENT_NOTE = (
    "SUBJECT-DEPENDENT: window-level k-fold, windows of every subject in "
    "training and test; not comparable with subject-independent (LOSO) "
    "results"
)
#: models that are the paper's proposal; every other configuration is a baseline
PROPOSED = ("attentive", "cross")
#: paired references of the Δ columns: key, label in the table
REFERENCES = (("best_single", "best single"), ("features", "features"))
#: bootstrap settings of every paired comparison in the report (fixed: reports are reproducible)
N_BOOT = 10000
BOOT_SEED = 0
CONFIDENCE = 0.95


@dataclass
class Row:
    """One configuration of one task, aggregated over seeds."""

    task: str
    name: str
    model: str = ""
    modalities: list[str] = field(default_factory=list)
    status: str = "done"
    error: str = ""
    note: str = ""
    runs: list[Path] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    values: dict = field(default_factory=dict)  # metric -> (mean, std) over folds x seeds
    costs: dict = field(default_factory=dict)  # cost -> value or None
    subject_dependent: bool = False
    transductive: bool = False
    best: list[str] = field(default_factory=list)
    #: metric -> {subject: score, mean over seeds}
    subject_scores: dict = field(default_factory=dict)
    #: reference key -> (reference configuration, comparison or None when not computable)
    vs: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "done" and bool(self.results)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _fill(row: Row) -> None:
    folds = [f for r in row.results for f in r["folds"]]
    for key, _ in METRICS:
        vals = np.array([f[key] for f in folds if _finite(f.get(key))], dtype=float)
        row.values[key] = (float(vals.mean()), float(vals.std())) if vals.size else (None, None)
    first = row.results[0]
    row.model, row.modalities = first["model"], first["modalities"]
    # recorded at training time; runs written before results.json carried them show n/a
    row.costs = {
        "n_parameters": first.get("n_parameters"),
        "flops_per_window": first.get("flops_per_window"),
        "train_s": float(np.mean([r["timing"]["train_s"] for r in row.results])),
    }
    row.subject_dependent = any(
        r.get("subject_dependent") or r["protocol"] == "kfold-windows" for r in row.results
    )
    row.subject_scores = {key: mean_over_seeds(row.results, key) for key, _ in METRICS}
    row.transductive = any(r.get("transductive") for r in row.results)


def collect(path: Path) -> tuple[list[Row], dict]:
    """Rows of a benchmark folder (``benchmark.json``) or of one run folder, and the state."""
    path = Path(path)
    if (path / "benchmark.json").exists():
        state = read_json(path / "benchmark.json")
        entries = state["entries"]
    elif (path / "results.json").exists():
        res = read_json(path / "results.json")
        state = {
            "command": [],
            "study": "single run",
            "tasks": [res["task"]],
            "seeds": 1,
            "base_config": res["config"],
            "single_run": True,
        }
        entries = [
            {
                "configuration": path.name,
                "task": res["task"],
                "seed": res["seed"],
                "status": "done",
                "error": "",
                "note": "",
                "run": ".",
            }
        ]
    else:
        raise DataError(
            f"{path}: neither a benchmark folder (benchmark.json) nor a run folder (results.json)"
        )
    rows: dict[tuple[str, str], Row] = {}
    for e in entries:
        row = rows.setdefault((e["task"], e["configuration"]), Row(e["task"], e["configuration"]))
        row.note = row.note or e.get("note", "")
        run = path / e.get("run", ".")
        if e["status"] == "done" and (run / "results.json").exists():
            row.runs.append(run)
            row.results.append(read_json(run / "results.json"))
        elif e["status"] == "failed":
            row.status, row.error = "failed", e.get("error", "")
        elif row.status != "failed":
            row.status = e["status"] if e["status"] != "done" else "missing results"
    for row in rows.values():
        if row.results:
            if row.status != "failed":
                row.status = "done"
            _fill(row)
    _compare(list(rows.values()))
    _mark_best(list(rows.values()))
    return list(rows.values()), state


def _paired(a: Row, b: Row, key: str = "macro_f1") -> PairedComparison | None:
    """``a - b`` per subject (scores averaged over seeds); None without common subjects."""
    try:
        return paired_comparison(
            a.subject_scores.get(key, {}),
            b.subject_scores.get(key, {}),
            n_boot=N_BOOT,
            seed=BOOT_SEED,
            confidence=CONFIDENCE,
        )
    except ValueError:
        return None


def references(rows: list[Row]) -> dict[str, Row | None]:
    """Reference rows of one task: the ``single`` row with the highest mean macro-F1 (the first
    of equal ones), and the ``features`` configuration (the one named ``features``, else the
    best ``features`` row); None where the task has no such finished row."""
    feats = [r for r in rows if r.ok and r.model == "features"]
    return {
        "best_single": _best(rows, lambda r: r.model == "single"),
        "features": (
            next((r for r in feats if r.name == "features"), None)
            or _best(rows, lambda r: r.model == "features")
        ),
    }


def _compare(rows: list[Row]) -> None:
    """Paired macro-F1 differences of every finished row to its task's references."""
    for task in dict.fromkeys(r.task for r in rows):
        mine = [r for r in rows if r.task == task]
        for kind, ref in references(mine).items():
            if ref is None:
                continue
            others = [r for r in mine if r.ok and r is not ref]
            # one Δ column is one family: its p-values are Holm-adjusted over the rows
            comps = holm_adjust_comparisons([_paired(r, ref) for r in others])
            ref.vs[kind] = (ref, None)
            for r, comp in zip(others, comps):
                r.vs[kind] = (ref, comp)


def _leader(rows: list[Row], key: str) -> tuple[Row, Row, PairedComparison | None] | None:
    """Highest row of a metric column, the runner-up and their paired comparison."""
    ranked = sorted(
        (r for r in rows if r.ok and r.values[key][0] is not None), key=lambda r: -r.values[key][0]
    )
    if len(ranked) < 2:
        return None
    top, runner = ranked[0], ranked[1]
    if np.isclose(top.values[key][0], runner.values[key][0]):
        return top, runner, None
    return top, runner, _paired(top, runner, key)


def _mark_best(rows: list[Row]) -> None:
    for task in dict.fromkeys(r.task for r in rows):
        mine = [r for r in rows if r.task == task and r.ok]
        for key, _ in METRICS:
            lead = _leader(mine, key)
            if lead is not None and lead[2] is not None and lead[2].resolved:
                lead[0].best.append(key)
        for key, _ in COSTS:
            vals = [r.costs[key] for r in mine if _finite(r.costs.get(key))]
            if vals:
                for r in mine:
                    if _finite(r.costs.get(key)) and np.isclose(r.costs[key], min(vals)):
                        r.best.append(key)


def _fmt_cost(key: str, v) -> str:
    if not _finite(v):
        return "n/a"
    if key == "train_s":
        return f"{v:.1f}"
    if key == "flops_per_window":
        return f"{v / 1e6:.2f} M" if v < 1e9 else f"{v / 1e9:.2f} G"
    return f"{int(v):,}"


def _delta_cell(row: Row, kind: str) -> str:
    ref, comp = row.vs.get(kind, (None, None))
    if ref is None:
        return "n/a"
    if ref is row:
        return "reference"
    if comp is None:
        return "n/a (no common subject)"
    n_max = max(
        len(row.subject_scores.get("macro_f1", {})), len(ref.subject_scores.get("macro_f1", {}))
    )
    return comp.format() + (f" n={comp.n}" if comp.n < n_max else "")


def _transductive_subjects(row: Row) -> list[str]:
    return list(dict.fromkeys(s for r in row.results for s in r.get("transductive_subjects", [])))


def _cells(row: Row, kinds=()) -> list[str]:
    def mark(key: str, text: str) -> str:
        return f"**{text}**" if key in row.best else text

    label = (
        row.name
        + (" (subject-dependent)" if row.subject_dependent else "")
        + (
            f" (transductive: pretraining read the unlabelled signal of evaluated subjects "
            f"{', '.join(_transductive_subjects(row)) or 'n/a'})"
            if row.transductive
            else ""
        )
    )
    if not row.ok:
        n = len(METRICS) + len(kinds) + len(COSTS)
        return (
            [label, row.model or "-", " ".join(row.modalities) or "-", "failed"]
            + ["-"] * (n - 1)
            + [f"{row.status}: {row.error}".replace("|", "/")]
        )
    cells = [label, row.model, " ".join(row.modalities)]
    for key, _ in METRICS:
        m, s = row.values[key]
        cells.append(mark(key, f"{m:.3f} ± {s:.3f}" if m is not None else "n/a"))
    cells += [_delta_cell(row, kind) for kind in kinds]
    for key, _ in COSTS:
        cells.append(mark(key, _fmt_cost(key, row.costs.get(key))))
    n_seeds = len(row.results)
    cells.append(
        (
            "ok"
            + (f", {n_seeds} seeds" if n_seeds > 1 else "")
            + (f"; {row.note}" if row.note else "")
        ).replace("|", "/")
    )
    return cells


HEADER = (
    ["configuration", "model", "modalities"]
    + [f"{label} (mean ± std)" for _, label in METRICS]
    + [label for _, label in COSTS]
    + ["status"]
)


def header(kinds=()) -> list[str]:
    """Columns of a task's table with the Δ columns of the given reference keys."""
    labels = dict(REFERENCES)
    level = f"{CONFIDENCE:.0%}"
    return (
        HEADER[: 3 + len(METRICS)]
        + [f"Δ macro-F1 vs {labels[k]} [{level} CI] (p)" for k in kinds]
        + HEADER[3 + len(METRICS) :]
    )


def _protocol_line(rows: list[Row]) -> str:
    res = next((r.results[0] for r in rows if r.results), None)
    if res is None:
        return "no finished run"
    n_folds = len(res["folds"])
    modes = sorted(
        {
            r.results[0].get("config", {}).get("data", {}).get("normalize", "recording")
            for r in rows
            if r.results
        }
    )
    adapts = sorted(
        {
            r.results[0].get("config", {}).get("data", {}).get("adapt", "none")
            for r in rows
            if r.results
        }
    )
    adapted = f", test-time adaptation {'/'.join(adapts)}" if adapts != ["none"] else ""
    text = (
        f"protocol {res['protocol']} ({n_folds} folds), dataset {res['dataset']}, classes "
        f"{', '.join(res['classes'])}, normalisation {'/'.join(modes)}{adapted}; "
        f"mean ± std over folds" + (" and seeds" if any(len(r.results) > 1 for r in rows) else "")
    )
    if any(r.subject_dependent for r in rows):
        text = f"**{SUBJECT_DEPENDENT_NOTE}.** " + text
    return text


def _fmt_comp(comp: PairedComparison | None) -> str:
    return "n/a (no common subject)" if comp is None else comp.format()


def _footnote(rows: list[Row], kinds: list[str]) -> str:
    """What the Δ columns and the bold marks mean, for one task's table."""
    refs = references(rows)
    n_subj = max((len(r.subject_scores.get("macro_f1", {})) for r in rows if r.ok), default=0)
    level = f"{CONFIDENCE:.0%}"
    parts = []
    if kinds:
        names = "; ".join(
            f"{dict(REFERENCES)[k]}: `{refs[k].name}`"
            + (
                f" (highest mean macro-F1, {refs[k].values['macro_f1'][0]:.3f}, of the `single` "
                f"rows)"
                if k == "best_single"
                else ""
            )
            for k in kinds
        )
        parts.append(
            f"Δ: paired macro-F1 difference to the reference (this configuration minus the "
            f"reference) over the held-out subjects both scored ({n_subj} here; `n=` where a "
            f"pair shares fewer), "
            f"each subject's score first averaged over seeds; mean difference, {level} BCa "
            f"bootstrap interval ({N_BOOT} resamples of the subjects, seed {BOOT_SEED}) and "
            f"two-sided Wilcoxon signed-rank p, with the Holm-adjusted p over the rows of the "
            f"column where it differs; a difference is resolved when the interval excludes 0 "
            f"and the adjusted p is below {1 - CONFIDENCE:.2f}. References: {names}."
        )
    if 0 < n_subj <= 6:
        parts.append(
            f"With {n_subj} subjects the smallest p the exact Wilcoxon test can give is "
            f"{smallest_wilcoxon_p(n_subj):.3f} (every subject on the same side)."
        )
    if sum(r.ok for r in rows) < 2:
        return " ".join(
            parts + ["**Bold**: the lowest costs; one configuration, no metric comparison."]
        )
    marks = []
    for key, label in METRICS:
        lead = _leader(rows, key)
        if lead is None:
            marks.append(f"{label}: no runner-up, no mark")
            continue
        top, runner, comp = lead
        verdict = (
            "bold"
            if top.best.count(key)
            else (
                "tie, no mark"
                if comp is None and np.isclose(top.values[key][0], runner.values[key][0])
                else "not resolved, no mark"
            )
        )
        marks.append(f"{label}: `{top.name}` − `{runner.name}` {_fmt_comp(comp)}, {verdict}")
    parts.append(
        f"**Bold** in a metric column: the highest value, only where its paired "
        f"difference to the runner-up is resolved ({level} interval above 0 and Wilcoxon "
        f"p below {1 - CONFIDENCE:.2f}). "
        + "; ".join(marks)
        + ". Costs: the lowest value in bold (no test)."
    )
    return " ".join(parts)


def per_subject_table(rows: list[Row], key: str = "macro_f1") -> str:
    """Markdown table subjects × configurations of one task (mean over seeds; last row: mean)."""
    ok = [r for r in rows if r.ok]
    subjects = list(dict.fromkeys(s for r in ok for s in r.subject_scores.get(key, {})))
    if not ok or not subjects:
        return ""
    out = ["| subject | " + " | ".join(r.name for r in ok) + " |", "|" + "---|" * (len(ok) + 1)]
    for s in subjects:
        vals = [r.subject_scores[key].get(s) for r in ok]
        out.append(f"| {s} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |")
    means = [
        np.mean(list(r.subject_scores[key].values())) if r.subject_scores[key] else None for r in ok
    ]
    out.append("| mean | " + " | ".join("-" if m is None else f"{m:.3f}" for m in means) + " |")
    return "\n".join(out)


def markdown_tables(rows: list[Row]) -> str:
    out = []
    for task in dict.fromkeys(r.task for r in rows):
        mine = [r for r in rows if r.task == task]
        refs = references(mine)
        kinds = [k for k, _ in REFERENCES if refs[k] is not None]
        head = header(kinds)
        out += [
            f"### Task {task}",
            "",
            _protocol_line(mine),
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        out += ["| " + " | ".join(_cells(r, kinds)) + " |" for r in mine]
        out += ["", _footnote(mine, kinds), ""]
        subj = per_subject_table(mine)
        if subj:
            out += [
                f"#### Per-subject macro-F1, task {task}",
                "",
                "Macro-F1 on each held-out subject, mean over seeds; last row: mean over subjects.",
                "",
                subj,
                "",
            ]
    return "\n".join(out)


def table_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = [
        "task",
        "configuration",
        "model",
        "modalities",
        "protocol",
        "subject_dependent",
        "status",
        "error",
        "n_seeds",
        "n_folds",
    ]
    for key, _ in METRICS:
        head += [f"{key}_mean", f"{key}_std"]
    head += ["n_subjects"]
    for kind, _ in REFERENCES:
        head += [
            f"vs_{kind}",
            f"delta_vs_{kind}",
            f"delta_vs_{kind}_ci_low",
            f"delta_vs_{kind}_ci_high",
            f"delta_vs_{kind}_p",
            f"delta_vs_{kind}_p_holm",
            f"delta_vs_{kind}_n",
            f"delta_vs_{kind}_resolved",
        ]
    head += [k for k, _ in COSTS] + ["best", "note", "runs"]
    w.writerow(head)
    for r in rows:
        line = [
            r.task,
            r.name,
            r.model,
            " ".join(r.modalities),
            r.results[0]["protocol"] if r.results else "",
            int(r.subject_dependent),
            r.status,
            r.error,
            len(r.results),
            sum(len(x["folds"]) for x in r.results),
        ]
        for key, _ in METRICS:
            m, s = r.values.get(key, (None, None))
            line += ["" if m is None else f"{m:.6f}", "" if s is None else f"{s:.6f}"]
        line.append(len(r.subject_scores.get("macro_f1", {})) if r.ok else "")
        for kind, _ in REFERENCES:
            ref, c = r.vs.get(kind, (None, None))
            line.append(ref.name if ref is not None else "")
            if c is None:
                line += [""] * 7
            else:
                line += (
                    [f"{c.mean_difference:.6f}"]
                    + [
                        f"{v:.6f}" if math.isfinite(v) else ""
                        for v in (c.ci_low, c.ci_high, c.p_value, c.p_adjusted)
                    ]
                    + [c.n, int(c.resolved)]
                )
        line += ["" if not _finite(r.costs.get(k)) else r.costs[k] for k, _ in COSTS]
        line += [";".join(r.best), r.note, ";".join(str(p.name) for p in r.runs)]
        w.writerow(line)
    return buf.getvalue()


def per_subject_csv(rows: list[Row]) -> str:
    """Long CSV: task, configuration, subject, n_seeds and each metric (mean over seeds)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "configuration", "model", "subject", "n_seeds"] + [k for k, _ in METRICS])
    for r in rows:
        if not r.ok:
            continue
        for s in dict.fromkeys(s for scores in r.subject_scores.values() for s in scores):
            n_seeds = sum(
                1
                for res in r.results
                if _finite((res.get("per_subject") or {}).get(s, {}).get("macro_f1"))
            )
            w.writerow(
                [r.task, r.name, r.model, s, n_seeds]
                + [
                    "" if s not in r.subject_scores[k] else f"{r.subject_scores[k][s]:.6f}"
                    for k, _ in METRICS
                ]
            )
    return buf.getvalue()


# ---- figures --------------------------------------------------------------------------------


def _bar_chart(rows: list[Row], path: Path, title: str) -> None:
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


def _heatmap(rows: list[Row], path: Path, title: str) -> None:
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
                if s in res.get("per_subject", {}) and _finite(res["per_subject"][s]["macro_f1"])
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


def _best(rows: list[Row], pred) -> Row | None:
    cands = [r for r in rows if r.ok and pred(r) and r.values["macro_f1"][0] is not None]
    return max(cands, key=lambda r: r.values["macro_f1"][0]) if cands else None


def _pooled_cm(row: Row) -> np.ndarray:
    return np.sum([np.asarray(res["pooled"]["confusion_matrix"]) for res in row.results], axis=0)


def _attention_example(row: Row) -> tuple[dict, str] | None:
    """Attention summary (per class over time) of the first fold of the row's first run."""
    for run in row.runs:
        for path in sorted(run.glob("folds/*/fold.json")):
            rec = read_json(path)
            if rec.get("attention"):
                return rec["attention"], ",".join(rec["test_subjects"])
    return None


# ---- the document ---------------------------------------------------------------------------


def _blocks(rows: list[Row], state: dict, figdir: Path, root: Path) -> list[tuple]:
    from xmodal.evaluation.plots import plot_attention, plot_confusion_matrix

    blocks: list[tuple] = [("h1", f"xmodal benchmark: study {state.get('study')}")]
    if any(r.subject_dependent for r in rows):
        blocks.append(("p", f"**{SUBJECT_DEPENDENT_NOTE}.**"))
    failed = [r for r in rows if r.status == "failed"]
    blocks.append(
        (
            "p",
            f"{len([r for r in rows if r.ok])} configurations finished, "
            f"{len(failed)} failed"
            + (
                f"; wall time of the last invocation {state['wall_s']:.0f} s"
                if state.get("wall_s")
                else ""
            )
            + ". Tables also in `table.md`, `table.csv` and `per_subject.csv`.",
        )
    )
    blocks.append(("md", markdown_tables(rows)))
    figdir.mkdir(parents=True, exist_ok=True)
    for task in dict.fromkeys(r.task for r in rows):
        mine = [r for r in rows if r.task == task]
        if not any(r.ok for r in mine):
            continue
        tag = " (subject-dependent)" if any(r.subject_dependent for r in mine) else ""
        blocks.append(("h2", f"Task {task}{tag}"))
        f = figdir / f"macro_f1_{task}.png"
        _bar_chart(
            mine,
            f,
            f"macro-F1 per configuration, task {task}{tag} (red: cross-modal, "
            f"green: classical features, blue: other baselines)",
        )
        blocks.append(
            ("img", f, "Macro-F1 per configuration; error bars: std over folds (and seeds).")
        )
        deep = _best(mine, lambda r: r.model != "features")
        base = _best(mine, lambda r, deep=deep: r.model not in PROPOSED and r is not deep)
        for label, row, stem in (
            ("best deep model", deep, "best_deep"),
            ("best baseline", base, "best_baseline"),
        ):
            if row is None:
                continue
            f = figdir / f"confusion_{stem}_{task}.png"
            plot_confusion_matrix(
                _pooled_cm(row),
                row.results[0]["classes"],
                f,
                f"{label}: {row.name} ({task}{tag}), pooled",
            )
            blocks.append(
                (
                    "img",
                    f,
                    f"Pooled confusion matrix of the {label} `{row.name}` "
                    f"(mean macro-F1 {row.values['macro_f1'][0]:.3f}; baselines: "
                    f"every configuration without cross-modal connections).",
                )
            )
        f = figdir / f"per_subject_{task}.png"
        _heatmap(mine, f, f"per-subject macro-F1, task {task}{tag}")
        blocks.append(("img", f, "Macro-F1 on each held-out subject (configurations × subjects)."))
        att = _best(mine, lambda r: r.model == "attentive")
        example = _attention_example(att) if att else None
        if example:
            f = figdir / f"attention_{task}.png"
            plot_attention(
                example[0],
                att.results[0]["classes"],
                f,
                f"{att.name}: attention per class, test subject {example[1]}",
            )
            blocks.append(
                (
                    "img",
                    f,
                    f"Attention weights of the best attentive model `{att.name}` "
                    f"(mean over channels), averaged per class over the window, "
                    f"on the test windows of subject {example[1]}.",
                )
            )
    blocks.append(("h2", "Command and configuration"))
    if state.get("command"):
        blocks.append(("code", "xmodal " + " ".join(_quote(a) for a in state["command"][1:])))
    blocks.append(
        (
            "p",
            "Base configuration (every configuration applies its changes to it; "
            "each run's full configuration is in `runs/<name>/config.toml`):",
        )
    )
    blocks.append(("code", _toml(state.get("base_config", {}))))
    if state.get("configurations"):
        blocks.append(("p", "Configurations of the study (changes to the base):"))
        blocks.append(
            (
                "code",
                "\n".join(
                    f"{c['name']}: {json.dumps(c['overrides'])}" for c in state["configurations"]
                ),
            )
        )
    for r in failed:
        blocks.append(("p", f"`{r.name}` ({r.task}) failed: {r.error}"))
    return blocks


def _quote(arg: str) -> str:
    return arg if arg and all(ch.isalnum() or ch in "-_./=:," for ch in arg) else repr(arg)


def _toml(d: dict) -> str:
    try:
        import tomli_w

        return tomli_w.dumps(d)
    except Exception:  # noqa: BLE001
        return json.dumps(d, indent=2)


def _render_md(blocks, root: Path) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            out.append(f"# {b[1]}\n")
        elif kind == "h2":
            out.append(f"## {b[1]}\n")
        elif kind in ("p", "md"):
            out.append(b[1] + "\n")
        elif kind == "code":
            out.append("```\n" + b[1].rstrip() + "\n```\n")
        elif kind == "img":
            out.append(f"![{b[2]}]({b[1].relative_to(root).as_posix()})\n\n{b[2]}\n")
    return "\n".join(out)


def _inline(text: str) -> str:
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _md_table_html(text: str) -> str:
    out, in_table = [], False
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            if set(line) <= set("|-"):
                continue
            if not in_table:
                out.append(
                    "<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in cells) + "</tr>"
                )
                in_table = True
            else:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("### "):
            out.append(f"<h3>{_inline(line[4:])}</h3>")
        elif line.startswith("#### "):
            out.append(f"<h4>{_inline(line[5:])}</h4>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out)


def _render_html(blocks, title: str) -> str:
    body = []
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            body.append(f"<h1>{_inline(b[1])}</h1>")
        elif kind == "h2":
            body.append(f"<h2>{_inline(b[1])}</h2>")
        elif kind == "p":
            body.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "md":
            body.append(_md_table_html(b[1]))
        elif kind == "code":
            body.append(f"<pre>{html.escape(b[1])}</pre>")
        elif kind == "img":
            data = base64.b64encode(Path(b[1]).read_bytes()).decode("ascii")
            body.append(
                f'<figure><img alt="{html.escape(b[2])}" src="data:image/png;base64,'
                f'{data}"><figcaption>{_inline(b[2])}</figcaption></figure>'
            )
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 6px}img{max-width:100%}pre{background:#f4f4f4;padding:8px;"
        "overflow-x:auto}"
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(path: Path) -> list[Path]:
    """Write tables, figures and report of a benchmark folder (or a run folder); return files."""
    path = Path(path)
    rows, state = collect(path)
    written = []
    if state.get("single_run"):
        from xmodal.evaluation.plots import write_run_plots
        from xmodal.evaluation.run_outputs import fold_records

        written += write_run_plots(path, rows[0].results[0], fold_records(path))
    else:
        atomic_write_text(path / "table.md", "# Benchmark table\n\n" + markdown_tables(rows))
        atomic_write_text(path / "table.csv", table_csv(rows))
        atomic_write_text(path / "per_subject.csv", per_subject_csv(rows))
        written += [path / "table.md", path / "table.csv", path / "per_subject.csv"]
    figdir = path / ("report_figures" if state.get("single_run") else "figures")
    blocks = _blocks(rows, state, figdir, path)
    atomic_write_text(path / "report.md", _render_md(blocks, path))
    atomic_write_text(path / "report.html", _render_html(blocks, f"xmodal report: {path.name}"))
    written += [path / "report.md", path / "report.html"]
    return written

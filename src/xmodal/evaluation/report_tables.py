"""Rows as text: the Markdown tables of ``table.md`` and the report, ``table.csv`` and
``per_subject.csv`` (every subject's scores, mean over seeds)."""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from xmodal.evaluation.benchmark_rows import (
    BOOT_SEED,
    CONFIDENCE,
    COSTS,
    METRICS,
    N_BOOT,
    REFERENCES,
    SUBJECT_DEPENDENT_NOTE,
    Row,
    finite,
    leader,
    references,
)
from xmodal.evaluation.statistics import (
    PairedComparison,
    smallest_wilcoxon_p,
)


def _fmt_cost(key: str, v) -> str:
    if not finite(v):
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
        lead = leader(rows, key)
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
        line += ["" if not finite(r.costs.get(k)) else r.costs[k] for k, _ in COSTS]
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
                if finite((res.get("per_subject") or {}).get(s, {}).get("macro_f1"))
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

"""A benchmark's configurations as table rows: collected from its saved files
(``benchmark.json``, ``runs/*/results.json``, ``runs/*/folds/*/fold.json``), compared per
held-out subject (:mod:`xmodal.evaluation.statistics`) and ranked.

Each row gets the paired macro-F1 difference to the best single-modality configuration and to
the ``features`` configuration (BCa bootstrap interval, Wilcoxon p Holm-adjusted over the rows
of the column); a metric's best value is marked only where its paired difference to the
runner-up is resolved (bootstrap interval above 0 and Wilcoxon p < 0.05).
"""

from __future__ import annotations

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
)
from xmodal.files import read_json

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


def finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _fill(row: Row) -> None:
    folds = [f for r in row.results for f in r["folds"]]
    for key, _ in METRICS:
        vals = np.array([f[key] for f in folds if finite(f.get(key))], dtype=float)
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
        "best_single": best_row(rows, lambda r: r.model == "single"),
        "features": (
            next((r for r in feats if r.name == "features"), None)
            or best_row(rows, lambda r: r.model == "features")
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


def leader(rows: list[Row], key: str) -> tuple[Row, Row, PairedComparison | None] | None:
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
            lead = leader(mine, key)
            if lead is not None and lead[2] is not None and lead[2].resolved:
                lead[0].best.append(key)
        for key, _ in COSTS:
            vals = [r.costs[key] for r in mine if finite(r.costs.get(key))]
            if vals:
                for r in mine:
                    if finite(r.costs.get(key)) and np.isclose(r.costs[key], min(vals)):
                        r.best.append(key)


def best_row(rows: list[Row], pred) -> Row | None:
    cands = [r for r in rows if r.ok and pred(r) and r.values["macro_f1"][0] is not None]
    return max(cands, key=lambda r: r.values["macro_f1"][0]) if cands else None

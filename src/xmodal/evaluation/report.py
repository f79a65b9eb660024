"""The benchmark report: ``table.md``, ``table.csv``, ``per_subject.csv``, ``report.md`` and
``report.html`` with its figures, written from saved files only.

Everything reads ``benchmark.json``, ``runs/*/results.json`` and ``runs/*/folds/*/fold.json``,
so ``xmodal report DIR`` regenerates it without training. A single run folder (``xmodal report
RUN``) is reported as a one-row benchmark; its plots are rewritten. The parts: rows and their
paired comparisons (:mod:`~xmodal.evaluation.benchmark_rows`), tables and CSV
(:mod:`~xmodal.evaluation.report_tables`), figures (:mod:`~xmodal.evaluation.report_figures`)
and the HTML page (:mod:`~xmodal.evaluation.markdown_html`).
"""

from __future__ import annotations

import json
from pathlib import Path

from xmodal.evaluation.benchmark_rows import (
    PROPOSED,
    SUBJECT_DEPENDENT_NOTE,
    Row,
    best_row,
    collect,
)
from xmodal.evaluation.markdown_html import render_html
from xmodal.evaluation.report_figures import attention_example, bar_chart, heatmap, pooled_confusion
from xmodal.evaluation.report_tables import markdown_tables, per_subject_csv, table_csv
from xmodal.files import atomic_write_text


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
        bar_chart(
            mine,
            f,
            f"macro-F1 per configuration, task {task}{tag} (red: cross-modal, "
            f"green: classical features, blue: other baselines)",
        )
        blocks.append(
            ("img", f, "Macro-F1 per configuration; error bars: std over folds (and seeds).")
        )
        deep = best_row(mine, lambda r: r.model != "features")
        base = best_row(mine, lambda r, deep=deep: r.model not in PROPOSED and r is not deep)
        for label, row, stem in (
            ("best deep model", deep, "best_deep"),
            ("best baseline", base, "best_baseline"),
        ):
            if row is None:
                continue
            f = figdir / f"confusion_{stem}_{task}.png"
            plot_confusion_matrix(
                pooled_confusion(row),
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
        heatmap(mine, f, f"per-subject macro-F1, task {task}{tag}")
        blocks.append(("img", f, "Macro-F1 on each held-out subject (configurations × subjects)."))
        att = best_row(mine, lambda r: r.model == "attentive")
        example = attention_example(att) if att else None
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
    atomic_write_text(path / "report.html", render_html(blocks, f"xmodal report: {path.name}"))
    written += [path / "report.md", path / "report.html"]
    return written

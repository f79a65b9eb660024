"""Tables of the wrist-sensor studies: per-subject macro-F1, the per-person oracle of the single
sensors, paired statistics and the time of each leave-one-subject-out run.

    python -m benchmarks.wrist_tables BENCH [BENCH ...] [--responders DATA/responders.json]

``BENCH`` are ``xmodal benchmark --out`` folders (their runs are pooled, so the single-sensor
runs of one study and the fusion runs of another form one table; a configuration, task and seed
found again in a later folder is not counted twice). Per configuration and task:
the mean over subjects of each subject's macro-F1 (averaged over seeds), the worst subject, the
mean gap to the subject's own best single sensor (``single-*`` configurations; their mean is the
per-person oracle), the worst such gap, and the seconds per run (preprocessing + training, mean
over seeds). Then the paired comparison (:func:`xmodal.evaluation.statistics.paired_comparison`)
of every configuration against the best single sensor on average and against each ``features``
configuration, and the per-subject table. With ``--responders`` each subject's drawn response
profile is printed beside it.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from xmodal.evaluation.statistics import format_p, mean_over_seeds, paired_comparison

#: the two sensors of the default wrist fusion; their oracle is printed beside the full one
_PAIR = ("single-BVP", "single-EDA")


def load_runs(benches: list[Path]) -> dict[tuple[str, str], list[dict]]:
    """``(configuration, task)`` -> the ``results.json`` of its finished runs (all seeds)."""
    runs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    seen = set()
    for bench in benches:
        entries = json.loads((bench / "benchmark.json").read_text())["entries"]
        for e in entries:
            path = bench / e["run"] / "results.json"
            key = (e["configuration"], e["task"], e.get("seed", 0))
            if e["status"] == "done" and path.is_file() and key not in seen:
                seen.add(key)  # the same seed in a later folder repeats a run: the first counts
                runs[(e["configuration"], e["task"])].append(json.loads(path.read_text()))
    return runs


def _seconds(results: list[dict]) -> float:
    return float(np.mean([r["timing"]["preprocess_s"] + r["timing"]["train_s"] for r in results]))


def task_tables(runs: dict, task: str, profiles: dict | None = None) -> str:
    """The markdown tables of one task."""
    configs = [c for (c, t) in runs if t == task]
    if not configs:
        return ""
    scores = {c: mean_over_seeds(runs[(c, task)]) for c in configs}
    seeds = {c: len(runs[(c, task)]) for c in configs}
    singles = [c for c in configs if c.startswith("single-")]
    subjects = list(dict.fromkeys(s for c in configs for s in scores[c]))
    oracle = {}
    if singles:
        for s in subjects:
            vals = [scores[c][s] for c in singles if s in scores[c]]
            if vals:
                oracle[s] = max(vals)
    lines = [f"### {task}", ""]
    if oracle:
        lines.append(
            f"Per-person oracle (best of {', '.join(singles)} per subject): "
            f"**{np.mean(list(oracle.values())):.3f}** over {len(oracle)} subjects."
        )
        pair = [c for c in _PAIR if c in singles]
        if len(pair) == len(_PAIR) < len(singles):
            best = [max(scores[c][s] for c in pair) for s in oracle]
            lines.append(f"Oracle of {' and '.join(pair)} only: **{np.mean(best):.3f}**.")
        lines.append("")
    lines += [
        "| configuration | seeds | macro-F1 | worst subject | mean gap to own best single "
        "| worst gap | s per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in configs:
        sc = scores[c]
        gaps = [sc[s] - oracle[s] for s in sc if s in oracle]
        worst = min(sc, key=sc.get)
        gap = f"{np.mean(gaps):+.3f}" if gaps else "–"
        wgap = f"{min(gaps):+.3f}" if gaps else "–"
        lines.append(
            f"| `{c}` | {seeds[c]} | {np.mean(list(sc.values())):.3f} | {sc[worst]:.3f} ({worst}) "
            f"| {gap} | {wgap} | {_seconds(runs[(c, task)]):.0f} |"
        )
    refs = []
    if singles:
        refs.append(max(singles, key=lambda c: np.mean(list(scores[c].values()))))
    refs += [c for c in configs if c.startswith("features-")]
    for ref in refs:
        lines += ["", f"Paired against `{ref}` (difference, 95 % bootstrap interval, Wilcoxon p):"]
        lines += ["", "| configuration | Δ |", "|---|---|"]
        for c in configs:
            if c == ref:
                continue
            pc = paired_comparison(scores[c], scores[ref])
            lines.append(
                f"| `{c}` | {pc.mean_difference:+.3f} [{pc.ci_low:+.3f}, {pc.ci_high:+.3f}] {format_p(pc.p_value)} |"
            )
    lines += ["", "Per subject:", ""]
    head = "| subject |" + ("" if profiles is None else " profile |")
    lines.append(head + "".join(f" {c} |" for c in configs) + " oracle |")
    lines.append("|---|" + ("" if profiles is None else "---|") + "---|" * (len(configs) + 1))
    for s in subjects:
        row = f"| {s} |"
        if profiles is not None:
            row += f" {profiles.get(s, {}).get('responding', '')} |"
        row += "".join(f" {scores[c][s]:.3f} |" if s in scores[c] else " – |" for c in configs)
        row += f" {oracle[s]:.3f} |" if s in oracle else " – |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", nargs="+", type=Path)
    parser.add_argument("--responders", type=Path, help="responders.json of the dataset")
    args = parser.parse_args(argv)
    runs = load_runs(args.bench)
    profiles = None
    if args.responders:
        profiles = json.loads(args.responders.read_text())["subjects"]
    tasks = list(dict.fromkeys(t for (_, t) in runs))
    print("\n".join(task_tables(runs, t, profiles) for t in tasks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

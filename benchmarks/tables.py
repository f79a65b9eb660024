"""Renderers of the published tables: compact raw results (``benchmarks/results/*.json``) to
Markdown.

Every renderer takes the table's options (``[[reproduce.table]]`` of its study file) and the
compact results that :func:`benchmarks.reproduce.collect` wrote, and returns the Markdown block
the documentation holds between the table's markers. The statistics are those of
``xmodal report`` (:mod:`xmodal.evaluation.statistics`): each subject's score is first averaged
over seeds; a Δ is the paired per-subject difference with its BCa bootstrap interval and
Wilcoxon p, Holm-adjusted over the rows of its column.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from xmodal.evaluation.statistics import (
    PairedComparison,
    holm_adjust_comparisons,
    mean_over_seeds,
    paired_comparison,
    smallest_wilcoxon_p,
)

#: bootstrap settings of every published comparison (fixed: tables are reproducible)
N_BOOT = 10000
BOOT_SEED = 0
CONFIDENCE = 0.95


class TableError(ValueError):
    """The options of a table do not fit its results (unknown configuration, task, ...)."""


def runs_of(results: dict, task: str, configuration: str) -> list[dict]:
    """The finished runs (one per seed) of a configuration and task."""
    return [
        r
        for r in results["runs"]
        if r["task"] == task and r["configuration"] == configuration and r["status"] == "done"
    ]


def subject_scores(results: dict, task: str, configuration: str, metric: str) -> dict:
    """``{subject: score}``, each subject's score averaged over the configuration's seeds."""
    runs = runs_of(results, task, configuration)
    if not runs:
        raise TableError(
            f"no finished run of configuration {configuration!r}, task {task!r} in the results"
        )
    return mean_over_seeds(runs, metric)


def _mean(scores: dict) -> float:
    return float(np.mean(list(scores.values()))) if scores else math.nan


def _compare(a: dict, b: dict) -> PairedComparison | None:
    try:
        return paired_comparison(a, b, n_boot=N_BOOT, seed=BOOT_SEED, confidence=CONFIDENCE)
    except ValueError:
        return None


def _delta(comp: PairedComparison | None) -> str:
    if comp is None:
        return "n/a"
    return comp.format() + (" **resolved**" if comp.resolved else "")


def _pairs(options: dict, key: str) -> list[tuple[str, str]]:
    """``[[configuration, label], ...]`` of the options (a bare name is its own label)."""
    out = []
    for item in options.get(key, []):
        conf, label = (item, item) if isinstance(item, str) else (item[0], item[1])
        out.append((str(conf), str(label)))
    return out


def _subjects(results: dict) -> list[str]:
    return list(dict.fromkeys(s for r in results["runs"] for s in r.get("per_subject", {})))


def notes(
    results: dict,
    options: dict,
    subjects: list[str],
    compared: bool,
    difference: str = "row minus reference",
) -> list[str]:
    """The lines under a table: what Δ means (``difference``: which score minus which), the
    smallest p, the data and the results file."""
    n = len(subjects)
    seeds = sorted({len(runs_of(results, r["task"], r["configuration"])) for r in results["runs"]})
    metric = options.get("metric_label", "macro-F1")
    lines = [
        f"{metric} per held-out subject, mean over "
        f"{'/'.join(map(str, seeds))} seed{'s' * (seeds != [1])}, then over the {n} subjects "
        f"({', '.join(subjects)})."
    ]
    if compared:
        lines.append(
            f"Δ: paired per-subject difference ({difference}), {CONFIDENCE:.0%} BCa "
            f"bootstrap interval ({N_BOOT} resamples of the subjects, seed {BOOT_SEED}) and "
            f"two-sided Wilcoxon p, with the Holm-adjusted p over the rows of the column where "
            f"it differs; **resolved**: the interval excludes 0 and the adjusted p is below "
            f"{1 - CONFIDENCE:.2f}."
            + (
                f" With {n} subjects the smallest p the exact test can give is "
                f"{smallest_wilcoxon_p(n):.3f}."
                if 0 < n <= 6
                else ""
            )
        )
    if results.get("transductive_subjects"):
        lines.append(
            "**Transductive**: pretraining read the unlabelled signal of evaluated subjects "
            + ", ".join(results["transductive_subjects"])
            + "."
        )
    if results.get("source"):
        lines.append(f"Data: {results['source']}")
    machine = results.get("machine") or {}
    versions = ", ".join(results.get("xmodal_versions", [])) or "n/a"
    lines.append(
        f"Raw results: `benchmarks/results/{results['study_name']}.json` (xmodal {versions}; "
        f"{machine.get('cpu') or 'machine n/a'}"
        + (
            f", load average {machine['load_avg_start']} at start"
            + (f", {machine['load_avg_end']} at end" if machine.get("load_avg_end") else "")
            if machine.get("load_avg_start")
            else ""
        )
        + f"); regenerate with `python -m benchmarks.reproduce {options['name']}`."
    )
    return lines


def comparison(results: dict, options: dict) -> str:
    """Rows = configurations, per task: mean score and Δ to each reference.

    Options: ``tasks``, ``rows`` and ``references`` (``[configuration, label]`` pairs),
    ``metric`` (default ``macro_f1``), ``worst`` (a column with the lowest subject's score).
    """
    metric = options.get("metric", "macro_f1")
    tasks = list(options.get("tasks") or results["tasks"])
    rows = _pairs(options, "rows")
    refs = _pairs(options, "references")
    worst = bool(options.get("worst"))
    head = [options.get("row_header", "configuration")]
    for task in tasks:
        head.append(task)
        if worst:
            head.append(f"{task} worst subject")
        head += [f"Δ vs {label}" for _, label in refs]
    cells = {conf: [label] for conf, label in rows}
    for task in tasks:
        scores = {conf: subject_scores(results, task, conf, metric) for conf, _ in rows}
        for ref, _ in refs:
            scores.setdefault(ref, subject_scores(results, task, ref, metric))
        deltas: dict[str, list[str]] = {conf: [] for conf, _ in rows}
        for ref, _ in refs:
            others = [conf for conf, _ in rows if conf != ref]
            comps = holm_adjust_comparisons([_compare(scores[c], scores[ref]) for c in others])
            found = dict(zip(others, comps))
            for conf, _ in rows:
                deltas[conf].append("–" if conf == ref else _delta(found[conf]))
        for conf, _ in rows:
            cells[conf].append(f"{_mean(scores[conf]):.3f}")
            if worst:
                low = min(scores[conf], key=scores[conf].get)
                cells[conf].append(f"{scores[conf][low]:.3f} ({low})")
            cells[conf] += deltas[conf]
    lines = _table(head, [cells[conf] for conf, _ in rows])
    return "\n".join(lines + [""] + notes(results, options, _subjects(results), bool(refs)))


def per_subject(results: dict, options: dict) -> str:
    """Per task: rows = configurations, columns = subjects, mean, Δ to one reference.

    Options: ``tasks`` (with ``task_labels``), ``rows``, ``reference`` (a configuration).
    """
    metric = options.get("metric", "macro_f1")
    rows = _pairs(options, "rows")
    ref = options.get("reference")
    labels = options.get("task_labels", {})
    subjects = _subjects(results)
    out: list[str] = []
    for task in options.get("tasks") or results["tasks"]:
        scores = {conf: subject_scores(results, task, conf, metric) for conf, _ in rows}
        if ref and ref not in scores:
            scores[ref] = subject_scores(results, task, ref, metric)
        head = [options.get("row_header", "configuration"), *subjects, "mean"]
        found: dict[str, PairedComparison | None] = {}
        if ref:
            head.append(f"Δ vs {dict(rows).get(ref, ref)}")
            others = [conf for conf, _ in rows if conf != ref]
            comps = holm_adjust_comparisons([_compare(scores[c], scores[ref]) for c in others])
            found = dict(zip(others, comps))
        body = []
        for conf, label in rows:
            line = [label] + [
                f"{scores[conf][s]:.3f}" if s in scores[conf] else "-" for s in subjects
            ]
            line.append(f"{_mean(scores[conf]):.3f}")
            if ref:
                line.append("–" if conf == ref else _delta(found[conf]))
            body.append(line)
        out += [f"{labels.get(task, task)}:", ""] + _table(head, body) + [""]
    return "\n".join(out + notes(results, options, subjects, bool(ref)))


def ablation(results: dict, options: dict) -> str:
    """Rows = configurations, per task: mean score and the worst subject's difference to that
    subject's best single configuration; seeds; training seconds per run.

    Options: ``tasks``, ``rows`` (default: every configuration in study order), ``singles``
    (the single-sensor configurations a subject's best is taken from), ``oracle`` (with
    ``singles``: a first row with the per-person oracle, the mean over subjects of each
    subject's best single sensor, and a column with each row's difference to it).
    """
    metric = options.get("metric", "macro_f1")
    tasks = list(options.get("tasks") or results["tasks"])
    rows = _pairs(options, "rows") or [
        (c, c) for c in dict.fromkeys(r["configuration"] for r in results["runs"])
    ]
    singles = list(options.get("singles", []))
    oracle = bool(options.get("oracle")) and bool(singles)
    best: dict[str, dict[str, float]] = {}
    for task in tasks:
        best[task] = {}
        for single in singles:
            for s, v in subject_scores(results, task, single, metric).items():
                best[task][s] = max(best[task].get(s, -math.inf), v)
    per_task = 1 + bool(singles) + oracle
    head = ["configuration"]
    for task in tasks:
        head += [f"{task} {options.get('metric_label', 'macro-F1')}"]
        head += [f"{task} worst Δ"] if singles else []
        head += [f"{task} Δ oracle"] if oracle else []
    head += ["seeds", f"training s per run ({' / '.join(tasks)})"]
    body = []
    if oracle:
        line = ["per-person oracle (each subject's best single sensor)"]
        for task in tasks:
            line += [f"{_mean(best[task]):.3f}", "–", "–"]
        body.append(line + ["", ""])
    for conf, label in rows:
        line = [label]
        n_seeds, train_s = [], []
        for task in tasks:
            runs = runs_of(results, task, conf)
            if not runs:
                line += ["n/a"] * per_task
                n_seeds.append(0)
                train_s.append("n/a")
                continue
            scores = mean_over_seeds(runs, metric)
            low = best[task]
            worst = min((scores[s] - low[s] for s in scores if s in low), default=math.nan)
            line.append(f"{_mean(scores):.3f}")
            if singles:
                line.append(f"{worst:+.3f}" if math.isfinite(worst) else "n/a")
            if oracle:
                line.append(f"{_mean(scores) - _mean(low):+.3f}")
            n_seeds.append(len(runs))
            secs = [r["timing"]["train_s"] for r in runs if (r.get("timing") or {}).get("train_s")]
            train_s.append(f"{np.mean(secs):.0f}" if secs else "n/a")
        line += ["/".join(map(str, sorted(set(n_seeds)))), " / ".join(train_s)]
        body.append(line)
    text = _table(head, body)
    text += [
        "",
        (
            "Worst Δ: the lowest, over subjects, of the configuration's score minus that "
            f"subject's best single sensor ({', '.join(f'`{s}`' for s in singles)}). "
            if singles
            else ""
        )
        + (
            "Δ oracle: the configuration's mean minus the per-person oracle's (the mean over "
            "subjects of each subject's best single sensor, chosen knowing the test labels). "
            if oracle
            else ""
        )
        + "Training seconds: mean over seeds of one LOSO run (all folds; timings of a shared "
        "machine are indicative).",
    ]
    return "\n".join(text + notes(results, options, _subjects(results), False))


def paired(results: dict, options: dict) -> str:
    """Rows = pairs of configurations, per task: the paired per-subject difference (first
    minus second), Holm-adjusted over the rows of each task's column.

    Options: ``tasks`` (with ``task_labels``), ``pairs`` (``[first, second, label]``).
    """
    metric = options.get("metric", "macro_f1")
    tasks = list(options.get("tasks") or results["tasks"])
    labels = options.get("task_labels", {})
    pairs = [(str(a), str(b), str(label)) for a, b, label in options.get("pairs", [])]
    if not pairs:
        raise TableError("a paired table needs pairs = [[first, second, label], ...]")
    columns = []
    for task in tasks:
        comps = [
            _compare(
                subject_scores(results, task, a, metric), subject_scores(results, task, b, metric)
            )
            for a, b, _ in pairs
        ]
        columns.append(holm_adjust_comparisons(comps))
    head = [options.get("row_header", "comparison")] + [
        f"{labels.get(task, task)} Δ" for task in tasks
    ]
    body = [[label] + [_delta(col[i]) for col in columns] for i, (_, _, label) in enumerate(pairs)]
    difference = "the first configuration of each row minus the second"
    notes_lines = notes(results, options, _subjects(results), True, difference)
    return "\n".join(_table(head, body) + [""] + notes_lines)


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(c.replace("|", "/") for c in line) + " |" for line in body
    ]


def bench(results: dict, options: dict) -> str:
    """The tables of ``python -m benchmarks.run`` (``bench.md``) from its committed ``bench.json``."""
    from benchmarks.report import markdown

    return "\n".join(
        [
            markdown(results["bench"]).strip(),
            "",
            f"Raw results: `benchmarks/results/{results['study_name']}.json` (the `bench.json` of "
            f"xmodal {', '.join(results.get('xmodal_versions', [])) or 'n/a'}); regenerate with "
            f"`python -m benchmarks.reproduce {options['name']}`.",
        ]
    )


def _raw_results(results: dict, options: dict) -> str:
    """The line naming a script study's results file, its machine and how to regenerate."""
    machine = results.get("machine") or {}
    return (
        f"Raw results: `benchmarks/results/{results['study_name']}.json` (xmodal "
        f"{', '.join(results.get('xmodal_versions', [])) or 'n/a'}; "
        f"{machine.get('cpu') or 'machine n/a'}, load average "
        f"{machine.get('load_avg_start', 'n/a')} at start); regenerate with "
        f"`python -m benchmarks.reproduce {options['name']}`."
    )


def layouts(results: dict, options: dict) -> str:
    """Two layouts of the same recordings (``python -m benchmarks.e4_equivalence``): per task,
    each layout's mean macro-F1 and the paired per-subject difference (E4 minus WESAD)."""
    training = results["result"]["training"]
    body = []
    subjects: list[str] = []
    for task, label in _pairs(options, "tasks"):
        if task not in training:
            raise TableError(f"no training of {task!r} in the results")
        wesad, e4 = training[task]["macro_f1"]["wesad"], training[task]["macro_f1"]["e4"]
        subjects = list(wesad)
        body.append(
            [
                label,
                f"{_mean(wesad):.3f}",
                f"{_mean(e4):.3f}",
                _delta(_compare(e4, wesad)),
                ", ".join(f"{e4[s] - wesad[s]:+.3f}" for s in wesad),
            ]
        )
    head = [
        "task",
        "WESAD layout",
        "E4 layout",
        "E4 − WESAD",
        f"per subject ({', '.join(subjects)})",
    ]
    n = len(subjects)
    return "\n".join(
        [
            *_table(head, body),
            "",
            f"macro-F1 per held-out subject, one run per layout and task, mean over the {n} "
            f"subjects. E4 − WESAD: paired per-subject difference, {CONFIDENCE:.0%} BCa bootstrap "
            f"interval ({N_BOOT} resamples of the subjects, seed {BOOT_SEED}) and two-sided "
            f"Wilcoxon p; with {n} subjects the smallest p the exact test can give is "
            f"{smallest_wilcoxon_p(n):.3f}.",
            _raw_results(results, options),
        ]
    )


def _span(values: list[int]) -> str:
    """``"a"`` or ``"a–b"`` of integers, with thousands separators."""
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def layouts_data(results: dict, options: dict) -> str:
    """Two layouts of the same recordings, sample by sample and window by window
    (``python -m benchmarks.e4_equivalence``): which signal samples and label codes agree, and
    how the windows of each task shift."""
    result = results["result"]
    samples, windows = result["samples"], result["windows"]
    subjects = list(samples)
    names = sorted({m for s in samples.values() for m in s["signals"]})
    compared = sum(v["compared"] for s in samples.values() for v in s["signals"].values())
    same = sum(v["identical"] for s in samples.values() for v in s["signals"].values())
    largest = max(v["max_abs_diff"] for s in samples.values() for v in s["signals"].values())
    first = subjects[0]
    example = samples[first]["signals"]
    offsets = [s["offset_s"] for s in samples.values()]
    if same == compared:
        signals = (
            f"every wrist sample ({', '.join(n.split('.')[-1] for n in names)}) of each WESAD "
            f"pickle equals the E4 export's sample at the same moment, for all "
            f"{len(subjects)} subjects ({first}: "
            + " and ".join(
                f"{example[m]['compared']:,} {m.split('.')[-1]}"
                for m in names
                if m in example and m.endswith(("BVP", "EDA"))
            )
            + " samples, all identical)"
        )
    else:
        signals = (
            f"{compared - same:,} of {compared:,} wrist samples differ between the layouts "
            f"(largest difference {largest:g})"
        )
    labels = [s["labels"] for s in samples.values()]
    label_text = (
        f"the label codes on the e4 adapter's 10-Hz grid differ in "
        f"{_span([x['different'] for x in labels])} of "
        f"{_span([x['compared'] for x in labels])} samples per subject, and "
        + (
            "no E4 sample outside the overlap is labelled"
            if not any(x["e4_labelled_outside_overlap"] for x in labels)
            else f"{sum(x['e4_labelled_outside_overlap'] for x in labels):,} E4 samples "
            "outside the overlap are labelled"
        )
    )
    task = options.get("windows_task", "binary")
    shifts: dict[float, list[str]] = {}
    for subject, w in windows[task].items():
        shifts.setdefault(w["grid_shift_s"], []).append(subject)
    same_count = [
        s for s, w in windows[task].items() if w["e4"]["windows"] == w["wesad"]["windows"]
    ]
    fewer = [
        f"{s} {w['e4']['windows']} vs {w['wesad']['windows']}"
        for s, w in windows[task].items()
        if w["e4"]["windows"] != w["wesad"]["windows"]
    ]
    return "\n".join(
        [
            f"The E4 exports start {_span([int(o) for o in offsets])} s before the WESAD pickles.",
            "",
            f"- **Signals and labels**: {signals}; {label_text}.",
            "- **Windows**: t = 0 of the E4 layout is the E4's start, so its 10-s grid is shifted "
            "against the WESAD layout's by the offset modulo 10 s: "
            + ", ".join(f"{shift:g} s ({', '.join(subs)})" for shift, subs in shifts.items())
            + f". The labelled {task} windows per subject are the same number"
            + (f" ({', '.join(same_count)})" if same_count else " for none")
            + (f" or differ in the E4 layout ({', '.join(fewer)})" if fewer else "")
            + ".",
            "",
            _raw_results(results, options),
        ]
    )


def layouts_predictions(results: dict, options: dict) -> str:
    """One subject's recording predicted from each layout (``python -m
    benchmarks.e4_equivalence``): folder against zip, and against the WESAD pickle under the
    run's normalisation and window by window."""
    p = results["result"]["predictions"]
    counts = p["windows"]
    zip_text = (
        "identical probabilities"
        if p["folder_equals_zip"]
        else f"probabilities that differ by up to {p['max_abs_diff_folder_zip']:g}"
    )
    rec, win = p["vs_wesad"]["recording"], p["vs_wesad"]["window"]
    d_rec, d_win = rec["p_stress_abs_diff"], win["p_stress_abs_diff"]
    return "\n".join(
        [
            f"**Predictions** (the {p['subject']} model above, a window every {p['hop_s']:g} s): "
            f"the session as a folder and as a zip gives {zip_text} ({counts['folder']:,} "
            f"windows, largest difference {p['max_abs_diff_folder_zip']:g}). Against the WESAD "
            f"pickle at the same {rec['matched_windows']:,} moments, p(stress) differs by a "
            f"median of {d_rec['median']:.3f} (mean {d_rec['mean']:.3f}, largest "
            f"{d_rec['max']:.2f}; {rec['same_predicted_class']:.0%} the same class) under the "
            f"run's whole-recording z-scoring; z-scored window by window (`--normalize window`) "
            f"it differs by at most {d_win['max_after_first_window']:.2g} "
            f"({d_win['max']:.2g} in the first window, which has no filter context in the "
            f"pickle) and {win['same_predicted_class']:.0%} of the windows get the same class.",
            "",
            _raw_results(results, options),
        ]
    )


def stacked_step(results: dict, options: dict) -> str:
    """One training step of the ensemble, members one after another against stacked, per
    precision (``python -m benchmarks.stacked_step``), in CPU time."""
    result = results["result"]
    preset = options.get("preset", "efficient")
    if preset not in result:
        raise TableError(f"no preset {preset!r} in the results")
    head = [
        "precision",
        "one after another, ms/step",
        "stacked, ms/step",
        "speedup",
        "ratio to matmul peak (all members' FLOPs)",
    ]
    body = [
        [
            precision,
            f"{1000 * r['one_after_another_cpu_s_per_step']:.0f}",
            f"{1000 * r['stacked_cpu_s_per_step']:.0f}",
            f"{r['speedup']:.2f}x",
            f"{r['one_after_another_ratio_to_matmul_peak']:.2f} -> "
            f"{r['stacked_ratio_to_matmul_peak']:.2f}",
        ]
        for precision, r in sorted(result[preset].items())
        if isinstance(r, dict) and "speedup" in r
    ]
    peaks = result.get("matmul_peak_gflops_cpu_time", {})
    return "\n".join(
        [
            *_table(head, body),
            "",
            f"`{preset}` preset, {result.get('members')} members, batch "
            f"{result.get('batch_per_member')} each, {result.get('threads')} thread; CPU time "
            f"(`time.process_time`), both variants alternated, best of each; 2048² matmul peaks "
            f"measured the same way in the same run: "
            + ", ".join(f"{peaks[p]:.0f} GFLOP/s {p}" for p in sorted(peaks))
            + ".",
            _raw_results(results, options),
        ]
    )


def cpu_paths(results: dict, options: dict) -> str:
    """The CPU training paths against their alternatives (``python -m benchmarks.cpu_paths``):
    one row per measurement, ratios below 1 meaning the path is faster."""
    r = results["result"]
    layers, st, batches = r["conv_layer"], r["steps"], r["batch_sizes"]

    def ratios(key: str, c_in: int, kernels=(8, 16, 32)) -> str:
        return ", ".join(f"kernel {k}: {layers[f'k{k}_cin{c_in}'][key]:.2f}x" for k in kernels)

    presets = [p for p in ("efficient", "compact", "paper") if p in st]
    body = [
        [
            "training FLOPs per ECG + EDA window (forward + backward)",
            ", ".join(f"`{p}` {st[p]['mflop_per_window']:,.0f} MFLOP" for p in presets),
        ],
        [
            "bf16 convolution layer, grad-input as a convolution / native "
            f"({r['layer']['channels']} channels)",
            ratios("grad_input_as_conv_ratio", r["layer"]["channels"]),
        ],
        [
            "bf16 convolution layer, grad-weight as a convolution / native "
            f"({r['layer']['channels']} channels; one input channel)",
            ratios("grad_weight_as_conv_ratio", r["layer"]["channels"], (16, 32))
            + "; "
            + ratios("grad_weight_as_conv_ratio", 1, (16, 32)),
        ],
        [
            "fp32 convolution layer forward + backward, gradients as convolutions / native "
            f"({r['layer']['channels']} channels)",
            ratios("fp32_fast_ratio", r["layer"]["channels"]),
        ],
        [
            "bf16 max-pooling forward + backward, channels-last / channels-first",
            f"{r['max_pool']['ratio']:.2f}x",
        ],
        [
            "bf16 training step, fast paths off -> on (ms)",
            ", ".join(
                f"`{p}` {st[p]['bf16_native_ms']:.1f} -> {st[p]['bf16_fast_ms']:.1f}"
                for p in presets
            ),
        ],
        [
            "training step, bf16 / fp32",
            ", ".join(f"`{p}` {st[p]['bf16_to_fp32']:.2f}x" for p in presets),
        ],
        [
            "`efficient` bf16 step per batch size: windows/s (ratio to the bf16 matmul peak)",
            ", ".join(
                f"{b}: {v['windows_per_s']:,.0f} ({v['ratio_to_matmul_peak']:.2f})"
                for b, v in batches.items()
            ),
        ],
    ]
    if "implicit_bf16" in st:
        body.append(
            [
                "fp32 `efficient` step with oneDNN's implicit bf16 / without",
                f"{st['implicit_bf16']['ratio']:.2f}x",
            ]
        )
    body.append(
        [
            "bf16 convolution (kernel 8) as a height-1 channels-last `conv2d` / `conv1d`",
            f"{r['conv2d_layer']['ratio']:.2f}x",
        ]
    )
    busy = r["threads_beside_a_busy_process"]
    cpus = busy["cpus"]
    body.append(
        [
            f"bf16 `compact` step beside {busy['busy_processes']} busy process(es), "
            f"{cpus} threads / 1 (wall time)",
            f"{busy['threads_1_s']:.2f} s -> {busy[f'threads_{cpus}_s']:.2f} s "
            f"({busy['ratio']:.1f}x)",
        ]
    )
    compiled = r.get("compile")
    if compiled and "ratio" in compiled:
        body.append(
            [
                "`efficient` bf16 step with `torch.compile` / eager",
                f"{compiled['compiled_ms']:.1f} / {compiled['eager_ms']:.1f} ms "
                f"({compiled['ratio']:.2f}x) after {compiled['compile_wall_s']:.0f} s of "
                "compilation",
            ]
        )
    peaks = r.get("matmul_peak_gflops_cpu_time", {})
    return "\n".join(
        [
            *_table(["measurement", "result"], body),
            "",
            f"Batch {r.get('batch')}, {r.get('threads')} thread, CPU time of the process, "
            "variants alternated and the best of each kept (wall time where marked); layers of "
            f"{r['layer']['length']} steps; 2048² matmul peaks measured the same way in the "
            "same run: " + ", ".join(f"{peaks[p]:.0f} GFLOP/s {p}" for p in sorted(peaks)) + ".",
            _raw_results(results, options),
        ]
    )


def loso_default_15(results: dict, options: dict) -> str:
    """The default 15-subject LOSO run for real (``python -m benchmarks.loso15``): wall time,
    preprocessing, training and the load beside each variant."""
    r = results["result"]
    labels = options.get("labels", {})
    variants = [v for v in r if isinstance(r[v], dict) and "wall_s" in r[v]]
    if not variants:
        raise TableError("no measured variant in the results")
    head = [
        "variant",
        "wall s",
        "preprocessing s",
        "training s (sum over folds)",
        "macro-F1",
        "1-min load during (mean / max)",
    ]
    body = [
        [
            labels.get(v, v),
            f"{r[v]['wall_s']:.0f}",
            f"{r[v]['preprocess_s']:.0f}",
            f"{r[v]['train_s_sum_over_folds']:.0f}",
            f"{r[v]['macro_f1']:.3f}",
            f"{r[v]['load_avg_1min_during']['mean']:.1f} / "
            f"{r[v]['load_avg_1min_during']['max']:.1f}",
        ]
        for v in variants
    ]
    return "\n".join(
        [
            *_table(head, body),
            "",
            f"{r['stated']}; {r['subjects']} subjects of {r['minutes']:g} min (seed {r['seed']}), "
            "each variant with a cold cache, one after the other; the training seconds add up "
            "the folds, which run two at a time.",
            _raw_results(results, options),
        ]
    )


#: renderer name (``renderer = ...`` of a table) to function
RENDERERS: dict[str, Callable[[dict, dict], str]] = {
    "comparison": comparison,
    "per-subject": per_subject,
    "ablation": ablation,
    "bench": bench,
    "layouts": layouts,
    "layouts-data": layouts_data,
    "layouts-predictions": layouts_predictions,
    "stacked-step": stacked_step,
    "cpu-paths": cpu_paths,
    "loso-default-15": loso_default_15,
    "paired": paired,
}

"""``xmodal demo``: the embedded default, end to end on synthetic WESAD-format data.

The demo compares the default model (late fusion) with the attentive network, each single
modality and the classical ``features`` pipeline, leave-one-subject-out over two seeds, and
reports the paired per-subject differences with their bootstrap intervals and Wilcoxon p-values,
whatever they are.
"""

from __future__ import annotations

import time
from pathlib import Path

from xmodal.config import FEATURES_WINDOW, DataConfig, EvalConfig, RunConfig, TrainConfig
from xmodal.data.synthetic import simulate_wesad
from xmodal.evaluation.report import write_report
from xmodal.evaluation.run_outputs import write_run_outputs
from xmodal.files import atomic_write_text
from xmodal.training.benchmark import Configuration, Study, benchmark_summary, run_benchmark
from xmodal.training.progress import Progress
from xmodal.training.threads import default_jobs

#: the demo's data: enough subjects for paired statistics, a few minutes on two CPU cores
DEMO_SUBJECTS = 6
DEMO_MINUTES = 10.0
DEMO_SEEDS = 2
DEMO_MODALITIES = ("chest.ECG", "chest.EDA")


def demo_study() -> Study:
    """The configurations the demo compares."""
    configs = [
        Configuration("late-fusion", {"model": {"name": "late-fusion"}}),
        Configuration("attentive", {"model": {"name": "attentive"}}),
    ]
    for modality in DEMO_MODALITIES:
        configs.append(
            Configuration(
                f"single-{modality}",
                {"data": {"modalities": [modality]}, "model": {"name": "single"}},
            )
        )
    configs.append(
        Configuration(
            "features", {"model": {"name": "features"}, "data": {"window": FEATURES_WINDOW}}
        )
    )
    return Study("demo", configurations=configs)


def demo_base(data: Path, cache: Path) -> RunConfig:
    """Base configuration of every demo run (defaults, one inner validation subject)."""
    return RunConfig(
        data=DataConfig(
            path=str(data), modalities=DEMO_MODALITIES, task="3class", cache_dir=str(cache)
        ),
        training=TrainConfig(val_subjects=1),
        evaluation=EvalConfig(protocol="loso"),
    )


def run_demo(out: Path, quiet: bool = False) -> dict:
    """Simulate data, run the demo study, print and write the table; return the benchmark state
    (its ``entries`` say which runs failed)."""
    out = Path(out)
    progress = Progress(quiet=quiet)
    start = time.perf_counter()
    data = out / "data"
    if not (data / "S2" / "S2.pkl").exists():
        progress.line(f"simulating {DEMO_SUBJECTS} subjects x {DEMO_MINUTES:g} min into {data}")
        simulate_wesad(data, subjects=DEMO_SUBJECTS, minutes=DEMO_MINUTES, seed=0)
    base = demo_base(data.resolve(), (out / "cache").resolve())
    state = run_benchmark(
        base,
        out,
        study=demo_study(),
        seeds=DEMO_SEEDS,
        jobs=default_jobs(),
        progress=progress,
        command=["xmodal", "demo", "--out", str(out)],
        after_run=write_run_outputs,
    )
    write_report(out)
    progress.line(benchmark_summary(state, out))
    table = (out / "table.md").read_text(encoding="utf-8")
    elapsed = time.perf_counter() - start
    text = (
        f"# xmodal demo\n\nSynthetic WESAD-format data, {DEMO_SUBJECTS} subjects x "
        f"{DEMO_MINUTES:g} min, chest ECG + EDA, task 3class (baseline/stress/amusement), "
        f"leave-one-subject-out with one inner validation subject per fold, "
        f"{DEMO_SEEDS} seeds.\n\n{table}\n\nTotal time {elapsed:.0f} s. Each run folder under "
        f"runs/ holds results.json, predictions.csv, config.toml, fold checkpoints and "
        f"plots; report.html shows the figures.\n"
    )
    atomic_write_text(out / "demo.md", text)
    print(table)
    print(f"\nwrote {out}/demo.md, table.md, report.html and runs/*/ in {elapsed:.0f} s")
    return state

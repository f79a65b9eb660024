"""``xmodal demo``: the embedded default, end to end on synthetic WESAD-format data."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from xmodal.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from xmodal.data.synthetic import simulate_wesad
from xmodal.evaluation.results import atomic_write_text
from xmodal.evaluation.summary import markdown_table
from xmodal.training.experiment import run_experiment
from xmodal.training.progress import Progress
from xmodal.training.threads import default_jobs

#: the demo's data: small enough for a few minutes on two CPU cores
DEMO_SUBJECTS = 5
DEMO_MINUTES = 12.0
DEMO_MODALITIES = ("chest.ECG", "chest.EDA")


def demo_runs() -> list[tuple[str, RunConfig]]:
    """(run name, configuration) of each model the demo compares."""
    base = RunConfig(
        data=DataConfig(modalities=DEMO_MODALITIES, task="3class"),
        model=ModelConfig(),
        training=TrainConfig(epochs=12, patience=4, val_subjects=1),
        evaluation=EvalConfig(protocol="loso"))
    runs = [("attentive", base),
            ("late-fusion", dataclasses.replace(base, model=ModelConfig(name="late-fusion")))]
    for modality in DEMO_MODALITIES:
        runs.append((f"single-{modality}", dataclasses.replace(
            base, data=dataclasses.replace(base.data, modalities=(modality,)),
            model=ModelConfig(name="single"))))
    return runs


def run_demo(out: Path, quiet: bool = False) -> str:
    """Simulate data, run LOSO for each demo model, print and write the table; return it."""
    out = Path(out)
    progress = Progress(quiet=quiet)
    start = time.perf_counter()
    data = out / "data"
    if not (data / "S2" / "S2.pkl").exists():
        progress.line(f"simulating {DEMO_SUBJECTS} subjects x {DEMO_MINUTES:g} min into {data}")
        simulate_wesad(data, subjects=DEMO_SUBJECTS, minutes=DEMO_MINUTES, seed=0)
    rows = []
    for name, config in demo_runs():
        config = dataclasses.replace(config, data=dataclasses.replace(
            config.data, path=str(data.resolve()), cache_dir=str((out / "cache").resolve())))
        progress.line(f"== {name}")
        rows.append(run_experiment(config, out / "runs" / name, progress, jobs=default_jobs()))
    table = markdown_table(rows)
    elapsed = time.perf_counter() - start
    text = (f"# xmodal demo\n\nSynthetic WESAD-format data, {DEMO_SUBJECTS} subjects x "
            f"{DEMO_MINUTES:g} min, task 3class (baseline/stress/amusement), leave-one-subject-out "
            f"with one inner validation subject per fold.\n\n{table}\n\nTotal time {elapsed:.0f} s. "
            f"Each run folder under runs/ holds results.json, predictions.csv, config.toml, "
            f"fold checkpoints and plots.\n")
    atomic_write_text(out / "table.md", text)
    print(table)
    print(f"\nwrote {out}/table.md and runs/*/ in {elapsed:.0f} s")
    return table

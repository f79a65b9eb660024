"""LOSO wall times: real runs of every preset on a few WESAD-size subjects, the 15-subject
run extrapolated from them (or measured with ``--full-loso``), and the Ray backend's scaling
from one to two CPUs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.common import MODEL, N_SUBJECTS_FULL, PRESET_ORDER, load_avg, rmtree, simulate
from benchmarks.loso15 import measure_loso_default_15

#: wall-time targets of the 15-subject LOSO per preset, seconds (others: the old 20 minutes)
TARGET_S = {"efficient": 300.0, "paper": 3600.0}
DEFAULT_TARGET_S = 1200.0


def _precision(config) -> str:
    from xmodal.training.precision import training_precision

    return training_precision(config.training, "cpu")


def _timed_run(config, out: Path) -> tuple[dict, float, int]:
    """``run_experiment`` with the fold workers ``xmodal train`` uses without ``--jobs``:
    ``(results, wall seconds, jobs)``."""
    from xmodal.training.experiment import run_experiment
    from xmodal.training.progress import Progress
    from xmodal.training.threads import default_jobs

    jobs = default_jobs()
    t = time.perf_counter()
    results = run_experiment(config, out, Progress(quiet=True), jobs=jobs)
    return results, time.perf_counter() - t, jobs


def _bench_config(data: Path, cache: Path):
    """A default run configuration of the bench's network (``MODEL``) on ``data``, with its own
    window cache."""
    from xmodal.config import RunConfig

    config = RunConfig()
    config.model.name = MODEL
    config.data.path = str(data)
    config.data.cache_dir = str(cache)
    return config


def _loso_once(
    work: Path, data: Path, preset: str, n_sub: int, minutes: float, epochs: int, preprocess: dict
) -> dict:
    from xmodal.config import RunConfig

    config = _bench_config(data, work / "cache-loso")
    config.model.preset = preset
    config.training.epochs = epochs
    config.training.min_epochs = min(config.training.min_epochs, epochs)
    config.training.val_subjects = 1
    results, wall, jobs = _timed_run(config, work / f"loso-run-{preset}")
    folds = results["folds"]
    train_s = results["timing"]["train_s"]  # summed over folds (run side by side in workers)
    # seconds per (training window x epoch) in one worker, validation included
    per_window_epoch = train_s / sum(f["n_train_windows"] * f["epochs_run"] for f in folds)
    windows_per_subject = results["windows"]["n_train"] / n_sub
    defaults = RunConfig().training
    train_windows_15 = windows_per_subject * (N_SUBJECTS_FULL - 1 - defaults.val_subjects)
    scale_minutes = 100.0 / minutes
    side_by_side = min(jobs, len(folds))
    side_by_side_15 = min(jobs, N_SUBJECTS_FULL)
    pre_15 = (
        preprocess["cold_s"]
        * N_SUBJECTS_FULL
        * (100.0 / preprocess["subject_minutes"])
        / side_by_side_15
    )
    # worker start-up, testing and writing, per fold
    fold_overhead = (
        max(wall - results["timing"]["preprocess_s"] - train_s / side_by_side, 0.0)
        * side_by_side
        / len(folds)
    )

    def extrapolate(ep: int) -> float:
        per_fold = ep * train_windows_15 * scale_minutes * per_window_epoch + fold_overhead
        return pre_15 + N_SUBJECTS_FULL * per_fold / side_by_side_15

    earliest = defaults.min_epochs + defaults.patience
    target = TARGET_S.get(preset, DEFAULT_TARGET_S)
    return {
        "measured": {
            "preset": preset,
            "precision": _precision(config),
            "subjects": n_sub,
            "minutes": minutes,
            "epochs": epochs,
            "jobs": jobs,
            "wall_s": wall,
            "preprocess_s": results["timing"]["preprocess_s"],
            "train_s": train_s,
            "epochs_run": sum(f["epochs_run"] for f in folds),
            "mean_train_windows": float(np.mean([f["n_train_windows"] for f in folds])),
            "mean_val_windows": float(np.mean([f["n_val_windows"] for f in folds])),
            "s_per_window_epoch": per_window_epoch,
            "macro_f1": results["mean"]["macro_f1"],
            "accuracy": results["mean"]["accuracy"],
            "load_avg": load_avg(),
        },
        "extrapolated_15_subjects": {
            "stated": (
                "EXTRAPOLATED, not measured: 15 WESAD-size (100-min) subjects, "
                f"preset {preset}, default training ({defaults.epochs} max epochs, early "
                f"stop at the earliest after min_epochs {defaults.min_epochs} + patience "
                f"{defaults.patience}) with {jobs} fold worker(s) as `xmodal train`: "
                "(15 x cold preprocessing of one subject + 15 folds x (epochs x "
                "training windows x measured seconds per window-epoch in a worker, "
                "validation included, + measured per-fold overhead)) / workers"
            ),
            "jobs": jobs,
            "train_windows_per_fold": train_windows_15 * scale_minutes,
            "wall_s_max_epochs": extrapolate(defaults.epochs),
            "wall_s_earliest_stop": extrapolate(earliest),
            "target_s": target,
            "target_met_max_epochs": extrapolate(defaults.epochs) <= target,
            "target_met_earliest_stop": extrapolate(earliest) <= target,
        },
    }


def measure_loso(
    work: Path, quick: bool, preprocess: dict, full: bool, variants: tuple[str, ...] = ()
) -> dict:
    """Real LOSO runs of every preset on a measured subset of WESAD-size subjects, the
    15-subject run extrapolated from them, and the real 15-subject runs of ``variants`` (default
    all, see :mod:`benchmarks.loso15`); with ``full`` the real 15-subject run of the default
    configuration as well."""
    from xmodal.config import DEFAULT_PRESET

    n_sub, minutes, epochs = (3, 5.0, 1) if quick else (3, 100.0, 2)
    data = work / "loso"
    simulate(data, n_sub, minutes)
    presets = {
        p: _loso_once(work, data, p, n_sub, minutes, epochs, preprocess)
        for p in (PRESET_ORDER if not quick else (DEFAULT_PRESET,))
    }
    out = dict(presets[DEFAULT_PRESET])
    out["presets"] = presets
    out["default_15"] = measure_loso_default_15(work, quick, tuple(variants))
    if full:
        out["full_15_subjects"] = measure_full_loso(work, quick)
    return out


def measure_full_loso(work: Path, quick: bool) -> dict:
    """The default configuration's real LOSO on 15 WESAD-size synthetic subjects (measured,
    cold preprocessing included); ``quick``: 15 subjects of 5 minutes, 1 epoch."""
    minutes = 5.0 if quick else 100.0
    data = work / "full"
    simulate(data, N_SUBJECTS_FULL, minutes)
    config = _bench_config(data, work / "cache-full")
    if quick:
        config.training.epochs = config.training.min_epochs = 1
    results, wall, jobs = _timed_run(config, work / "full-run")
    folds = results["folds"]
    rmtree(data)
    target = TARGET_S.get(config.model.preset, DEFAULT_TARGET_S)
    return {
        "stated": "MEASURED: default configuration, every fold, cold preprocessing included",
        "subjects": N_SUBJECTS_FULL,
        "minutes": minutes,
        "preset": config.model.preset,
        "precision": _precision(config),
        "jobs": jobs,
        "wall_s": wall,
        "preprocess_s": results["timing"]["preprocess_s"],
        "train_s": results["timing"]["train_s"],
        "epochs_run": [f["epochs_run"] for f in folds],
        "mean_train_windows": float(np.mean([f["n_train_windows"] for f in folds])),
        "macro_f1": results["mean"]["macro_f1"],
        "accuracy": results["mean"]["accuracy"],
        "target_s": target,
        "target_met": wall <= target,
        "load_avg": load_avg(),
    }


def _start_workers(cpus: int) -> float:
    """Start ``cpus`` Ray workers (each imports torch and xmodal's fold code, as a fold task
    does) so that the timed study measures the folds, not process start-up; seconds taken."""
    import ray

    def warm() -> int:
        import os as _os
        import time as _time

        import xmodal.training.folds  # noqa: F401

        _time.sleep(0.5)  # keep the worker busy: the next task gets another
        return _os.getpid()

    t = time.perf_counter()
    task = ray.remote(warm).options(num_cpus=1)
    ray.get([task.remote() for _ in range(cpus)])
    return time.perf_counter() - t


def measure_ray_scaling(work: Path, quick: bool) -> dict:
    """The same small study (4 simulated 5-min subjects, LOSO, default preset, 1 epoch; 2 with
    ``--quick`` off) through the Ray backend on a local instance of 1 and of 2 CPUs, one CPU
    per fold task: wall times of ``run_experiment`` (the start-up of Ray and its workers
    excluded, reported apart; preprocessing cached beforehand) and their ratio. Skipped with a note when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return {"skipped": True, "note": "Ray is not installed (pip install 'xmodal[ray]')"}
    from xmodal.signals.pipeline import prepare_subjects
    from xmodal.training.experiment import run_experiment
    from xmodal.training.progress import Progress
    from xmodal.training.ray_backend import RayBackend

    n_sub, minutes, epochs = 4, 5.0, 1 if quick else 2
    data = work / "ray"
    simulate(data, n_sub, minutes)
    config = _bench_config(data, work / "cache-ray")
    config.model.ensemble = 1
    config.training.epochs = epochs
    config.training.min_epochs = min(config.training.min_epochs, epochs)
    config.training.val_subjects = 1
    prepare_subjects(config.data)  # both runs read the same cache
    out: dict = {
        "subjects": n_sub,
        "minutes": minutes,
        "epochs": epochs,
        "folds": n_sub,
        "preset": config.model.preset,
        "precision": _precision(config),
        "cpus_per_task": 1,
    }
    for cpus in (1, 2):
        with RayBackend(cpus_per_task=1, num_cpus=cpus) as backend:
            out[f"workers_{cpus}_start_s"] = _start_workers(cpus)
            t = time.perf_counter()
            results = run_experiment(
                config, work / f"ray-run-{cpus}", Progress(quiet=True), backend=backend
            )
            out[f"workers_{cpus}_s"] = time.perf_counter() - t
        out[f"workers_{cpus}_macro_f1"] = results["mean"]["macro_f1"]
    out["speedup"] = out["workers_1_s"] / out["workers_2_s"]
    out["load_avg"] = load_avg()
    rmtree(data)
    return out

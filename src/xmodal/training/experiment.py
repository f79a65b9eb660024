"""A whole experiment: windows, folds, training, predictions, result files; resumable.

:func:`run_experiment` orchestrates: it checks the configuration, cuts the windows, runs the
folds through an executor (:mod:`xmodal.training.execution`), each with the configured
estimator (:mod:`xmodal.training.folds`, :mod:`xmodal.training.estimators`), and writes the
run files (:mod:`xmodal.training.run_files`). Plots and the model card are made from those
files afterwards (:func:`xmodal.evaluation.run_outputs.write_run_outputs`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from xmodal.config import RunConfig, validate_values
from xmodal.data.datasets import (
    get_task,
    resolve_data_defaults,
    resolve_features_sensors,
    validate_modalities,
)
from xmodal.errors import ConfigError, DataError, XmodalError
from xmodal.files import atomic_write_json, atomic_write_text
from xmodal.models.registry import (
    features_blend_of,
    features_detrend_of,
    features_model_of,
    person_refit_of,
)
from xmodal.signals.pipeline import cache_dir_of, prepare_subjects
from xmodal.signals.windows import WindowSet
from xmodal.training.estimators import FoldEstimator, estimator_for
from xmodal.training.execution import ExecutionBackend, LocalBackend
from xmodal.training.folds import (
    FoldTask,
    finished_record,
    fold_line,
    fold_seed,
    learns_from_recordings,
    read_record,
    run_windows,
    saved_state_intact,
)
from xmodal.training.precision import training_precision
from xmodal.training.pretrain import read_pretrain_record
from xmodal.training.progress import Progress
from xmodal.training.run_files import (
    aggregate,
    check_resume,
    config_toml,
    write_predictions,
)
from xmodal.training.splits import PROTOCOLS, Fold, make_folds
from xmodal.training.trainer import resolve_device

#: index in :func:`~xmodal.training.folds.fold_seed` of the final model's seed
FINAL_SEED_INDEX = 997


def validate_training(config: RunConfig) -> None:
    """Check the values, the device and the precision (ConfigError otherwise)."""
    validate_values(config)  # also configurations built without updated()
    # unknown device, CUDA without a GPU, or fp16 on a CPU
    training_precision(config.training, resolve_device(config.training.device))


def validate_model(config: RunConfig, modalities) -> None:
    """Check the model's name and settings, and that it takes ``modalities``."""
    estimator = estimator_for(config)  # unknown model names
    config.model.resolved()  # inconsistent settings
    estimator.check_modalities(modalities)


def validate_config(config: RunConfig) -> RunConfig:
    """Check names and values before any data is touched; return it with dataset defaults resolved.

    For datasets other than WESAD, modalities and task left at the WESAD defaults become the
    dataset's own (see :func:`~xmodal.data.datasets.resolve_data_defaults`).
    """
    validate_training(config)
    model = dataclasses.replace(
        config.model,
        features_blend=features_blend_of(config.model),
        features_model=features_model_of(config.model),
        person_refit=person_refit_of(config.model),
        features_detrend=features_detrend_of(config.model),
    )
    data, model = resolve_features_sensors(resolve_data_defaults(config.data), model)
    config = dataclasses.replace(config, data=data, model=model)
    d = config.data
    if d.labels and not Path(d.labels).is_file():
        raise DataError(f"{d.labels}: labels file not found (--labels)")
    validate_modalities(d.dataset, d.modalities, d.path)
    get_task(d.task, d.dataset, d.path)
    validate_model(config, d.modalities)  # unknown names and inconsistent settings
    if config.training.init:  # the subjects it read decide whether the run is transductive
        read_pretrain_record(config.training.init)
    if config.evaluation.protocol not in PROTOCOLS:
        raise ConfigError(
            f"unknown protocol {config.evaluation.protocol!r}; valid: {', '.join(PROTOCOLS)}"
        )
    if config.evaluation.protocol == "holdout" and not config.evaluation.test_subjects:
        raise ConfigError("protocol 'holdout' needs the test subjects: --test SUBJECT ...")
    return config


def train_final(
    config: RunConfig,
    train_all: WindowSet,
    records: list[dict],
    out: Path,
    progress: Progress,
    unlabelled: WindowSet | None = None,
    recordings: WindowSet | None = None,
) -> dict:
    """Train one model on every subject into ``out/final/`` (``xmodal train --final``).

    Early stopping: no subject is left to validate on, so the final model trains for the median
    of the folds' best epochs (each chosen on that fold's inner validation subjects), which
    estimates how long training on this many subjects should run without touching test data.
    """
    final_dir = out / "final"
    record = read_record(final_dir / "final.json", ("epochs", "train_subjects"))
    if record is not None and saved_state_intact(final_dir, estimator_for(config).state_files):
        progress.line(f"final model: done already ({record['epochs']} epochs), skipped")
        return record
    epochs = max(1, int(round(float(np.median([r["best_epoch"] for r in records])))))
    final_config = dataclasses.replace(
        config, training=dataclasses.replace(config.training, epochs=epochs)
    )
    estimator = estimator_for(final_config)
    with torch.random.fork_rng(devices=[]):
        seed = fold_seed(config, FINAL_SEED_INDEX)
        torch.manual_seed(seed)
        progress.fold_start(f"final ({estimator.label}, all subjects)", epochs)
        result = estimator.fit(
            train_all,
            None,
            seed=seed,
            on_epoch=progress.epoch,
            unlabelled=unlabelled,
            **({"recordings": recordings} if learns_from_recordings(config) else {}),
        )
    estimator.save(final_dir)
    record = {
        "epochs": epochs,
        "epoch_rule": "median of the folds' best epochs",
        "train_subjects": sorted(set(train_all.subjects.tolist())),
        "n_train_windows": len(train_all),
        "train_s": result["train_s"],
    }
    atomic_write_json(final_dir / "final.json", record)
    progress.fold_end(
        f"final: {len(record['train_subjects'])} subjects, {epochs} epochs, "
        f"{result['train_s']:.1f}s"
    )
    return record


def run_experiment(
    config: RunConfig,
    out: Path,
    progress: Progress | None = None,
    final: bool = False,
    jobs: int = 1,
    backend: ExecutionBackend | None = None,
    fold_overrides: Callable[[Fold], dict] | None = None,
) -> dict:
    """Run the configured protocol and write the run files under ``out``; return the results.

    Writes ``config.toml``, ``folds/<fold>/fold.json`` with the estimator's state (``model.pt``
    for networks), ``results.json`` and ``predictions.csv``; with ``final`` also
    ``final/{model.pt,final.json}`` (one model on every subject, see :func:`train_final`).
    Folds already finished in ``out`` (same configuration) are not run again. ``jobs > 1``
    preprocesses uncached subjects in that many processes, then trains folds in that many
    spawned worker processes (one torch thread each), which read the windows from the cache (a
    temporary one without ``use_cache``); results equal those of ``jobs=1`` within float32
    rounding (a fold in this process uses torch's thread count). CUDA runs keep every fold in
    this process. ``backend`` runs the folds elsewhere (e.g. Ray); ``fold_overrides(fold)``
    gives configuration changes for one fold (nested selection), recorded in its ``fold.json``.
    """
    progress = progress or Progress()
    config = validate_config(config)
    estimator: FoldEstimator = estimator_for(config)
    if final and not estimator.final_model:
        raise ConfigError(
            f"--final trains one network on all subjects; the "
            f"{config.model.name!r} model keeps no fitted model"
        )
    out = Path(out)
    check_resume(out, config)
    task = get_task(config.data.task, config.data.dataset, config.data.path)
    t0 = time.perf_counter()
    data = config.data
    if jobs > 1 and not data.use_cache:
        # workers share one preprocessing through a temporary cache, removed with this object
        # (also when an error ends the run); nothing is written to the user's cache
        scratch = tempfile.TemporaryDirectory(prefix="xmodal-cache-")
        data = dataclasses.replace(data, use_cache=True, cache_dir=scratch.name)
    prepared = prepare_subjects(data, on_subject=progress.subject, jobs=jobs)
    windows = run_windows(prepared, task, config, jobs=jobs, cache_dir=cache_dir_of(data))
    del prepared
    eval_all, train_all = windows.eval, windows.train
    preprocess_s = time.perf_counter() - t0
    if len(eval_all) == 0:
        raise XmodalError(
            f"no windows of task {task.name!r} ({', '.join(task.classes)}) in "
            f"{config.data.path}: are the labels present?"
        )
    folds = make_folds(
        eval_all.subjects,
        eval_all.labels,
        config.evaluation.protocol,
        config.evaluation.folds,
        config.training.val_subjects,
        config.training.seed,
        config.evaluation.test_subjects,
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.toml", config_toml(config))
    progress.line(
        f"{config.model.name}: {len(eval_all)} windows of {len(np.unique(eval_all.subjects))} "
        f"subjects, {len(folds)} folds ({config.evaluation.protocol}), "
        f"task {task.name} {list(task.classes)}"
    )
    records: dict[int, dict] = {}
    todo = []
    for fold in folds:
        folder = out / "folds" / fold.name
        overrides = fold_overrides(fold) if fold_overrides is not None else {}
        record = finished_record(folder, estimator, overrides)
        if record is not None:
            records[fold.index] = record
            progress.line(
                f"{fold.name}: done already (macro-F1 "
                f"{records[fold.index]['macro_f1']:.3f}), skipped"
            )
        else:
            todo.append(FoldTask(fold, folder, overrides))
    backend = backend or LocalBackend(jobs)
    executor = backend.executor(
        config, windows, progress, worker_config=dataclasses.replace(config, data=data)
    )
    for fold_task, record in executor.submit(todo):
        records[fold_task.fold.index] = record
        progress.fold_end(fold_line(fold_task.fold, record))
    records = [records[fold.index] for fold in folds]
    final_record = (
        train_final(
            config, train_all, records, out, progress, windows.unlabelled, windows.recordings
        )
        if final
        else None
    )
    complexity = estimator.complexity(eval_all.input_shapes, len(task.classes))
    results = aggregate(
        config, task.classes, records, preprocess_s, len(train_all), eval_all, complexity
    )
    results["execution"] = backend.describe()
    if final_record is not None:
        results["final"] = final_record
    write_predictions(out, records, task.classes)
    atomic_write_json(out / "results.json", results)
    return results

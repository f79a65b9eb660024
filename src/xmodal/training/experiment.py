"""A whole experiment: windows, folds, training, predictions, result files; resumable."""

from __future__ import annotations

import dataclasses
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import tomli_w
import torch

from xmodal import __version__
from xmodal.config import RunConfig, load_run_config, validate_values
from xmodal.data.datasets import resolve_data_defaults, validate_modalities
from xmodal.data.tasks import get_task
from xmodal.errors import ConfigError, DataError, XmodalError
from xmodal.evaluation.metrics import classification_metrics, mean_std
from xmodal.evaluation.model_card import model_card
from xmodal.evaluation.results import (atomic_write_bytes, atomic_write_json, atomic_write_text,
                                       predictions_csv, read_json)
from xmodal.models.registry import build_model, count_parameters
from xmodal.signals.pipeline import prepare_subjects, windows_of
from xmodal.signals.windows import WindowSet
from xmodal.training.precision import training_precision
from xmodal.training.progress import Progress
from xmodal.training.splits import PROTOCOLS, SUBJECT_DEPENDENT, Fold, make_folds
from xmodal.training.recipe import fit_network
from xmodal.training.trainer import predict_logits, resolve_device, softmax

#: points an attention time course is resampled to when summarised per class
ATTENTION_POINTS = 50


def validate_config(config: RunConfig) -> RunConfig:
    """Check names and values before any data is touched; return it with dataset defaults resolved.

    For datasets other than WESAD, modalities and task left at the WESAD defaults become the
    dataset's own (see :func:`~xmodal.data.datasets.resolve_data_defaults`).
    """
    validate_values(config)                 # also configurations built without updated()
    # unknown device, CUDA without a GPU, or fp16 on a CPU
    training_precision(config.training, resolve_device(config.training.device))
    config = dataclasses.replace(config, data=resolve_data_defaults(config.data))
    d = config.data
    if d.labels and not Path(d.labels).is_file():
        raise DataError(f"{d.labels}: labels file not found (--labels)")
    validate_modalities(d.dataset, d.modalities, d.path)
    get_task(d.task, d.dataset, d.path)
    model = config.model.resolved()
    if model.name == "single" and len(d.modalities) != 1:
        raise ConfigError(f"model 'single' takes exactly one modality, got {len(d.modalities)}: "
                          f"{' '.join(d.modalities)}")
    if model.name not in ("single", "features") and len(d.modalities) < 2:
        raise ConfigError(f"model {model.name!r} fuses modalities and needs at least two; "
                          f"use --model single for one")
    if config.evaluation.protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {config.evaluation.protocol!r}; valid: "
                          f"{', '.join(PROTOCOLS)}")
    if config.evaluation.protocol == "holdout" and not config.evaluation.test_subjects:
        raise ConfigError("protocol 'holdout' needs the test subjects: --test SUBJECT ...")
    return config


def _config_toml(config: RunConfig) -> str:
    return tomli_w.dumps(config.to_dict())


def _check_resume(out: Path, config: RunConfig) -> None:
    """A run folder is resumed only with the configuration it was started with."""
    saved = out / "config.toml"
    if not saved.exists():
        return
    old = load_run_config(saved).to_dict()
    new = config.to_dict()
    diff = [f"{sec}.{k}" for sec in new for k in new[sec] if old[sec].get(k) != new[sec][k]]
    if diff:
        raise XmodalError(f"{out} holds a run with another configuration (differs in "
                          f"{', '.join(diff[:4])}); choose another --out or delete it")


def _attention_summary(model, windows: WindowSet, n_classes: int, device) -> dict:
    """Attention weights on the test windows: mean over channels, per class, over time."""
    if not hasattr(model, "forward_with_attention") or len(windows) == 0:
        return {}
    model.eval()
    sums: dict[str, np.ndarray] = {}
    counts = np.zeros(n_classes)
    with torch.no_grad():
        xs = [torch.from_numpy(windows.inputs[m]).to(device) for m in windows.modalities]
        for i in range(0, len(windows), 256):
            _, attn = model.forward_with_attention(*[x[i:i + 256] for x in xs])
            y = windows.labels[i:i + 256]
            for key, a in attn.items():
                course = a.float().mean(dim=1, keepdim=True)          # (batch, 1, L)
                course = torch.nn.functional.interpolate(course, size=ATTENTION_POINTS,
                                                         mode="linear", align_corners=False)
                course = course[:, 0].cpu().numpy()
                acc = sums.setdefault(key, np.zeros((n_classes, ATTENTION_POINTS)))
                np.add.at(acc, y, course)
            counts += np.bincount(y, minlength=n_classes)
    return {key: [(s / c).tolist() if c else None for s, c in zip(acc, counts)]
            for key, acc in sums.items()}


def _fold_masks(fold: Fold, train_all: WindowSet, eval_all: WindowSet
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Boolean masks: training windows (of ``train_all``), validation and test (of ``eval_all``).

    Window-level folds (``kfold-windows``): training windows overlapping a test or validation
    window of the same subject in time are dropped, so no test sample is trained on.
    """
    if fold.test_windows is None:
        return (np.isin(train_all.subjects, list(fold.train)),
                np.isin(eval_all.subjects, list(fold.val)) if fold.val else None,
                np.isin(eval_all.subjects, list(fold.test)))
    test = np.zeros(len(eval_all), dtype=bool)
    test[list(fold.test_windows)] = True
    val = np.zeros(len(eval_all), dtype=bool)
    val[list(fold.val_windows or ())] = True
    held = test | val
    train = np.ones(len(train_all), dtype=bool)
    for subject in np.unique(eval_all.subjects[held]):
        starts = np.sort(eval_all.t_start[held & (eval_all.subjects == subject)])
        mine = np.flatnonzero(train_all.subjects == subject)
        t = train_all.t_start[mine]
        pos = np.searchsorted(starts, t)
        near = np.full(len(t), np.inf)
        for cand in (pos - 1, pos):
            ok = (cand >= 0) & (cand < len(starts))
            near[ok] = np.minimum(near[ok], np.abs(starts[cand[ok]] - t[ok]))
        train[mine[near < eval_all.window - 1e-9]] = False
    return train, (val if val.any() else None), test


def in_fold_pretraining(config: RunConfig) -> bool:
    """Whether each fold pretrains its streams (``pretrain_epochs`` without ``--init``)."""
    return config.training.pretrain_epochs > 0 and not config.training.init


def unlabelled_windows(prepared: dict, config: RunConfig) -> WindowSet | None:
    """Every window of every subject, labelled or not (in-fold pretraining), else None."""
    if not in_fold_pretraining(config):
        return None
    return windows_of(prepared, None, config.data.window, config.data.train_stride,
                      keep_unlabelled=True)


def pretraining_subjects(fold: Fold, config: RunConfig) -> list[str]:
    """Subjects whose unlabelled signal a fold's pretraining reads: its training subjects, plus
    its test subjects when ``training.transductive`` is set (never their labels)."""
    subjects = list(fold.train)
    if config.training.transductive:
        subjects += [s for s in fold.test if s not in subjects]
    return subjects


def _run_fold(fold: Fold, config: RunConfig, train_all: WindowSet, eval_all: WindowSet,
              fold_dir: Path, progress: Progress, unlabelled: WindowSet | None = None) -> dict:
    """Train on the fold's training subjects, select on its validation subjects, test."""
    if config.model.name == "features":
        return _run_features_fold(fold, config, train_all, eval_all, fold_dir, progress)
    train_mask, val_mask, test_mask = _fold_masks(fold, train_all, eval_all)
    train = train_all.subset(train_mask)
    val = eval_all.subset(val_mask) if val_mask is not None else None
    test = eval_all.subset(test_mask)
    n_classes = len(eval_all.classes)
    if len(train) == 0:
        raise XmodalError(f"{fold.name}: no training windows")
    device = resolve_device(config.training.device)
    with torch.random.fork_rng(devices=[]):
        seed = config.training.seed * 1009 + fold.index
        torch.manual_seed(seed)
        progress.fold_start(f"{fold.name} ({config.model.name})", config.training.epochs)
        fold_unlabelled = (unlabelled.of_subjects(pretraining_subjects(fold, config))
                           if unlabelled is not None and fold.test_windows is None else None)
        model, result = fit_network(config, train, val, n_classes, eval_all.input_shapes, seed,
                                    on_epoch=progress.epoch, unlabelled=fold_unlabelled)
    logits = predict_logits(model, test, device=device)
    proba = softmax(logits) if len(test) else np.zeros((0, n_classes))
    pred = proba.argmax(1) if len(test) else np.zeros(0, dtype=np.int64)
    metrics = classification_metrics(test.labels, pred, eval_all.classes)
    buf = io.BytesIO()
    torch.save(model.cpu().state_dict(), buf)
    atomic_write_bytes(fold_dir / "model.pt", buf.getvalue())
    record = {
        "index": fold.index, "test_subjects": list(fold.test), "val_subjects": list(fold.val),
        "train_subjects": list(fold.train), "n_test_windows": len(test),
        "n_train_windows": len(train), "n_val_windows": len(val) if val is not None else 0,
        **metrics, **result,
        "attention": _attention_summary(model.to(device), test, n_classes, device),
        "predictions": {"subject": test.subjects.tolist(), "t_start": test.t_start.tolist(),
                        "true": test.labels.tolist(), "proba": proba.round(6).tolist()},
    }
    atomic_write_json(fold_dir / "fold.json", record)      # written last: marks the fold done
    return record


def _run_features_fold(fold: Fold, config: RunConfig, train_all: WindowSet, eval_all: WindowSet,
                       fold_dir: Path, progress: Progress) -> dict:
    """The classical baseline: hand-crafted features + a scikit-learn classifier.

    It has no early stopping, so the inner validation windows join the training windows; the
    test windows are the same as the deep models'. No model.pt: the fitted estimator is not
    persisted; ``features_model.json`` holds its parameters and feature importances.
    """
    from xmodal.models.features import features_of, fit_predict

    train_mask, val_mask, test_mask = _fold_masks(fold, train_all, eval_all)
    if val_mask is not None:       # validation windows (eval stride) join training
        extra = val_mask
    else:
        extra = np.zeros(len(eval_all), dtype=bool)
    n_classes = len(eval_all.classes)
    progress.fold_start(f"{fold.name} (features/{config.model.features_model})", 1)
    t0 = time.perf_counter()
    x_train_all, names = features_of(train_all)
    x_eval_all, _ = features_of(eval_all)
    if fold.test_windows is None and fold.val:      # subject folds: all training-stride windows
        train_mask = train_mask | np.isin(train_all.subjects, list(fold.val))
        extra = np.zeros(len(eval_all), dtype=bool)
    x_train = np.concatenate([x_train_all[train_mask], x_eval_all[extra]])
    y_train = np.concatenate([train_all.labels[train_mask], eval_all.labels[extra]])
    if len(y_train) == 0:
        raise XmodalError(f"{fold.name}: no training windows")
    test = eval_all.subset(test_mask)
    proba, info, fit_s = fit_predict(config.model.features_model, x_train, y_train,
                                     x_eval_all[test_mask], n_classes,
                                     seed=config.training.seed * 1009 + fold.index)
    train_s = time.perf_counter() - t0
    progress.epoch({"epoch": 1})
    pred = proba.argmax(1) if len(test) else np.zeros(0, dtype=np.int64)
    metrics = classification_metrics(test.labels, pred, eval_all.classes)
    info["feature_names"] = names
    atomic_write_json(fold_dir / "features_model.json", info)
    train_subjects = list(fold.train) + ([s for s in fold.val if s not in fold.train]
                                         if fold.test_windows is None else [])
    record = {
        "index": fold.index, "test_subjects": list(fold.test), "val_subjects": [],
        "train_subjects": train_subjects, "n_test_windows": len(test),
        "n_train_windows": int(len(y_train)), "n_val_windows": 0,
        **metrics, "best_epoch": 0, "epochs_run": 0, "train_s": train_s, "fit_s": fit_s,
        "windows_per_s": len(y_train) / max(train_s, 1e-9), "history": [], "attention": {},
        "predictions": {"subject": test.subjects.tolist(), "t_start": test.t_start.tolist(),
                        "true": test.labels.tolist(), "proba": proba.round(6).tolist()},
    }
    atomic_write_json(fold_dir / "fold.json", record)      # written last: marks the fold done
    return record


def fold_done(fold_dir: Path, model_name: str) -> bool:
    """A fold is finished when its fold.json (written last) and, for networks, model.pt exist."""
    return (fold_dir / "fold.json").exists() and (
        model_name == "features" or (fold_dir / "model.pt").exists())


# ---- parallel folds (``--jobs N``): spawned workers read the windows from the shared cache ----
_WORKER: dict = {}


def _worker_init(config_dict: dict) -> None:
    torch.set_num_threads(1)
    config = RunConfig.from_dict(config_dict)
    task = get_task(config.data.task, config.data.dataset, config.data.path)
    prepared = prepare_subjects(config.data)
    _WORKER["config"] = config
    _WORKER["eval"] = windows_of(prepared, task, config.data.window, config.data.stride)
    _WORKER["train"] = windows_of(prepared, task, config.data.window, config.data.train_stride)
    _WORKER["unlabelled"] = unlabelled_windows(prepared, config)


def _worker_fold(fold: Fold, fold_dir: str) -> dict:
    return _run_fold(fold, _WORKER["config"], _WORKER["train"], _WORKER["eval"], Path(fold_dir),
                     Progress(quiet=True), _WORKER["unlabelled"])


def _fold_line(fold: Fold, record: dict) -> str:
    absent = f"; absent: {', '.join(record['classes_absent'])}" if record["classes_absent"] else ""
    test = "windows" if fold.test_windows is not None else ",".join(fold.test)
    val = "windows" if fold.val_windows else (",".join(fold.val) or "-")
    return (f"{fold.name}: test {test} val {val} | "
            f"acc {record['accuracy']:.3f} macro-F1 {record['macro_f1']:.3f} | "
            f"epoch {record['best_epoch']}/{record['epochs_run']} {record['train_s']:.1f}s{absent}")


def _train_final(config: RunConfig, train_all: WindowSet, records: list[dict], out: Path,
                 progress: Progress, unlabelled: WindowSet | None = None) -> dict:
    """Train one model on every subject into ``out/final/model.pt`` (``xmodal train --final``).

    Early stopping: no subject is left to validate on, so the final model trains for the median
    of the folds' best epochs (each chosen on that fold's inner validation subjects), which
    estimates how long training on this many subjects should run without touching test data.
    """
    final_dir = out / "final"
    if (final_dir / "final.json").exists() and (final_dir / "model.pt").exists():
        record = read_json(final_dir / "final.json")
        progress.line(f"final model: done already ({record['epochs']} epochs), skipped")
        return record
    epochs = max(1, int(round(float(np.median([r["best_epoch"] for r in records])))))
    n_classes = len(train_all.classes)
    with torch.random.fork_rng(devices=[]):
        seed = config.training.seed * 1009 + 997
        torch.manual_seed(seed)
        progress.fold_start(f"final ({config.model.name}, all subjects)", epochs)
        final_config = dataclasses.replace(
            config, training=dataclasses.replace(config.training, epochs=epochs))
        model, result = fit_network(final_config, train_all, None, n_classes,
                                    train_all.input_shapes, seed, on_epoch=progress.epoch,
                                    unlabelled=unlabelled)
    buf = io.BytesIO()
    torch.save(model.cpu().state_dict(), buf)
    atomic_write_bytes(final_dir / "model.pt", buf.getvalue())
    record = {"epochs": epochs, "epoch_rule": "median of the folds' best epochs",
              "train_subjects": sorted(set(train_all.subjects.tolist())),
              "n_train_windows": len(train_all), "train_s": result["train_s"]}
    atomic_write_json(final_dir / "final.json", record)
    progress.fold_end(f"final: {len(record['train_subjects'])} subjects, {epochs} epochs, "
                      f"{result['train_s']:.1f}s")
    return record


def run_experiment(config: RunConfig, out: Path, progress: Progress | None = None,
                   final: bool = False, jobs: int = 1) -> dict:
    """Run the configured protocol and write every result file under ``out``.

    Writes ``config.toml``, ``folds/<fold>/{model.pt,fold.json}``, ``results.json``,
    ``predictions.csv``, ``MODEL_CARD.md`` and PNG plots; with ``final`` also
    ``final/{model.pt,final.json}`` (one model on every subject, see :func:`_train_final`).
    Folds already finished in ``out`` (same configuration) are not run again. ``jobs > 1``
    preprocesses uncached subjects in that many processes, then trains folds in that many
    spawned worker processes (one torch thread each), which read the windows from the cache (a
    temporary one without ``use_cache``); results equal those of ``jobs=1`` within float32
    rounding (a fold in this process uses torch's thread count). CUDA runs keep every fold in
    this process.
    """
    from xmodal.evaluation.plots import write_run_plots

    progress = progress or Progress()
    config = validate_config(config)
    if final and config.model.name == "features":
        raise ConfigError("--final trains one network on all subjects; the 'features' model "
                          "keeps no fitted model")
    out = Path(out)
    _check_resume(out, config)
    task = get_task(config.data.task, config.data.dataset, config.data.path)
    t0 = time.perf_counter()
    data = config.data
    if jobs > 1 and not data.use_cache:
        # workers share one preprocessing through a temporary cache, removed with this object
        # (also when an error ends the run); nothing is written to the user's cache
        scratch = tempfile.TemporaryDirectory(prefix="xmodal-cache-")
        data = dataclasses.replace(data, use_cache=True, cache_dir=scratch.name)
    prepared = prepare_subjects(data, on_subject=progress.subject, jobs=jobs)
    eval_all = windows_of(prepared, task, config.data.window, config.data.stride)
    train_all = windows_of(prepared, task, config.data.window, config.data.train_stride)
    unlabelled = unlabelled_windows(prepared, config)
    del prepared
    preprocess_s = time.perf_counter() - t0
    if len(eval_all) == 0:
        raise XmodalError(f"no windows of task {task.name!r} ({', '.join(task.classes)}) in "
                          f"{config.data.path}: are the labels present?")
    folds = make_folds(eval_all.subjects, eval_all.labels, config.evaluation.protocol,
                       config.evaluation.folds, config.training.val_subjects, config.training.seed,
                       config.evaluation.test_subjects)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.toml", _config_toml(config))
    progress.line(f"{config.model.name}: {len(eval_all)} windows of {len(np.unique(eval_all.subjects))} "
                  f"subjects, {len(folds)} folds ({config.evaluation.protocol}), "
                  f"task {task.name} {list(task.classes)}")
    records: dict[int, dict] = {}
    todo = []
    for fold in folds:
        fold_dir = out / "folds" / fold.name
        if fold_done(fold_dir, config.model.name):
            records[fold.index] = read_json(fold_dir / "fold.json")
            progress.line(f"{fold.name}: done already (macro-F1 "
                          f"{records[fold.index]['macro_f1']:.3f}), skipped")
        else:
            todo.append(fold)
    parallel = (jobs > 1 and len(todo) > 1 and config.model.name != "features"
                and resolve_device(config.training.device).type == "cpu")
    if parallel:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)),
                                 mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init,
                                 initargs=(dataclasses.replace(config, data=data).to_dict(),)
                                 ) as pool:
            futures = {pool.submit(_worker_fold, fold, str(out / "folds" / fold.name)): fold
                       for fold in todo}
            for future in as_completed(futures):
                fold = futures[future]
                records[fold.index] = future.result()
                progress.fold_end(_fold_line(fold, records[fold.index]))
    else:
        for fold in todo:
            records[fold.index] = _run_fold(fold, config, train_all, eval_all,
                                            out / "folds" / fold.name, progress, unlabelled)
            progress.fold_end(_fold_line(fold, records[fold.index]))
    records = [records[fold.index] for fold in folds]
    final_record = (_train_final(config, train_all, records, out, progress, unlabelled)
                    if final else None)
    results = _aggregate(config, task.classes, records, preprocess_s, len(train_all), eval_all)
    if final_record is not None:
        results["final"] = final_record
    _write_predictions(out, records, task.classes)
    atomic_write_json(out / "results.json", results)
    write_run_plots(out, results, records)
    atomic_write_text(out / "MODEL_CARD.md", model_card(results))
    return results


def _aggregate(config: RunConfig, classes, records: list[dict], preprocess_s: float,
               n_train_windows: int, eval_all: WindowSet) -> dict:
    y_true = np.concatenate([r["predictions"]["true"] for r in records]).astype(np.int64)
    proba = np.concatenate([np.asarray(r["predictions"]["proba"], dtype=float).reshape(-1, len(classes))
                            for r in records])
    subjects = np.concatenate([r["predictions"]["subject"] for r in records])
    y_pred = proba.argmax(1)
    pooled = classification_metrics(y_true, y_pred, classes)
    per_subject = {s: classification_metrics(y_true[subjects == s], y_pred[subjects == s], classes)
                   for s in dict.fromkeys(subjects)}
    mean, std = mean_std(records)
    train_s = float(sum(r["train_s"] for r in records))
    if config.model.name == "features":
        n_params, flops = None, None            # scikit-learn: see folds/*/features_model.json
    else:
        net = build_model(config.model, eval_all.input_shapes, len(classes))
        n_params, flops = count_parameters(net), flops_per_window(net, eval_all.input_shapes)
    fold_keys = ("index", "test_subjects", "val_subjects", "n_test_windows", "n_train_windows",
                 "n_val_windows", "accuracy", "macro_f1", "balanced_accuracy", "confusion_matrix",
                 "classes_absent", "best_epoch", "epochs_run", "train_s")
    return {
        "model": config.model.name, "task": config.data.task,
        "protocol": config.evaluation.protocol, "dataset": config.data.dataset,
        "modalities": list(config.data.modalities), "classes": list(classes),
        "seed": config.training.seed, "config": config.to_dict(),
        "folds": [{k: r[k] for k in fold_keys} for r in records],
        "mean": mean, "std": std,
        "pooled": {k: pooled[k] for k in ("accuracy", "macro_f1", "balanced_accuracy",
                                           "confusion_matrix", "n_windows")},
        "per_subject": {s: {k: m[k] for k in ("accuracy", "macro_f1", "balanced_accuracy",
                                              "n_windows", "classes_absent")}
                        for s, m in per_subject.items()},
        "windows": {"n_eval": len(eval_all), "n_train": n_train_windows,
                    "per_class": {c: int((eval_all.labels == i).sum()) for i, c in enumerate(classes)},
                    "rates": eval_all.rates, "input_shapes": {m: list(s) for m, s in
                                                              eval_all.input_shapes.items()}},
        "n_parameters": n_params, "flops_per_window": flops,
        "subject_dependent": config.evaluation.protocol in SUBJECT_DEPENDENT,
        "transductive": bool(config.training.transductive and in_fold_pretraining(config)),
        "precision": {"requested": config.training.precision,
                      "resolved": training_precision(config.training,
                                                     resolve_device(config.training.device))},
        "timing": {"preprocess_s": preprocess_s, "train_s": train_s,
                   "windows_per_s": float(np.mean([r["windows_per_s"] for r in records]))},
        "xmodal_version": __version__,
    }


def flops_per_window(model: torch.nn.Module, input_shapes: dict) -> int:
    """Floating-point operations of one forward pass on one window (eval mode), counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` (a multiply-add counts as 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = model.cpu().eval()
    xs = [torch.zeros(1, *shape) for shape in input_shapes.values()]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*xs)
    return int(counter.get_total_flops())


def _write_predictions(out: Path, records: list[dict], classes) -> None:
    preds = [r["predictions"] for r in records]
    proba = np.concatenate([np.asarray(p["proba"], dtype=float).reshape(-1, len(classes)) for p in preds])
    text = predictions_csv(
        [s for p in preds for s in p["subject"]], [t for p in preds for t in p["t_start"]],
        [y for p in preds for y in p["true"]], proba.argmax(1), proba, classes)
    atomic_write_text(out / "predictions.csv", text)

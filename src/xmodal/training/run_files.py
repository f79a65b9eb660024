"""The files of a run folder written by training: ``config.toml``, ``results.json`` (folds
aggregated) and ``predictions.csv``. Plots and the model card are made from these files by
:mod:`xmodal.evaluation`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import tomli_w

from xmodal.config import RunConfig, load_run_config
from xmodal.errors import XmodalError
from xmodal.files import atomic_write_text
from xmodal.signals.preprocess import preprocessing_defaults
from xmodal.signals.windows import WindowSet
from xmodal.training.folds import FOLD_KEYS, transductive_subjects
from xmodal.training.metrics import classification_metrics, mean_std
from xmodal.training.precision import training_precision
from xmodal.training.splits import SUBJECT_DEPENDENT
from xmodal.training.trainer import resolve_device
from xmodal.version import __version__

#: keys every results.json has; more may be added
RESULTS_KEYS = (
    "model",
    "task",
    "protocol",
    "dataset",
    "modalities",
    "classes",
    "seed",
    "config",
    "folds",
    "mean",
    "std",
    "pooled",
    "timing",
)


def config_toml(config: RunConfig) -> str:
    """The configuration as ``config.toml`` text."""
    return tomli_w.dumps(config.to_dict())


def check_resume(out: Path, config: RunConfig) -> None:
    """A run folder is resumed only with the configuration it was started with."""
    saved = out / "config.toml"
    if not saved.exists():
        return
    old = load_run_config(saved).to_dict()
    new = config.to_dict()
    diff = [f"{sec}.{k}" for sec in new for k in new[sec] if old[sec].get(k) != new[sec][k]]
    if diff:
        raise XmodalError(
            f"{out} holds a run with another configuration (differs in "
            f"{', '.join(diff[:4])}); choose another --out or delete it"
        )


def aggregate(
    config: RunConfig,
    classes,
    records: list[dict],
    preprocess_s: float,
    n_train_windows: int,
    eval_all: WindowSet,
    complexity: dict,
) -> dict:
    """``results.json`` content: the fold records pooled, per subject and over folds.

    ``complexity`` holds ``n_parameters`` and ``flops_per_window`` (None for models without a
    network); ``preprocessing`` records the preprocessing defaults the run used.
    """
    transductive = transductive_subjects(config, records)
    resolved = training_precision(config.training, resolve_device(config.training.device))
    y_true = np.concatenate([r["predictions"]["true"] for r in records]).astype(np.int64)
    proba = np.concatenate(
        [
            np.asarray(r["predictions"]["proba"], dtype=float).reshape(-1, len(classes))
            for r in records
        ]
    )
    subjects = np.concatenate([r["predictions"]["subject"] for r in records])
    y_pred = proba.argmax(1)
    pooled = classification_metrics(y_true, y_pred, classes)
    per_subject = {
        s: classification_metrics(y_true[subjects == s], y_pred[subjects == s], classes)
        for s in dict.fromkeys(subjects)
    }
    mean, std = mean_std(records)
    train_s = float(sum(r["train_s"] for r in records))
    return {
        "model": config.model.name,
        "task": config.data.task,
        "protocol": config.evaluation.protocol,
        "dataset": config.data.dataset,
        "modalities": list(config.data.modalities),
        "classes": list(classes),
        "seed": config.training.seed,
        "config": config.to_dict(),
        "folds": [
            {
                **{k: r[k] for k in FOLD_KEYS},
                **({"overrides": r["overrides"]} if r.get("overrides") else {}),
                # experts-*: each test subject's expert weights, read from its recording
                **({"expert_weights": r["expert_weights"]} if r.get("expert_weights") else {}),
                # --person-refit: each test subject's sensors' weights in its refit
                **({"refit_weights": r["refit_weights"]} if r.get("refit_weights") else {}),
            }
            for r in records
        ],
        "mean": mean,
        "std": std,
        "pooled": {
            k: pooled[k]
            for k in ("accuracy", "macro_f1", "balanced_accuracy", "confusion_matrix", "n_windows")
        },
        "per_subject": {
            s: {
                k: m[k]
                for k in (
                    "accuracy",
                    "macro_f1",
                    "balanced_accuracy",
                    "n_windows",
                    "classes_absent",
                )
            }
            for s, m in per_subject.items()
        },
        "windows": {
            "n_eval": len(eval_all),
            "n_train": n_train_windows,
            "per_class": {c: int((eval_all.labels == i).sum()) for i, c in enumerate(classes)},
            "rates": eval_all.rates,
            "input_shapes": {m: list(s) for m, s in eval_all.input_shapes.items()},
        },
        "preprocessing": preprocessing_defaults(),
        "n_parameters": complexity.get("n_parameters"),
        "flops_per_window": complexity.get("flops_per_window"),
        "subject_dependent": config.evaluation.protocol in SUBJECT_DEPENDENT,
        "transductive": bool(transductive),
        "transductive_subjects": transductive,
        "precision": {
            "requested": config.training.precision,
            "resolved": resolved,
            # early stopping and the validation choices run under the training precision;
            # test probabilities in float32, as `xmodal predict` and exported models compute
            "validation": resolved,
            "test": "fp32",
        },
        "timing": {
            "preprocess_s": preprocess_s,
            "train_s": train_s,
            "windows_per_s": float(np.mean([r["windows_per_s"] for r in records])),
        },
        "xmodal_version": __version__,
    }


def predictions_csv(
    subjects, t_start, y_true, y_pred, proba: np.ndarray, classes: tuple[str, ...] | list[str]
) -> str:
    """CSV text: subject, t_start, true, predicted, one probability column per class (class names)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["subject", "t_start", "true", "predicted"] + [f"p_{c}" for c in classes])
    for s, t, yt, yp, p in zip(subjects, t_start, y_true, y_pred, proba):
        writer.writerow([s, f"{t:.3f}", classes[yt], classes[yp]] + [f"{v:.6f}" for v in p])
    return buf.getvalue()


def write_predictions(out: Path, records: list[dict], classes) -> None:
    """``out/predictions.csv``: every test window of every fold."""
    preds = [r["predictions"] for r in records]
    proba = np.concatenate(
        [np.asarray(p["proba"], dtype=float).reshape(-1, len(classes)) for p in preds]
    )
    text = predictions_csv(
        [s for p in preds for s in p["subject"]],
        [t for p in preds for t in p["t_start"]],
        [y for p in preds for y in p["true"]],
        proba.argmax(1),
        proba,
        classes,
    )
    atomic_write_text(out / "predictions.csv", text)

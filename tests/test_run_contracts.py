"""The fold runner's contracts: one estimator interface, executors, run files, atomic files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmodal.config import RunConfig
from xmodal.files import atomic_write_json, atomic_write_stream, read_json
from xmodal.signals.windows import WindowSet
from xmodal.training import folds as folds_module
from xmodal.training.estimators import NetworkEstimator, estimator_for
from xmodal.training.execution import LocalExecutor
from xmodal.training.folds import (
    FoldTask,
    RunWindows,
    finished_record,
    fold_windows,
    run_fold,
)
from xmodal.training.progress import Progress
from xmodal.training.splits import Fold

CLASSES = ("a", "b")


def _windows(stride: float, subjects=("S2", "S3", "S4", "S5")) -> WindowSet:
    t = np.arange(0, 100 - 10 + 1e-9, stride)
    n = len(t)
    k = len(subjects)
    return WindowSet(
        {"x": np.random.default_rng(0).normal(size=(k * n, 1, 8)).astype(np.float32)},
        np.repeat(list(subjects), n),
        np.tile(np.arange(n) % 2, k),
        np.tile(t, k),
        {"x": 1.0},
        CLASSES,
        10.0,
        {"row": np.arange(k * n)},
    )


class MeanEstimator:
    """A stand-in estimator: predicts the training class frequencies."""

    label = "mean"
    epochs = 1
    parallel_folds = False
    final_model = False
    state_files = ("mean.json",)

    def __init__(self, uses_validation: bool = True) -> None:
        self.uses_validation = uses_validation
        self.seen: dict = {}

    def prepare(self, windows):
        return windows

    def complexity(self, input_shapes, n_classes):
        return {"n_parameters": None, "flops_per_window": None}

    def fit(self, train, validation, *, seed, on_epoch=None, unlabelled=None):
        self.seen = {
            "train": len(train),
            "validation": None if validation is None else len(validation),
        }
        self.prior = np.bincount(train.labels, minlength=len(train.classes)) / len(train)
        return {
            "best_epoch": 1,
            "epochs_run": 1,
            "train_s": 0.0,
            "windows_per_s": 0.0,
            "history": [],
        }

    def predict_proba(self, windows):
        return np.tile(self.prior, (len(windows), 1))

    def save(self, folder):
        atomic_write_json(folder / "mean.json", {"prior": self.prior, **self.seen})

    def fold_record(self, test):
        return {"attention": {}}


def test_estimator_for_picks_network_or_features():
    config = RunConfig()
    assert isinstance(estimator_for(config), NetworkEstimator)
    config.model.name = "features"
    features = estimator_for(config)
    assert features.label == "features/rf"  # auto: a random forest for the features model
    assert not features.uses_validation and not features.final_model
    assert features.complexity({"x": (1, 8)}, 2) == {"n_parameters": None, "flops_per_window": None}


@pytest.mark.parametrize("uses_validation", [True, False])
def test_any_estimator_runs_through_the_fold_runner(monkeypatch, tmp_path, uses_validation):
    estimator = MeanEstimator(uses_validation)
    monkeypatch.setattr(folds_module, "estimator_for", lambda config: estimator)
    windows = RunWindows(_windows(5.0), _windows(10.0))
    fold = Fold(0, ("S2", "S3"), ("S4",), ("S5",))
    record = run_fold(FoldTask(fold, tmp_path / "f"), RunConfig(), windows, Progress(quiet=True))
    saved = read_json(tmp_path / "f" / "mean.json")
    assert finished_record(tmp_path / "f", estimator) is not None
    assert json.loads((tmp_path / "f" / "fold.json").read_text())["index"] == 0
    n_test = int((windows.eval.subjects == "S5").sum())
    assert record["n_test_windows"] == n_test == len(record["predictions"]["true"])
    if uses_validation:  # validation subject at the evaluation stride, kept apart
        assert saved["validation"] == int((windows.eval.subjects == "S4").sum())
        assert record["val_subjects"] == ["S4"] and record["train_subjects"] == ["S2", "S3"]
    else:  # validation subject's training-stride windows join training
        assert saved["validation"] is None
        assert saved["train"] == int(np.isin(windows.train.subjects, ["S2", "S3", "S4"]).sum())
        assert record["val_subjects"] == [] and record["train_subjects"] == ["S2", "S3", "S4"]


def test_fold_windows_keep_extras_and_order():
    windows = RunWindows(_windows(5.0), _windows(10.0))
    fold = Fold(0, ("S3", "S2"), ("S4",), ("S5",))
    merged = fold_windows(fold, windows, uses_validation=False)
    mask = np.isin(windows.train.subjects, ["S2", "S3", "S4"])
    assert np.array_equal(merged.train.extras["row"], np.flatnonzero(mask))  # recording order
    assert np.array_equal(merged.test.extras["row"], np.flatnonzero(windows.eval.subjects == "S5"))


def test_local_executor_yields_records_and_cancels(monkeypatch, tmp_path):
    monkeypatch.setattr(folds_module, "estimator_for", lambda config: MeanEstimator())
    windows = RunWindows(_windows(5.0), _windows(10.0))
    tasks = [
        FoldTask(
            Fold(i, tuple(s for s in ("S2", "S3", "S4", "S5") if s != test), (), (test,)),
            tmp_path / test,
        )
        for i, test in enumerate(("S2", "S3", "S4"))
    ]
    executor = LocalExecutor(RunConfig(), windows)
    done = []
    for task, record in executor.submit(tasks):
        done.append(task.fold.index)
        assert record["test_subjects"] == list(task.fold.test)
        executor.cancel()
    assert done == [0]
    assert [t.fold.index for t, _ in executor.submit(tasks)] == [0, 1, 2]


def test_atomic_writes_leave_no_partial_file(tmp_path):
    path = tmp_path / "sub" / "x.json"
    atomic_write_json(path, {"a": float("nan"), "b": np.float32(0.5), "c": (1, 2)})
    assert read_json(path) == {"a": None, "b": 0.5, "c": [1, 2]}

    def fail(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_stream(path, fail)
    assert read_json(path)["b"] == 0.5  # the old file, untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]


def test_model_card_reads_the_recorded_preprocessing_only():
    from xmodal.evaluation.model_card import model_card

    results = {
        "model": "attentive",
        "classes": ["a", "b"],
        "config": {"data": {}},
        "pooled": {"macro_f1": 0.5, "accuracy": 0.5},
        "preprocessing": {
            "ecg_band": [1.0, 30.0],
            "eda_highcut": 2.0,
            "bands": {"bvp": [0.5, 8.0]},
            "target_rates": {"ecg": 128.0},
        },
    }
    card = model_card(results)
    assert "ECG band-pass 1-30 Hz, EDA low-pass 2 Hz" in card
    assert "{'bvp': (0.5, 8.0)}" in card and "{'ecg': 128.0}" in card
    del results["preprocessing"]
    assert "settings n/a" in model_card(results)


def test_report_shows_missing_flops_as_na(tmp_path):
    from xmodal.evaluation.benchmark_rows import Row, _fill
    from xmodal.evaluation.report_tables import _fmt_cost

    results = {
        "model": "attentive",
        "modalities": ["x", "y"],
        "protocol": "loso",
        "folds": [
            {"accuracy": 0.5, "macro_f1": 0.5, "balanced_accuracy": 0.5, "test_subjects": ["S2"]}
        ],
        "per_subject": {"S2": {"accuracy": 0.5, "macro_f1": 0.5, "balanced_accuracy": 0.5}},
        "timing": {"train_s": 1.0},
        "n_parameters": 10,
    }
    row = Row(task="3class", name="old", results=[results])
    _fill(row)
    assert row.costs["flops_per_window"] is None
    assert _fmt_cost("flops_per_window", row.costs["flops_per_window"]) == "n/a"

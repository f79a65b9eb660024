"""End-to-end runs on small synthetic sets and on the real WESAD wrist subjects."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xmodal.cli import main
from xmodal.training.run_files import RESULTS_KEYS

#: one network per fold (the default seed ensemble is covered by test_recipe.py)
FAST = ["--epochs", "2", "--val-subjects", "1", "--train-stride", "10", "--ensemble", "1"]


def _train(capsys, data, out, *extra):
    code = main(
        [
            "train",
            str(data),
            "--out",
            str(out),
            "--quiet",
            "--cache-dir",
            str(out.parent / "cache"),
            *FAST,
            *extra,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads((out / "results.json").read_text())


def test_loso_run_writes_every_file_with_the_schema(capsys, tiny_wesad, tmp_path):
    out = tmp_path / "run"
    results = _train(capsys, tiny_wesad, out)
    for key in RESULTS_KEYS:
        assert key in results
    assert results["model"] == "late-fusion" and results["protocol"] == "loso"  # the default
    assert results["modalities"] == ["chest.ECG", "chest.EDA"]
    assert results["classes"] == ["baseline", "stress", "amusement"]
    assert len(results["folds"]) == 4
    for fold in results["folds"]:
        assert len(fold["test_subjects"]) == 1
        assert fold["test_subjects"][0] not in fold["val_subjects"]
        assert 0 <= fold["macro_f1"] <= 1 and 0 <= fold["accuracy"] <= 1
        assert fold["n_test_windows"] > 0
    assert 0 <= results["pooled"]["macro_f1"] <= 1
    assert np.array(results["pooled"]["confusion_matrix"]).sum() == results["pooled"]["n_windows"]
    for name in (
        "config.toml",
        "predictions.csv",
        "confusion_matrix.png",
        "per_subject.png",
        "training_curves.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "attention.png").exists()  # late fusion has no attention to plot
    assert len(list(out.glob("folds/*/model.pt"))) == 4
    header, *rows = (out / "predictions.csv").read_text().splitlines()
    assert header == "subject,t_start,true,predicted,p_baseline,p_stress,p_amusement"
    assert len(rows) == results["pooled"]["n_windows"]
    assert abs(sum(float(v) for v in rows[0].split(",")[4:]) - 1) < 1e-4
    assert not list(out.rglob("*.tmp"))


def test_same_seed_same_numbers_and_resume_skips_finished_folds(capsys, tiny_wesad, tmp_path):
    a = _train(capsys, tiny_wesad, tmp_path / "a", "--model", "cross", "--seed", "3")
    b = _train(capsys, tiny_wesad, tmp_path / "b", "--model", "cross", "--seed", "3")
    assert [f["macro_f1"] for f in a["folds"]] == [f["macro_f1"] for f in b["folds"]]
    assert a["pooled"] == b["pooled"]
    # resume: delete one fold's result; only that fold is trained again
    folds = sorted((tmp_path / "b" / "folds").iterdir())
    (folds[1] / "fold.json").unlink()
    before = {f.name: (f / "fold.json").stat().st_mtime_ns for f in folds if f != folds[1]}
    c = _train(capsys, tiny_wesad, tmp_path / "b", "--model", "cross", "--seed", "3")
    after = {f.name: (f / "fold.json").stat().st_mtime_ns for f in folds if f != folds[1]}
    assert before == after
    assert (folds[1] / "fold.json").exists()
    assert c["pooled"] == a["pooled"]
    # a different configuration in the same folder is refused, not mixed in
    code = main(
        [
            "train",
            str(tiny_wesad),
            "--out",
            str(tmp_path / "b"),
            "--quiet",
            *FAST,
            "--model",
            "late-fusion",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 2
    assert "another configuration" in capsys.readouterr().err


def test_parallel_fold_workers_give_the_same_numbers(capsys, tiny_wesad, tmp_path):
    # the test process trains with one thread, as --jobs workers do: equal results expected
    a = _train(capsys, tiny_wesad, tmp_path / "a", "--model", "cross", "--jobs", "1")
    b = _train(capsys, tiny_wesad, tmp_path / "b", "--model", "cross", "--jobs", "2")
    assert [f["macro_f1"] for f in a["folds"]] == [f["macro_f1"] for f in b["folds"]]
    assert a["pooled"] == b["pooled"]
    # without the cache, subjects are preprocessed in workers into a temporary cache that the
    # fold workers share; nothing lands in the cache directory
    c = _train(
        capsys, tiny_wesad, tmp_path / "nc" / "c", "--model", "cross", "--jobs", "2", "--no-cache"
    )
    assert c["pooled"] == a["pooled"]
    assert not (tmp_path / "nc" / "cache").exists()
    assert main(["train", str(tiny_wesad), "--out", str(tmp_path / "c"), "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_runs_in_one_backend_share_its_workers_with_the_same_numbers(capsys, tiny_wesad, tmp_path):
    from xmodal.config import load_config
    from xmodal.training.execution import LocalBackend
    from xmodal.training.experiment import run_experiment

    alone = {
        model: _train(capsys, tiny_wesad, tmp_path / model, "--model", model, "--jobs", "2")
        for model in ("cross", "late-fusion")
    }
    with LocalBackend(2) as backend:
        pids = []
        for model, expected in alone.items():
            config = load_config(tmp_path / model / "config.toml")
            results = run_experiment(config, tmp_path / "shared" / model, jobs=2, backend=backend)
            assert results["pooled"] == expected["pooled"]
            pids.append(sorted(backend.workers()._processes))
        assert pids[0] == pids[1] and len(pids[0]) == 2  # started once, for both runs
    assert backend._pool is None  # stopped with the block


def test_a_hybrid_computes_each_windows_features_once(capsys, tiny_wesad, tmp_path, monkeypatch):
    # the default hybrid with overlapping training windows: fold workers read the features the
    # run's process computed from the cache folder, with the same numbers as one process
    extra = ("--model", "late-fusion", "--train-stride", "5")
    a = _train(capsys, tiny_wesad, tmp_path / "a", *extra, "--jobs", "1")
    assert a["config"]["model"]["features_blend"] == "experts-mi"
    stored = sorted((tmp_path / "cache" / "features").glob("S*.npy"))
    assert len(stored) == 2 * 4  # per subject: the recording, the training windows off its grid
    b = _train(capsys, tiny_wesad, tmp_path / "b", *extra, "--jobs", "2")
    assert a["pooled"] == b["pooled"]
    assert sorted((tmp_path / "cache" / "features").glob("S*.npy")) == stored

    # a further run on the same data computes none
    def refuse(*args, **kwargs):
        raise AssertionError("features computed again")

    monkeypatch.setattr("xmodal.training.window_features.extract_features", refuse)
    c = _train(capsys, tiny_wesad, tmp_path / "c", *extra, "--jobs", "1")
    assert c["pooled"] == a["pooled"]


@pytest.mark.parametrize(
    "model,modalities",
    [
        ("late-fusion", ["chest.ECG", "chest.EDA"]),
        ("early-fusion", ["chest.ECG", "chest.EDA"]),
        ("score-fusion", ["chest.ECG", "chest.EDA"]),
        ("single", ["chest.EDA"]),
        ("attentive", ["chest.ECG", "chest.EDA", "wrist.BVP", "wrist.ACC"]),
    ],
)
def test_every_model_runs_kfold(capsys, tiny_wesad, tmp_path, model, modalities):
    results = _train(
        capsys,
        tiny_wesad,
        tmp_path / "run",
        "--model",
        model,
        "--modalities",
        *modalities,
        "--protocol",
        "kfold",
        "--folds",
        "2",
        "--task",
        "binary",
        "--epochs",
        "1",
    )
    assert len(results["folds"]) == 2
    assert results["classes"] == ["non-stress", "stress"]
    assert math.isfinite(results["pooled"]["macro_f1"])


def test_second_run_uses_the_cache(capsys, tiny_wesad, tmp_path):
    a = _train(capsys, tiny_wesad, tmp_path / "a", "--model", "single", "--modalities", "chest.ECG")
    entries = {p: p.stat() for p in (tmp_path / "cache").glob("*.npz")}
    assert len(entries) == 4
    b = _train(capsys, tiny_wesad, tmp_path / "b", "--model", "single", "--modalities", "chest.ECG")
    # read, not written again (an entry is replaced by a new file on a miss); not a timing:
    # the second run may well be slower on a loaded machine
    assert {p: (s.st_ino, s.st_mtime_ns) for p, s in entries.items()} == {
        p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (tmp_path / "cache").glob("*.npz")
    }
    assert b["per_subject"] == a["per_subject"]


@pytest.mark.slow
def test_real_wesad_wrist_binary(capsys, wesad_wrist, tmp_path):
    """Stress vs non-stress on the three real wrist subjects must be learnt, not only scored.

    The ``features`` model (a seeded random forest on 60-s windows) is the real-data check: it
    is quick and deterministic. It scores pooled macro-F1 0.865 and balanced accuracy 0.878
    (per subject 0.84, 0.79, 0.97). Always answering the majority class scores 0.42 and 0.50,
    and so does a pipeline whose labels do not match its signals. The floors (0.70 pooled,
    0.60 for the worst subject) lie between, with room for library versions. A network trained
    for a few epochs here still answers the majority class, so it would prove nothing.
    """
    results = _train(
        capsys,
        wesad_wrist,
        tmp_path / "run",
        "--model",
        "features",
        "--modalities",
        "wrist.BVP",
        "wrist.EDA",
        "--task",
        "binary",
    )
    assert [f["test_subjects"] for f in results["folds"]] == [["S2"], ["S3"], ["S4"]]
    assert results["windows"]["rates"] == {"wrist.BVP": 64.0, "wrist.EDA": 4.0}
    assert results["pooled"]["macro_f1"] >= 0.70, results["pooled"]
    assert results["pooled"]["balanced_accuracy"] >= 0.70, results["pooled"]
    worst = min(s["macro_f1"] for s in results["per_subject"].values())
    assert worst >= 0.60, results["per_subject"]


def test_fold_without_a_class_still_scores_and_reports_it(capsys, tmp_path):
    from conftest import write_wesad_pickle

    root = tmp_path / "d"
    n = 90 * 700
    for i, s in enumerate(("S2", "S3", "S4")):
        plan = [1, 2] if s == "S4" else [1, 2, 3]  # S4 has no amusement
        labels = np.repeat(plan, n // len(plan) + 1)[:n]
        write_wesad_pickle(root / s / f"{s}.pkl", seconds=90, subject=s, seed=i, labels=labels)
    results = _train(capsys, root, tmp_path / "run", "--epochs", "1", "--val-subjects", "0")
    fold = next(f for f in results["folds"] if f["test_subjects"] == ["S4"])
    assert fold["classes_absent"] == ["amusement"]
    assert math.isfinite(fold["macro_f1"]) and math.isfinite(fold["balanced_accuracy"])
    assert results["per_subject"]["S4"]["classes_absent"] == ["amusement"]

"""Splits, metrics, result files and configuration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmodal.config import ModelConfig, RunConfig, load_config
from xmodal.errors import ConfigError, XmodalError
from xmodal.files import atomic_write_json
from xmodal.training.metrics import classification_metrics, mean_std
from xmodal.training.run_files import predictions_csv
from xmodal.training.splits import make_folds
from xmodal.training.trainer import class_weights


def _groups(n_subjects=6, per=12, n_classes=3):
    subjects = np.repeat([f"S{i}" for i in range(2, 2 + n_subjects)], per)
    labels = np.tile(np.arange(per) % n_classes, n_subjects)
    return subjects, labels


@pytest.mark.parametrize("protocol,n_folds,expected", [("loso", 0, 6), ("kfold", 3, 3)])
def test_folds_are_disjoint_and_cover_every_subject(protocol, n_folds, expected):
    subjects, labels = _groups()
    folds = make_folds(subjects, labels, protocol, n_folds, n_val=2, seed=0)
    assert len(folds) == expected
    tested = []
    for f in folds:
        assert not set(f.train) & set(f.test)
        assert not set(f.val) & set(f.test)
        assert not set(f.val) & set(f.train)
        assert len(f.val) == 2
        assert set(f.train) | set(f.val) | set(f.test) == set(subjects)
        tested += f.test
    assert sorted(tested) == sorted(set(subjects))


def test_loso_order_is_natural_and_deterministic():
    subjects, labels = _groups(12)
    a = make_folds(subjects, labels, "loso", n_val=2, seed=3)
    b = make_folds(subjects, labels, "loso", n_val=2, seed=3)
    assert a == b
    assert [f.test[0] for f in a][:3] == ["S2", "S3", "S4"]
    assert a[-1].test == ("S13",)


def test_validation_prefers_subjects_with_every_class():
    subjects, labels = _groups(5)
    labels[subjects == "S3"] = 0  # S3 has one class only
    for f in make_folds(subjects, labels, "loso", n_val=1, seed=0):
        if f.test != ("S3",):
            assert f.val != ("S3",)


def test_too_few_subjects_is_a_clear_error():
    subjects, labels = _groups(2)
    with pytest.raises(XmodalError, match="too few subjects.*1 test \\+ 2 validation"):
        make_folds(subjects, labels, "loso", n_val=2)
    assert len(make_folds(subjects, labels, "loso", n_val=0)) == 2


def test_metrics_known_values_and_absent_class():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 1])
    m = classification_metrics(y_true, y_pred, ("a", "b", "c"))
    assert m["accuracy"] == 0.75
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    assert m["classes_absent"] == ["c"]
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    mean, std = mean_std(
        [
            {"accuracy": 1.0, "macro_f1": 0.5, "balanced_accuracy": 0.5},
            {"accuracy": 0.5, "macro_f1": 0.5, "balanced_accuracy": float("nan")},
        ]
    )
    assert mean["accuracy"] == 0.75 and std["accuracy"] == 0.25 and mean["balanced_accuracy"] == 0.5


def test_class_weights_balance_and_absent_class():
    w = class_weights(np.array([0, 0, 0, 1]), 3).numpy()
    np.testing.assert_allclose(w, [4 / 6, 2.0, 0.0])


def test_results_json_is_strict_and_atomic(tmp_path):
    atomic_write_json(tmp_path / "r.json", {"a": float("nan"), "b": np.float32(0.5), "c": (1, 2)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": None, "b": 0.5, "c": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_predictions_csv_columns():
    text = predictions_csv(["S2"], [10.0], [1], [0], np.array([[0.7, 0.2, 0.1]]), ("a", "b", "c"))
    assert text.splitlines() == [
        "subject,t_start,true,predicted,p_a,p_b,p_c",
        "S2,10.000,b,a,0.700000,0.200000,0.100000",
    ]


def test_config_roundtrip_and_unknown_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nname = "cross"\nconnections = [2]\n[training]\nepochs = 3\n')
    config = load_config(path)
    assert config.model.name == "cross" and config.model.connections == (2,)
    assert config.training.epochs == 3 and config.data.task == "3class"
    assert RunConfig.from_dict(config.to_dict()) == config
    path.write_text('[model]\nnme = "cross"\n')
    with pytest.raises(ConfigError, match="unknown key 'nme' in \\[model\\]"):
        load_config(path)
    path.write_text("[modle]\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_config(path)
    path.write_text('[training]\nepochs = "many"\n')
    with pytest.raises(ConfigError, match="epochs"):
        load_config(path)
    path.write_text("not toml [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_model_config_validation():
    from xmodal.models.registry import get_model

    with pytest.raises(ConfigError, match="unknown model 'transformer'; valid: attentive"):
        get_model("transformer")
    with pytest.raises(ConfigError, match="block 4"):
        ModelConfig(connections=(4,)).resolved()
    assert ModelConfig(preset="paper").resolved().widths == (32, 64, 128)

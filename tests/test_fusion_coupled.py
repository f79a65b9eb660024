"""Fusion must pay off where the classes live only in the relation between ECG and EDA."""

from __future__ import annotations

import pytest

from xmodal.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from xmodal.data.synthetic import simulate_wesad
from xmodal.training.experiment import run_experiment
from xmodal.training.progress import Progress


@pytest.fixture(scope="module")
def coupled(tmp_path_factory):
    root = tmp_path_factory.mktemp("coupled")
    simulate_wesad(root / "data", subjects=6, minutes=10.0, seed=0, coupled=True)
    return root


def _run(root, name, model, modalities):
    config = RunConfig(
        data=DataConfig(path=str(root / "data"), modalities=modalities, task="binary",
                        rates={"chest.ECG": 64.0}, train_stride=5.0, cache_dir=str(root / "cache")),
        model=ModelConfig(name=model),
        training=TrainConfig(epochs=10, val_subjects=0, seed=0),
        evaluation=EvalConfig(protocol="loso"))
    return run_experiment(config, root / name, Progress(quiet=True))["pooled"]["macro_f1"]


def test_attentive_beats_each_single_modality_on_coupled_data(coupled):
    attentive = _run(coupled, "attentive", "attentive", ("chest.ECG", "chest.EDA"))
    ecg = _run(coupled, "ecg", "single", ("chest.ECG",))
    eda = _run(coupled, "eda", "single", ("chest.EDA",))
    print(f"coupled binary pooled macro-F1: attentive {attentive:.3f}, ECG {ecg:.3f}, EDA {eda:.3f}")
    assert attentive > max(ecg, eda) + 0.1

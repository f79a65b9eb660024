"""Test-time adaptation (``data.adapt``): BatchNorm statistics of the test subject's unlabelled
windows; the causal variant reads no sample after its window; no label is ever read."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from xmodal.cli import main
from xmodal.config import ModelConfig
from xmodal.errors import ConfigError
from xmodal.inference.predictor import Predictor
from xmodal.models.registry import build_model
from xmodal.signals.windows import WindowSet
from xmodal.training.adaptation import (
    MIN_WINDOWS,
    adapt_batchnorm,
    adapted_predict,
    batchnorm_layers,
    expert_weights,
    mutual_information,
    window_probabilities,
)

RATES = {"wrist.BVP": 32.0, "wrist.EDA": 4.0}


def _recording(n: int = 40, seed: int = 0, subject: str = "S9") -> WindowSet:
    """One subject's windows every 10 s, shifted away from the training distribution."""
    rng = np.random.default_rng(seed)
    inputs = {
        m: (2.0 + 3.0 * rng.standard_normal((n, 1, int(10 * fs)))).astype(np.float32)
        for m, fs in RATES.items()
    }
    return WindowSet(
        inputs,
        np.full(n, subject),
        np.full(n, -1, dtype=np.int64),
        np.arange(n) * 10.0,
        dict(RATES),
        ("a", "b"),
        10.0,
    )


class NoLabels:
    """A window set whose labels raise when read (instrumented: adaptation must not read them)."""

    def __init__(self, windows: WindowSet) -> None:
        self._w = windows

    @property
    def labels(self):
        raise AssertionError("adaptation read a label")

    def __len__(self):
        raise AssertionError("len() reads the labels of a WindowSet")

    def __getattr__(self, name):
        return getattr(self._w, name)


def _model(name: str = "attentive", ensemble: int = 1, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = ModelConfig(name=name, widths=(4, 4, 4), ensemble=ensemble)
    rates = {"wrist.EDA": 4.0} if name == "single" else RATES
    return build_model(cfg, {m: (1, int(10 * fs)) for m, fs in rates.items()}, 2).eval()


def _predict(net, inputs):
    return window_probabilities(net, inputs, "cpu")


@pytest.mark.parametrize("name,ensemble", [("attentive", 1), ("late-fusion", 2), ("single", 1)])
def test_adabn_uses_the_subjects_statistics_and_leaves_the_model(name, ensemble):
    model = _model(name, ensemble)
    rec = _recording()
    if name == "single":
        rec = _single(rec)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = adapted_predict(model, rec, rec, _predict, "none")
    adapted = adapted_predict(model, NoLabels(rec), NoLabels(rec), _predict, "adabn")
    again = adapted_predict(model, NoLabels(rec), NoLabels(rec), _predict, "adabn")
    assert adapted.shape == plain.shape == (len(rec), 2)
    assert np.allclose(adapted.sum(1), 1, atol=1e-5)
    assert not np.allclose(adapted, plain)  # the shifted subject moves the statistics
    assert np.array_equal(adapted, again)  # deterministic
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the trained model unchanged
    # the first BatchNorm layer now holds the subject's input mean (the stem sees the raw input)
    net = adapt_batchnorm(copy.deepcopy(model), {m: rec.inputs[m] for m in rec.modalities})
    assert not net.training
    assert any(
        not torch.allclose(a.running_mean, b.running_mean)
        for a, b in zip(batchnorm_layers(net), batchnorm_layers(model))
    )


@pytest.mark.parametrize("mode", ["adabn-causal", "experts-mi-causal"])
def test_causal_adaptation_reads_no_sample_after_its_window(mode):
    model = _model()
    rec = _recording(n=40)
    minutes = 2.0  # windows ending by 120 s adapt; the later ones use those 12 windows, frozen
    base = adapted_predict(model, NoLabels(rec), NoLabels(rec), _predict, mode, minutes)
    for k in (0, 3, 11, 12, 25):
        end = rec.t_start[k] + rec.window
        changed = {m: x.copy() for m, x in rec.inputs.items()}
        later = rec.t_start + rec.window > end
        for m in changed:
            changed[m][later] = 50.0 * np.random.default_rng(k).standard_normal(
                changed[m][later].shape
            )
        other = WindowSet(
            changed, rec.subjects, rec.labels, rec.t_start, rec.rates, rec.classes, rec.window
        )
        out = adapted_predict(model, other, other, _predict, mode, minutes)
        assert np.allclose(out[: k + 1], base[: k + 1], atol=1e-6), k
        if later.any():
            assert not np.allclose(out[later], base[later])  # the later windows did change
    # after the adaptation period the adaptation is frozen: the offline mode differs
    full = adapted_predict(model, rec, rec, _predict, mode.removesuffix("-causal"))
    assert not np.allclose(full[20:], base[20:])


def test_mutual_information_and_expert_weights():
    flat = np.tile([0.9, 0.1], (10, 1))  # the same prediction for every window: no information
    assert mutual_information(flat) == pytest.approx(0.0, abs=1e-9)
    sure = np.eye(2)[np.arange(10) % 2]  # confident and following the windows: log 2
    assert mutual_information(sure) == pytest.approx(np.log(2), abs=1e-6)
    rec = _recording(n=20)
    for ensemble in (1, 2):
        model = _model("late-fusion", ensemble)
        weights = expert_weights(model, {m: rec.inputs[m] for m in rec.modalities})
        assert len(weights) == ensemble
        assert all(w.shape == (3,) and np.isclose(w.sum(), 1) and (w >= 0).all() for w in weights)
        for mode in ("experts-mi", "adabn-experts-mi"):
            out = adapted_predict(model, NoLabels(rec), NoLabels(rec), _predict, mode)
            assert np.allclose(out.sum(1), 1, atol=1e-5)


def test_adaptation_per_test_subject_and_errors():
    model = _model()
    a, b = _recording(20, 0, "S8"), _recording(20, 1, "S9")
    both = WindowSet.concat([a, b])
    together = adapted_predict(model, both, both, _predict, "adabn")
    alone = adapted_predict(model, a, a, _predict, "adabn")
    assert np.allclose(together[:20], alone, atol=1e-6)  # S9 does not move S8's statistics
    with pytest.raises(ConfigError, match="unknown adaptation"):
        adapted_predict(model, a, a, _predict, "tent")
    with pytest.raises(ConfigError, match="no recording windows"):
        adapted_predict(model, a, b, _predict, "adabn")
    # nothing to adapt, or too few windows to adapt to: the network as trained
    no_bn = build_model(
        ModelConfig(name="attentive", widths=(4, 4, 4), ensemble=1, batch_norm=False),
        {m: (1, int(10 * fs)) for m, fs in RATES.items()},
        2,
    )
    for net, mode in ((no_bn, "adabn"), (_model("single"), "experts-mi")):
        rec = a if net is no_bn else _single(a)
        plain = adapted_predict(net, rec, rec, _predict, "none")
        assert np.allclose(adapted_predict(net, rec, rec, _predict, mode), plain, atol=1e-6)
    short = a.subset(np.arange(MIN_WINDOWS - 1))
    assert np.allclose(
        adapted_predict(model, short, short, _predict, "adabn"),
        adapted_predict(model, short, short, _predict, "none"),
        atol=1e-6,
    )


def _single(w: WindowSet) -> WindowSet:
    return WindowSet(
        {"wrist.EDA": w.inputs["wrist.EDA"]},
        w.subjects,
        w.labels,
        w.t_start,
        {"wrist.EDA": 4.0},
        w.classes,
        w.window,
    )


@pytest.mark.slow
def test_adapted_run_records_saves_loads_predicts_and_exports(tiny_wesad, tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        str(tiny_wesad),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--val-subjects",
        "1",
        "--train-stride",
        "10",
        "--ensemble",
        "1",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "1",
        "--adapt",
        "adabn-causal",
        "--adapt-minutes",
        "2",
        "--features-blend",  # the network alone: it streams, exports and is re-tested
        "none",
    ]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["data"]["adapt"] == "adabn-causal"
    assert results["config"]["data"]["adapt_minutes"] == 2.0
    card = (out / "MODEL_CARD.md").read_text()
    assert "Test-time adaptation (adabn-causal)" in card and "first 2 min" in card
    # the saved fold model is the trained one; the fold's predictions are the adapted ones
    fold = sorted((out / "folds").iterdir())[0]
    record = json.loads((fold / "fold.json").read_text())
    predictor = Predictor.from_run(out, fold=fold.name)
    assert predictor.adapt == "adabn-causal"
    from xmodal.data.wesad import load_wesad_subject

    subject = record["test_subjects"][0]
    rec = load_wesad_subject(tiny_wesad / subject / f"{subject}.pkl", predictor.modalities)
    signals = {m: rec.signals[m].data for m in predictor.modalities}
    rates = {m: rec.signals[m].rate for m in predictor.modalities}
    adapted = predictor.predict(signals, rates)
    plain = predictor.predict(signals, rates, adapt="none")
    assert adapted.proba.shape == plain.proba.shape
    assert not np.allclose(adapted.proba, plain.proba)
    assert np.array_equal(adapted.proba, predictor.predict(signals, rates).proba)
    # re-testing the saved fold networks under the same mode gives the run's own scores
    root = Path(__file__).resolve().parents[1]
    for mode, name in (("adabn-causal", "again"), ("none", "plain")):
        cmd = ["-m", "benchmarks.readapt", "readapt", str(out), "--adapt", mode]
        cmd += ["--adapt-minutes", "2", "--out", str(tmp_path / name)]
        subprocess.run([sys.executable, *cmd], cwd=root, check=True, capture_output=True)
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again["per_subject"] == results["per_subject"]
    plain = json.loads((tmp_path / "plain" / "results.json").read_text())
    assert plain["config"]["data"]["adapt"] == "none"
    # export holds the trained network (adaptation is per wearer, at prediction time)
    assert main(["export", str(out), "--out", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 0

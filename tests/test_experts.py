"""Per-sensor experts (``--output experts``): the fused model and each stream alone, mixed per
window by a gate fitted on the inner validation subjects."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xmodal.cli import main
from xmodal.config import ModelConfig
from xmodal.errors import ConfigError
from xmodal.inference.predictor import Predictor
from xmodal.models.registry import build_model
from xmodal.signals.windows import WindowSet
from xmodal.training.experts import fit_expert_gate

RATES = {"wrist.BVP": 32.0, "wrist.EDA": 4.0}


def _windows(n: int = 60, seed: int = 0) -> WindowSet:
    """Only EDA carries the class (a level shift); BVP is noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    inputs = {
        m: rng.standard_normal((n, 1, int(10 * fs))).astype(np.float32) for m, fs in RATES.items()
    }
    inputs["wrist.EDA"] += 2.0 * y[:, None, None].astype(np.float32)
    return WindowSet(
        inputs,
        np.full(n, "S2"),
        y.astype(np.int64),
        np.arange(n) * 10.0,
        dict(RATES),
        ("a", "b"),
        10.0,
    )


def _model(name: str = "attentive") -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, widths=(4, 4, 4), ensemble=1, output="experts")
    return build_model(cfg, {m: (1, int(10 * fs)) for m, fs in RATES.items()}, 2)


def _out(model, w: WindowSet) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(*[torch.from_numpy(w.inputs[m]) for m in w.modalities])


@pytest.mark.parametrize("name", ["attentive", "late-fusion"])
def test_gate_is_fused_until_fitted_then_mixes_deterministically(name):
    w = _windows()
    model = _model(name)
    with torch.no_grad():
        experts = model.eval().expert_logits(*[torch.from_numpy(w.inputs[m]) for m in w.modalities])
    assert len(experts) == 3
    assert torch.allclose(_out(model, w), experts[0])  # not fitted: the fused expert
    info = fit_expert_gate(model, w, 2, seed=0)
    assert info["n_windows"] == 60 and len(info["mean_weights"]) == 3
    mixed = _out(model, w)
    assert torch.allclose(mixed.exp().sum(1), torch.ones(len(w)), atol=1e-5)
    again = _model(name)
    again.load_state_dict(model.state_dict())  # the gate and its 'fitted' flag are saved
    assert torch.equal(_out(again, w), mixed)
    other = _model(name)
    fit_expert_gate(other, w, 2, seed=0)
    assert torch.equal(_out(other, w), mixed)  # deterministic for a seed


def test_gate_prefers_the_informative_stream_expert():
    """A network whose EDA path carries the class: after fitting, the gate weighs the EDA
    expert above the BVP expert."""
    w = _windows(120)
    model = _model("late-fusion")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xs = [torch.from_numpy(w.inputs[m]) for m in w.modalities]
    y = torch.from_numpy(w.labels)
    model.train()
    for step in range(30):  # train the fused model with one stream withheld at random
        gen = torch.Generator().manual_seed(step)
        keep = torch.ones(len(w), 2)
        drop = torch.rand(len(w), generator=gen) < 0.5
        which = torch.randint(0, 2, (len(w),), generator=gen)
        keep[drop, which[drop]] = 0.0
        loss = torch.nn.functional.cross_entropy(model.head_logits(*xs, keep=keep)[0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    info = fit_expert_gate(model, w, 2, seed=0)
    fused, bvp, eda = info["mean_weights"]
    assert eda > bvp


def test_experts_config_errors():
    with pytest.raises(ConfigError, match="replaces the per-stream heads"):
        ModelConfig(output="experts", aux_heads=True).resolved()
    assert ModelConfig(output="experts").resolved().output == "experts"
    single = build_model(
        ModelConfig(name="single", widths=(4, 4, 4), ensemble=1, output="experts"),
        {"wrist.EDA": (1, 40)},
        2,
    )
    assert single.expert_gate is None  # one stream: nothing to gate
    assert fit_expert_gate(single, _windows(), 2, 0) is None


@pytest.mark.slow
def test_experts_run_records_gate_saves_loads_predicts_and_exports(tiny_wesad, tmp_path):
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
        "2",
        "--modality-dropout",
        "0.3",
        "--output",
        "experts",
        "--features-blend",  # the network alone: it exports
        "none",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "1",
    ]
    assert main(args) == 0
    fold = json.loads(sorted((out / "folds").glob("*/fold.json"))[0].read_text())
    assert len(fold["expert_gate"]) == 2 and len(fold["expert_gate"][0]["mean_weights"]) == 3
    predictor = Predictor.from_run(out)
    member = predictor.models[0].members[0]
    assert float(member.expert_gate.fitted) == 1.0
    shapes = predictor.models[0].input_shapes
    inputs = {
        m: np.random.default_rng(0).standard_normal((3, *s)).astype(np.float32)
        for m, s in shapes.items()
    }
    proba = predictor.predict_proba(inputs)
    assert proba.shape == (3, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    onnx = tmp_path / "m.onnx"
    assert main(["export", str(out), "--out", str(onnx)]) == 0
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, inputs)[:1]
    exported = np.exp(logits - logits.max(1, keepdims=True))
    exported /= exported.sum(1, keepdims=True)
    assert np.abs(exported - proba).max() < 1e-4

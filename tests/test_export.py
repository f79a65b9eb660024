"""ONNX and TorchScript exports equal PyTorch within 1e-5 for every model type."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from xmodal.cli import main
from xmodal.config import ModelConfig
from xmodal.inference.export import ExportModule, export_models
from xmodal.models.registry import build_model, get_model, model_names

MODEL_NAMES = [n for n in model_names() if get_model(n).is_network]

ort = pytest.importorskip("onnxruntime")
SHAPES = {"chest.ECG": (1, 2560), "chest.EDA": (1, 160)}
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "onnx_inference.py"


def _model(name: str):
    shapes = {"chest.ECG": SHAPES["chest.ECG"]} if name == "single" else SHAPES
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, ensemble=1), shapes, 3)
    for module in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_exports_match_pytorch(name, tmp_path):
    model = _model(name)
    attention = name == "attentive"
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((3, *s)).astype(np.float32) for s in model.input_shapes.values()]
    with torch.no_grad():
        ref = ExportModule([model], attention)(*map(torch.from_numpy, xs))
    ref = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
    onnx_path = export_models(
        [model], tmp_path / "m.onnx", "onnx", attention, {"classes": list("abc")}
    )
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == model.modalities
    assert session.get_inputs()[0].shape[0] == "batch"
    out = session.run(None, dict(zip(model.modalities, xs)))
    assert len(out) == len(ref) == (7 if attention else 1)
    for o, r in zip(out, ref):
        assert np.abs(o - r).max() < 1e-5
    ts = torch.jit.load(str(export_models([model], tmp_path / "m.pt", "torchscript", attention)))
    with torch.no_grad():
        out = ts(*map(torch.from_numpy, xs))
    for o, r in zip(out if isinstance(out, tuple) else (out,), ref):
        assert np.abs(o.numpy() - r).max() < 1e-5


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_frozen_cpu_copy_matches_pytorch_at_any_batch(name):
    from xmodal.inference.frozen import freeze_for_cpu

    model = _model(name)
    frozen = freeze_for_cpu(model)
    for batch in (1, 5):
        xs = model.example_inputs(batch)
        with torch.no_grad():
            assert (frozen(*xs) - model(*xs)).abs().max().item() < 1e-5


def test_cli_export_of_a_run_and_numpy_only_example(capsys, chest_run, tmp_path):
    out = tmp_path / "ens.onnx"
    assert (
        main(["export", str(chest_run), "--format", "onnx", "--out", str(out), "--ensemble"]) == 0
    ), capsys.readouterr().err
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["xmodal"])
    assert meta["classes"] == ["baseline", "stress", "amusement"] and meta["n_models"] == 4
    assert meta["rates"] == {"chest.ECG": 256.0, "chest.EDA": 16.0}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), str(out)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "baseline" in result.stdout or "stress" in result.stdout or "amusement" in result.stdout
    assert (
        main(
            [
                "export",
                str(chest_run),
                "--format",
                "torchscript",
                "--out",
                str(tmp_path / "final.pt"),
                "--attention",
            ]
        )
        == 0
    )
    with pytest.raises(SystemExit) as exc:
        main(["export", str(chest_run), "--format", "zip", "--out", "x"])
    assert exc.value.code == 2

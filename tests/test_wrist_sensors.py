"""Every wrist sensor (BVP, EDA, TEMP, ACC): streams, N-stream fusion, ACC and TEMP features."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from xmodal.config import DataConfig, ModelConfig
from xmodal.data.registry import get_adapter
from xmodal.inference.export import ExportModule, export_models
from xmodal.models.features import extract_features
from xmodal.models.registry import build_model
from xmodal.signals.pipeline import prepare_subjects, windows_of
from xmodal.signals.windows import WindowSet

WRIST = ("wrist.BVP", "wrist.EDA", "wrist.TEMP", "wrist.ACC")
#: (channels, samples) of a 10-s window of each wrist sensor at its default rate
SHAPES = {"wrist.BVP": (1, 640), "wrist.EDA": (1, 40), "wrist.TEMP": (1, 40), "wrist.ACC": (3, 320)}


# ---------------------------------------------------------------------------- streams


def test_temp_and_acc_windows_of_simulated_wrist(tiny_wesad, tmp_path):
    config = DataConfig(
        path=str(tiny_wesad),
        modalities=WRIST,
        subjects=("S2",),
        task="3class",
        cache_dir=str(tmp_path / "cache"),
    )
    prepared = prepare_subjects(config)
    rec = prepared["S2"]
    assert rec.rates == {"wrist.BVP": 64.0, "wrist.EDA": 4.0, "wrist.TEMP": 4.0, "wrist.ACC": 32.0}
    task = get_adapter("wesad").tasks()["3class"]
    ws = windows_of(prepared, task, 10.0, 10.0)
    assert len(ws) > 10
    for m, (c, t) in SHAPES.items():
        x = ws.inputs[m]
        assert x.shape[1:] == (c, t) and np.isfinite(x).all(), m
        # z-scored per subject: every channel varies
        assert (x.std(axis=(0, 2)) > 0.1).all(), m


# ---------------------------------------------------------------------------- N streams


def _shapes(n: int) -> dict[str, tuple[int, int]]:
    return {m: SHAPES[m] for m in WRIST[:n]}


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("name", ["attentive", "cross", "late-fusion"])
def test_n_streams_of_different_rates_forward_backward(name, n):
    shapes = _shapes(n)
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, ensemble=1), shapes, 3)
    xs = [torch.randn(4, *s, requires_grad=True) for s in shapes.values()]
    if name == "attentive":
        logits, attention = model.forward_with_attention(*xs)
        pairs = n * (n - 1)  # both directions between every two streams, after 3 blocks
        assert len(attention) == 3 * pairs
        for key, a in attention.items():
            target = key.split("->")[1].split("@")[0]
            assert a.shape[0] == 4 and torch.isfinite(a).all(), key
            assert target in shapes
    else:
        logits = model(*xs)
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()
    logits.sum().backward()
    for m, x in zip(shapes, xs):  # every stream receives a gradient
        assert x.grad is not None and x.grad.abs().sum() > 0, m
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_n_streams_export_matches_pytorch(n, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="attentive", ensemble=1), _shapes(n), 3).eval()
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, *s)).astype(np.float32) for s in model.input_shapes.values()]
    with torch.no_grad():
        ref = [r.numpy() for r in ExportModule([model], True)(*map(torch.from_numpy, xs))]
    path = export_models([model], tmp_path / "m.onnx", "onnx", True, {"classes": list("abc")})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(WRIST[:n])
    out = session.run(None, dict(zip(model.modalities, xs)))
    assert len(out) == len(ref) == 1 + 3 * n * (n - 1)
    for o, r in zip(out, ref):
        assert np.abs(o - r).max() < 1e-4


# ---------------------------------------------------------------------------- features


def _windows(inputs: dict[str, np.ndarray], rates: dict[str, float], seconds: float) -> WindowSet:
    n = len(next(iter(inputs.values())))
    return WindowSet(
        {m: a.astype(np.float32) for m, a in inputs.items()},
        np.array(["S2"] * n),
        np.zeros(n, dtype=np.int64),
        np.zeros(n),
        dict(rates),
        ("a", "b"),
        seconds,
    )


def test_acc_and_temp_features_of_known_signals():
    fs, seconds = 32.0, 10.0
    t = np.arange(int(fs * seconds)) / fs
    acc = np.zeros((3, 3, len(t)))
    acc[0, 0] = np.sin(2 * np.pi * 2.0 * t)  # 2-Hz swing on x
    acc[0, 1] = 0.5 * np.sin(2 * np.pi * 0.5 * t)  # slower, smaller on y
    acc[1, :2] = np.array([3.0, 4.0])[:, None]  # constant: magnitude 5
    acc[2] = 0.0  # flat
    tt = np.arange(40) / 4.0
    temp = np.stack([0.1 * tt, -0.2 * tt + 1.0, np.zeros(40)])[:, None, :]
    ws = _windows(
        {"wrist.ACC": acc, "wrist.TEMP": temp}, {"wrist.ACC": fs, "wrist.TEMP": 4.0}, seconds
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, names = extract_features(ws)
    f = {k: x[:, i] for i, k in enumerate(names)}
    assert len(set(names)) == len(names) == x.shape[1]
    for prefix in ("wrist.ACC[0]", "wrist.ACC[1]", "wrist.ACC[2]", "wrist.ACC[mag]"):
        for key in ("mean", "std", "abs_integral", "peak_freq"):
            assert f"{prefix}.{key}" in names
    assert f["wrist.ACC[0].peak_freq"][0] == pytest.approx(2.0, abs=0.1)
    assert f["wrist.ACC[1].peak_freq"][0] == pytest.approx(0.5, abs=0.1)
    assert f["wrist.ACC[mag].mean"][1] == pytest.approx(5.0)
    duration = (len(t) - 1) / fs
    assert f["wrist.ACC[mag].abs_integral"][1] == pytest.approx(5.0 * duration)
    assert f["wrist.ACC[0].abs_integral"][0] == pytest.approx(2 / np.pi * duration, rel=0.02)
    assert np.isnan(f["wrist.ACC[2].peak_freq"][2]) and f["wrist.ACC[2].std"][2] == 0
    # TEMP: Schmidt's mean, std, min, max, dynamic range and slope
    assert f["wrist.TEMP.slope"][:2] == pytest.approx([0.1, -0.2])
    assert f["wrist.TEMP.range"][0] == pytest.approx(0.1 * tt[-1], rel=1e-5)
    assert f["wrist.TEMP.min"][1] == pytest.approx(1.0 - 0.2 * tt[-1], rel=1e-5)
    for key in ("mean", "std", "min", "max", "range", "slope"):
        assert f"wrist.TEMP.{key}" in names
    # a one-channel ACC (already a magnitude) gets the motion features itself, no [mag]
    one = _windows({"wrist.ACC": acc[:, :1]}, {"wrist.ACC": fs}, seconds)
    _, names1 = extract_features(one)
    assert "wrist.ACC.peak_freq" in names1 and not any("[mag]" in k for k in names1)


def test_acc_and_temp_features_of_a_real_subject(wesad_wrist, tmp_path):
    config = DataConfig(
        path=str(wesad_wrist),
        modalities=("wrist.TEMP", "wrist.ACC"),
        subjects=("S2",),
        task="binary",
        cache_dir=str(tmp_path / "cache"),
    )
    prepared = prepare_subjects(config)
    ws = windows_of(prepared, get_adapter("wesad").tasks()["binary"], 60.0, 60.0)
    assert len(ws) > 20
    x, names = extract_features(ws)
    assert x.shape == (len(ws), len(names))
    f = {k: x[:, i] for i, k in enumerate(names)}
    for key in ("mean", "std", "abs_integral", "peak_freq"):
        assert np.isfinite(f[f"wrist.ACC[mag].{key}"]).all(), key
    assert (f["wrist.ACC[mag].peak_freq"] > 0).all() and (f["wrist.ACC[mag].peak_freq"] <= 16).all()
    for key in ("mean", "std", "min", "max", "range", "slope"):
        assert np.isfinite(f[f"wrist.TEMP.{key}"]).all(), key
    # the windows differ: temperature drifts over the recording
    assert np.ptp(f["wrist.TEMP.mean"]) > 0.5


# ---------------------------------------------------------------------------- datasets


def test_survey_reports_temperature_off_the_skin():
    from xmodal.data.survey import signal_problems

    rate = 4.0
    temp = np.full((4000, 1), 33.0) + np.random.default_rng(0).normal(0, 0.05, (4000, 1))
    assert signal_problems(temp, rate, "temp") == []
    temp[:400] = np.linspace(22.0, 24.0, 400)[:, None]  # 100 s off the wrist, on the table
    (problem,) = signal_problems(temp, rate, "temp")
    assert problem.startswith("off the skin? 100.0 s (10.0 %) outside 25-42 degC")
    assert signal_problems(temp + 273.15, rate, "temp") == []  # kelvin: not checked
    assert not any("off the skin" in p for p in signal_problems(temp, rate, "eda"))


def test_datasets_lists_every_wrist_sensor(capsys, wesad_wrist):
    from xmodal.cli import main

    assert main(["datasets", str(wesad_wrist), "--subjects", "S2"]) == 0
    out = capsys.readouterr().out
    for line in ("wrist.BVP        64 Hz", "wrist.EDA         4 Hz", "wrist.TEMP        4 Hz",
                 "wrist.ACC        32 Hz  3 channels"):  # fmt: skip
        assert line in out, line
    assert "problems: none" in out


# ---------------------------------------------------------------------------- study tools


def test_acc_magnitude_copy(tmp_path):
    from conftest import write_wesad_pickle

    from benchmarks.acc_magnitude import write_magnitude_copy
    from xmodal.data.safe_pickle import load_pickle

    write_wesad_pickle(tmp_path / "src" / "S2" / "S2.pkl", seconds=20, wrist=("ACC", "EDA"))
    assert write_magnitude_copy(tmp_path / "src", tmp_path / "out") == ["S2"]
    a = load_pickle(tmp_path / "src" / "S2" / "S2.pkl")["signal"]["wrist"]
    b = load_pickle(tmp_path / "out" / "S2" / "S2.pkl")["signal"]["wrist"]
    mag = np.linalg.norm(a["ACC"], axis=1)
    assert b["ACC"].shape == a["ACC"].shape
    for c in range(3):
        np.testing.assert_allclose(b["ACC"][:, c], mag)
    np.testing.assert_array_equal(b["EDA"], a["EDA"])

"""The benchmark entry point runs (``--quick``) and writes every field; presets and the fast conv path.

No timing is asserted here: benchmarks are not tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xmodal.config import PRESETS, ModelConfig
from xmodal.models.blocks import SameConv1d
from xmodal.models.registry import build_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_quick_writes_every_field(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["quick"] is True
    for key in ("cpu", "logical_cpus", "torch", "load_avg_start", "load_avg_end"):
        assert key in r["machine"]
    precisions = r["machine"]["precisions"]
    assert precisions[0] == "fp32" and set(precisions) <= {"fp32", "bf16"}
    for key in ("matmul_gflops", "conv1d_gflops"):
        assert r["peaks"][key] > 0
        for precision in precisions:
            assert r["peaks"][precision][key] > 0
    pre = r["preprocess"]
    for key in (
        "cold_s",
        "cached_s",
        "cold_peak_rss_mib",
        "cached_peak_rss_mib",
        "targets_met",
        "scaling",
    ):
        assert key in pre
    assert pre["cached"]["cache_hits"] == [True] and pre["cold"]["cache_hits"] == [False]
    assert r["training"]["precisions"] == precisions
    for preset in PRESETS:
        t = r["training"][preset]
        assert t["batch"] >= 64 and t["flops_per_step"] > 0
        for precision in precisions:
            for key in ("windows_per_s", "gflops", "ratio_to_matmul_peak"):
                value = t[precision][key]
                assert isinstance(value, (int, float)) and value > 0, (preset, precision, key)
        assert r["inference"][preset]["batch1_p50_ms"] > 0
        assert r["inference"][preset]["frozen_batch1_p50_ms"] > 0
    for precision in precisions:
        run = r["training_stacked"][ModelConfig().preset][precision]["threads_1"]
        assert run["ratio_to_matmul_peak"] > 0 and run["speedup_over_one_after_another"] > 0
    assert len(r["epoch_scaling"]) == 3
    blend = r["person_blend"]
    for name in ("experts", "refit"):
        fit = blend[f"lda_{name}_ms"]
        assert fit["scikit_learn"] > 0 and fit["closed_form"] > 0 and fit["rows"] > 0
    pipeline = blend["pipeline_experts_ms"]
    assert pipeline["scikit_learn"] > 0 and pipeline["numpy"] > 0 and pipeline["rows"] > 0
    assert blend["trend_decision_s"] > 0
    assert "Person blend" in out.with_suffix(".md").read_text()
    lo = r["loso"]
    assert lo["measured"]["wall_s"] > 0 and 0 <= lo["measured"]["macro_f1"] <= 1
    assert lo["measured"]["preset"] == ModelConfig().preset
    ex = lo["extrapolated_15_subjects"]
    assert "EXTRAPOLATED" in ex["stated"] and ex["wall_s_max_epochs"] > 0 and ex["jobs"] >= 1
    assert lo["default_15"]["skipped"] and "EXTRAPOLATED" in lo["default_15"]["note"]
    ray = r["ray_scaling"]
    if ray.get("skipped"):
        assert "Ray" in ray["note"]
    else:
        for key in ("workers_1_s", "workers_2_s", "speedup"):
            assert ray[key] > 0
    md = out.with_suffix(".md").read_text()
    assert "ratio" in md and "LOSO" in md and "Ray" in md
    for precision in precisions:
        assert f"| paper | {precision} |" in md
    # committed as the raw results of the performance tables, rendered as bench.md
    from benchmarks import reproduce

    table = reproduce.tables()["performance"]
    text = reproduce.render(table, reproduce.collect_output(table.study, out))
    assert text.startswith(md.strip()) and "python -m benchmarks.reproduce performance" in text


@pytest.mark.parametrize(
    "name", ["attentive", "cross", "late-fusion", "early-fusion", "score-fusion"]
)
def test_presets_same_output_shapes(name):
    shapes = {"chest.ECG": (1, 2560), "chest.EDA": (1, 160)}
    outs = {}
    for preset in PRESETS:
        model = build_model(ModelConfig(name=name, preset=preset), shapes, 3).eval()
        with torch.no_grad():
            outs[preset] = model(*model.example_inputs(2)).shape
    assert set(outs.values()) == {torch.Size([2, 3])}


@pytest.mark.parametrize(
    "cin,cout,k,length,bias",
    [
        (1, 8, 32, 300, False),
        (4, 6, 16, 100, True),
        (5, 3, 8, 50, True),
        (3, 4, 7, 40, True),
        (2, 2, 3, 5, False),
        (3, 5, 1, 9, True),
    ],
)
def test_fast_conv_matches_conv1d(cin, cout, k, length, bias, monkeypatch):
    """The CPU training path (convolution-based gradients) equals nn.Conv1d('same')."""
    from xmodal.models import fastconv

    monkeypatch.setattr(fastconv, "ENABLED", True)
    torch.manual_seed(0)
    fast = SameConv1d(cin, cout, k, bias=bias)
    ref = torch.nn.Conv1d(cin, cout, k, padding="same", bias=bias)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, cin, length, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    y, y_ref = fast(x), ref(x_ref)
    grad = torch.randn_like(y)
    y.backward(grad)
    y_ref.backward(grad)

    def close(a, b):
        a, b = a.detach(), b.detach()
        scale = max(1.0, float(b.abs().max()))
        assert float((a - b).abs().max()) <= 1e-5 * scale

    close(y, y_ref)
    close(x.grad, x_ref.grad)
    close(fast.weight.grad, ref.weight.grad)
    if bias:
        close(fast.bias.grad, ref.bias.grad)
    with torch.no_grad():  # inference takes the native path
        close(fast(x), ref(x))


def test_run_takes_only_known_loso15_variants(capsys):
    from benchmarks.run import main

    with pytest.raises(SystemExit) as stop:
        main(["--quick", "--loso15", "default", "nope"])
    assert stop.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err

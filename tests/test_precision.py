"""Training precision: what ``auto`` resolves to, autocast training runs, fast conv under autocast."""

from __future__ import annotations

import json

import pytest
import torch

from xmodal.cli import main
from xmodal.config import RunConfig, TrainConfig, load_run_config
from xmodal.errors import ConfigError
from xmodal.models import fastconv
from xmodal.training import precision as prec

AVX512_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
AMX = "processor\t: 0\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n"
PLAIN = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"


@pytest.mark.parametrize(
    "cpuinfo, expected", [(AVX512_BF16, "bf16"), (AMX, "bf16"), (PLAIN, "fp32"), ("", "fp32")]
)
def test_auto_on_cpu_follows_the_bf16_flags(monkeypatch, cpuinfo, expected):
    monkeypatch.setattr(prec, "read_cpuinfo", lambda: cpuinfo)
    assert prec.resolve_precision("auto", "cpu") == expected


def test_explicit_precisions_on_cpu(monkeypatch):
    monkeypatch.setattr(prec, "read_cpuinfo", lambda: PLAIN)
    assert prec.resolve_precision("fp32", "cpu") == "fp32"
    assert prec.resolve_precision("bf16", "cpu") == "bf16"  # asked for: emulated, slow
    with pytest.raises(ConfigError, match="fp16.*CUDA"):
        prec.resolve_precision("fp16", "cpu")
    with pytest.raises(ConfigError, match="unknown precision"):
        prec.resolve_precision("half", "cpu")


@pytest.mark.parametrize("bf16_gpu, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_on_cuda_prefers_bf16_else_fp16(monkeypatch, bf16_gpu, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_gpu)
    assert prec.resolve_precision("auto", torch.device("cuda")) == expected
    assert prec.resolve_precision("fp16", "cuda:0") == "fp16"
    assert not prec.grad_scaler("bf16", "cpu").is_enabled()


def test_amp_false_makes_auto_mean_fp32(monkeypatch):
    monkeypatch.setattr(prec, "read_cpuinfo", lambda: AVX512_BF16)
    assert prec.training_precision(TrainConfig(amp=False), "cpu") == "fp32"
    assert prec.training_precision(TrainConfig(amp=False, precision="bf16"), "cpu") == "bf16"
    assert prec.training_precision(TrainConfig(), "cpu") == "bf16"


def test_precision_config_default_legacy_and_validation(tmp_path):
    assert RunConfig().training.precision == "auto"
    saved = tmp_path / "config.toml"
    saved.write_text("[training]\nepochs = 3\n")
    assert load_run_config(saved).training.precision == "fp32"  # folders of older versions
    with pytest.raises(ConfigError, match="unknown value 'half'"):
        RunConfig().updated({"training": {"precision": "half"}})


def test_fp16_on_cpu_is_one_line_exit_2(tiny_wesad, tmp_path, capsys):
    code = main(
        [
            "train",
            str(tiny_wesad),
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "1",
            "--precision",
            "fp16",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "fp16" in err


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_tiny_training_run_records_precision_and_saves_float32(tiny_wesad, tmp_path, precision):
    run = tmp_path / precision
    assert (
        main(
            [
                "train",
                str(tiny_wesad),
                "--out",
                str(run),
                "--epochs",
                "1",
                "--ensemble",
                "1",
                "--protocol",
                "holdout",
                "--test",
                "S2",
                "--val-subjects",
                "1",
                "--precision",
                precision,
                "--quiet",
            ]
        )
        == 0
    )
    results = json.loads((run / "results.json").read_text())
    # early stopping under the training precision, test probabilities in fp32 (as predict)
    assert results["precision"] == {
        "requested": precision,
        "resolved": precision,
        "validation": precision,
        "test": "fp32",
    }
    assert 0.0 <= results["mean"]["macro_f1"] <= 1.0
    state = torch.load(next(run.glob("folds/*/model.pt")), weights_only=True)
    floats = [v for v in state.values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float32 for v in floats)


@pytest.mark.parametrize("k", [8, 16, 32])
def test_fast_conv_under_autocast_matches_float32(monkeypatch, k):
    """Forward and both gradients in bfloat16 stay within bfloat16 rounding of float32: 8 bits
    of mantissa (relative 2^-8 per value), accumulated in float32 by oneDNN; 1% of the
    largest value is a safe bound for sums over 16 channels x k taps (observed: under 0.5%)."""
    monkeypatch.setattr(fastconv, "ENABLED", True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, 256, generator=gen, requires_grad=True)
    w = (torch.randn(24, 16, k, generator=gen) / (16 * k) ** 0.5).requires_grad_()
    b = torch.randn(24, generator=gen, requires_grad=True)
    upstream = torch.randn(8, 24, 256, generator=gen)
    left = (k - 1) // 2

    def run(autocast: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            # under autocast only wide kernels take the fast path (the function itself is
            # exercised either way)
            assert fastconv.use_fast_path(x, w) == (
                not autocast or k >= fastconv.LOW_PRECISION_FAST_KERNEL
            )
            y = fastconv.same_conv1d(x, w, b, left, k - 1 - left)
        (y.float() * upstream).sum().backward()
        grads = [t.grad.clone() for t in (x, w, b)]
        for t in (x, w, b):
            t.grad = None
        return y, grads

    y32, g32 = run(False)
    y16, g16 = run(True)
    assert y16.dtype == torch.bfloat16 and all(g.dtype == torch.float32 for g in g16)
    for ref, got in zip([y32, *g32], [y16.float(), *g16]):
        assert (got - ref).abs().max() <= 0.01 * ref.abs().max()


@pytest.mark.parametrize("size,stride,length", [(8, 2, 101), (8, 4, 320), (3, 3, 20)])
def test_channels_last_pool_matches_max_pool1d(size, stride, length):
    """The bfloat16 training path of max-pooling gives nn.MaxPool1d's values and gradients
    (no ties in random data), in the contiguous layout; float32 keeps the native path."""
    from xmodal.models.fastpool import MaxPool1d, use_channels_last_pool

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, length, generator=gen).to(torch.bfloat16).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    pool, ref = MaxPool1d(size, stride), torch.nn.MaxPool1d(size, stride)
    assert not use_channels_last_pool(x)  # no autocast: the native op
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert use_channels_last_pool(x)
        y = pool(x)
    y_ref = ref(x_ref)
    assert y.is_contiguous() and torch.equal(y, y_ref)
    upstream = torch.randn(y.shape, generator=gen).to(torch.bfloat16)
    y.backward(upstream)
    y_ref.backward(upstream)
    assert x.grad.is_contiguous() and torch.equal(x.grad, x_ref.grad)

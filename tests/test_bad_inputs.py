"""A corpus of bad inputs: every one is one line on stderr, exit code 2, nothing written.

Out-of-range numeric options and config values, unknown devices, checkpoints that must not
load (malicious, truncated, foreign) and corrupt WFDB headers. Everything fails before any
training, on tiny data made here.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_wesad_pickle
from inference_helpers import fabricate_run

from xmodal.cli import main
from xmodal.config import VALUE_RANGES, RunConfig, validate_values
from xmodal.errors import ConfigError

CUDA = torch.cuda.is_available()


def _expect_error(capsys, argv, *expected) -> str:
    """Run the command line; assert exit 2 and one error line holding every ``expected``."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("xmodal") and "Traceback" not in err, err
    for text in expected:
        assert str(text) in err, f"{text!r} not in {err!r}"
    return err


@pytest.fixture(scope="module")
def wesad(tmp_path_factory) -> Path:
    """Three 40-s WESAD-layout subjects."""
    root = tmp_path_factory.mktemp("wesad")
    for i, s in enumerate(("S2", "S3", "S4")):
        write_wesad_pickle(root / s / f"{s}.pkl", seconds=40, subject=s, seed=i)
    return root


# ---- numeric options and config values -------------------------------------------------------

OPTIONS = [
    ("train", ["--rates", "chest.EDA=-3"], ["--rates chest.EDA", "-3.0"]),
    ("train", ["--rates", "chest.EDA=nan"], ["--rates chest.EDA", "nan"]),
    ("train", ["--rates", "chest.ECG=1e6"], ["--rates chest.ECG", "1000000.0", "10000"]),
    ("train", ["--lr", "nan"], ["--lr", "nan"]),
    ("train", ["--lr", "0"], ["--lr", "> 0"]),
    ("train", ["--dropout", "2"], ["--dropout", "2.0", "[0, 1)"]),
    ("train", ["--max-gap", "-1"], ["--max-gap", "-1.0"]),
    ("train", ["--window", "0"], ["--window", "0.0"]),
    ("train", ["--stride", "inf"], ["--stride", "inf"]),
    ("train", ["--train-stride", "-5"], ["--train-stride", "-5.0"]),
    ("train", ["--epochs", "0"], ["--epochs", "got 0"]),
    ("train", ["--epoch-fraction", "1.5"], ["--epoch-fraction", "1.5"]),
    ("train", ["--batch-size", "1"], ["--batch-size", "got 1"]),
    ("train", ["--patience", "-1"], ["--patience", "-1"]),
    ("train", ["--min-epochs", "-2"], ["--min-epochs", "-2"]),
    ("train", ["--val-subjects", "-1"], ["--val-subjects", "-1"]),
    ("train", ["--seed", "-1"], ["--seed", "-1"]),
    ("train", ["--folds", "1", "--protocol", "kfold"], ["--folds", "got 1"]),
    ("train", ["--stem-stride", "-1"], ["--stem-stride", "-1"]),
    ("train", ["--ensemble", "0"], ["--ensemble", "got 0"]),
    ("train", ["--aux-weight", "-0.5"], ["--aux-weight", "-0.5"]),
    ("train", ["--modality-dropout", "1"], ["--modality-dropout", "1.0"]),
    ("train", ["--ogm-alpha", "nan"], ["--ogm-alpha", "nan"]),
    ("train", ["--augment", "6"], ["--augment", "6.0", "[0, 5]"]),
    ("train", ["--warm-lr-factor", "0"], ["--warm-lr-factor", "0.0"]),
    ("train", ["--pretrain-epochs", "-1"], ["--pretrain-epochs", "-1"]),
    ("benchmark", ["--lr", "inf"], ["--lr", "inf"]),
    ("benchmark", ["--max-gap", "-1"], ["--max-gap", "-1.0"]),
    ("pretrain", ["--dropout", "1"], ["--dropout", "1.0"]),
    ("pretrain", ["--rates", "chest.ECG=0"], ["--rates chest.ECG", "0.0"]),
    ("train", ["--device", "tpu"], ["--device", "unknown device 'tpu'", "cuda:N"]),
    ("benchmark", ["--device", "gpu"], ["unknown device 'gpu'"]),
    ("pretrain", ["--device", "cuda:x"], ["unknown device 'cuda:x'"]),
    (
        "train",
        ["--device", "cuda:99" if CUDA else "cuda"],
        ["no such GPU" if CUDA else "CUDA requested but not available"],
    ),
    (
        "benchmark",
        ["--device", "cuda:99" if CUDA else "cuda"],
        ["no such GPU" if CUDA else "CUDA requested but not available"],
    ),
    (
        "train",
        ["--normalize", "calibration", "--calibration-minutes", "nan"],
        ["--calibration-minutes", "nan"],
    ),
    (
        "benchmark",
        ["--normalize", "calibration", "--calibration-minutes", "-2"],
        ["--calibration-minutes", "-2"],
    ),
    (
        "train",
        ["--normalize", "calibration", "--calibration-label", "nosuch"],
        ["unknown calibration label 'nosuch'", "baseline"],
    ),
    ("train", ["--precision", "half"], ["--precision", "unknown value 'half'", "bf16"]),
    ("pretrain", ["--precision", "fp8"], ["--precision", "unknown value 'fp8'"]),
    *([("train", ["--precision", "fp16"], ["fp16"])] if not CUDA else []),  # CPU: no fp16
    ("train", ["--backend", "ray", "--cpus-per-task", "0"], ["--cpus-per-task", "> 0"]),
    ("benchmark", ["--backend", "ray", "--gpus-per-task", "nan"], ["--gpus-per-task", "nan"]),
    ("train", ["--address", "127.0.0.1:1"], ["--backend ray"]),
    (
        "train",
        ["--backend", "ray", "--address", "127.0.0.1:1"],
        ["no cluster reachable at 127.0.0.1:1"],
    ),
]


@pytest.mark.parametrize(
    "command,flags,expected", OPTIONS, ids=[f"{c}{''.join(f)}" for c, f, _ in OPTIONS]
)
def test_bad_option(capsys, wesad, tmp_path, command, flags, expected):
    out = tmp_path / "out"
    _expect_error(
        capsys, [command, wesad, "--out", out, "--no-cache", "--quiet", *flags], *expected
    )
    assert not out.exists()


TOMLS = [
    ("[training]\nlr = nan\n", ["[training] lr", "nan"]),
    ("[training]\nweight_decay = -0.1\n", ["[training] weight_decay", "-0.1"]),
    ("[training]\nthreads = -2\n", ["[training] threads", "-2"]),
    ("[training]\nepochs = inf\n", ["[training] epochs", "inf"]),
    ('[training]\ndevice = "tpu"\n', ["[training] device", "'tpu'"]),
    ("[model]\nhead_hidden = 0\n", ["[model] head_hidden", "got 0"]),
    ("[model]\nwidths = [16, 0, 64]\n", ["[model] widths", "got 0"]),
    ("[model]\nkernels = [8, inf, 8]\n", ["[model] kernels", "inf"]),
    ('[data]\nrates = { "chest.EDA" = inf }\n', ["[data] rates chest.EDA", "inf"]),
    ("[data]\nmax_gap = -1.0\n", ["[data] max_gap", "-1.0"]),
    ("[evaluation]\nfolds = 0\n", ["[evaluation] folds", "got 0"]),
]


@pytest.mark.parametrize("text,expected", TOMLS, ids=[t.split("\n")[1] for t, _ in TOMLS])
def test_bad_config_value(capsys, wesad, tmp_path, text, expected):
    (tmp_path / "bad.toml").write_text(text)
    out = tmp_path / "out"
    _expect_error(
        capsys,
        ["train", wesad, "--out", out, "--config", tmp_path / "bad.toml"],
        "bad.toml",
        *expected,
    )
    assert not out.exists()


def test_value_table_matches_the_configuration():
    """Every ranged key exists, every default is in range, and validate_values sees them all."""
    config = RunConfig()
    for (section, key), allowed in VALUE_RANGES.items():
        assert key in {f.name for f in fields(getattr(config, section))}, (section, key)
        value = getattr(getattr(config, section), key)
        items = (
            value.values()
            if isinstance(value, dict)
            else value
            if isinstance(value, tuple)
            else [value]
        )
        assert all(allowed.allows(v) for v in items), (section, key, value)
    validate_values(config)
    for value in (math.nan, math.inf, -1.0):
        with pytest.raises(ConfigError, match=r"\[training\] lr"):
            RunConfig.from_dict({"training": {"lr": value}}, "study")


# ---- checkpoints -----------------------------------------------------------------------------


class _Payload:
    """Pickles to a call of os.system that would create ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def run(wesad, tmp_path_factory) -> Path:
    """A run folder as ``xmodal train --final`` writes it (untrained weights; no training)."""
    config = RunConfig()
    config.data.path = str(wesad)
    return fabricate_run(
        tmp_path_factory.mktemp("run") / "run",
        config,
        {"chest.ECG": [1, 2560], "chest.EDA": [1, 160]},
        {"chest.ECG": 256.0, "chest.EDA": 16.0},
        ["baseline", "stress", "amusement"],
    )


def test_the_fabricated_run_loads(run):
    from xmodal.inference.predictor import Predictor

    assert Predictor.from_run(run).source == "final"
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        Predictor.from_run(run, device="tpu")


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--context", "nan"], "context"),
        (["--context", "inf"], "context"),
        (["--hop", "nan"], "hop"),
        (["--hop", "-1"], "hop"),
    ],
)
def test_bad_predict_option(capsys, run, wesad, tmp_path, flags, expected):
    out = tmp_path / "p.csv"
    _expect_error(capsys, ["predict", run, wesad / "S2", "--out", out, *flags], expected, flags[1])
    assert not out.exists()


CHECKPOINTS = {
    "malicious-pickle": lambda good, marker: pickle.dumps(_Payload(marker), protocol=2),
    "malicious-in-torch-zip": lambda good, marker: _torch_bytes({"w": _Payload(marker)}),
    "truncated": lambda good, marker: good[: len(good) // 2],
    "random-bytes": lambda good, marker: np.random.default_rng(0).bytes(4096),
    "empty": lambda good, marker: b"",
    "text": lambda good, marker: b"not a checkpoint\n",
    "list-of-tensors": lambda good, marker: _torch_bytes([torch.zeros(3)]),
    "other-version": lambda good, marker: _torch_bytes({"stem.weight": torch.zeros(1)}),
}
EXPECTED = {
    "malicious-pickle": "posix.system",
    "malicious-in-torch-zip": "posix.system",
    "truncated": "truncated",
    "empty": "empty",
    "list-of-tensors": "holds a list",
    "other-version": "trained with xmodal 0.0.1",
}


@pytest.mark.parametrize("command", ["predict", "export"])
@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_checkpoint_that_must_not_load(capsys, run, wesad, tmp_path, case, command):
    bad = tmp_path / "run"
    shutil.copytree(run, bad)
    marker = tmp_path / "payload-ran"
    checkpoint = bad / "final" / "model.pt"
    checkpoint.write_bytes(CHECKPOINTS[case](checkpoint.read_bytes(), marker))
    if case == "other-version":
        results = json.loads((bad / "results.json").read_text())
        (bad / "results.json").write_text(json.dumps({**results, "xmodal_version": "0.0.1"}))
    out = tmp_path / ("p.csv" if command == "predict" else "m.onnx")
    argv = (
        [command, bad, wesad / "S2", "--out", out]
        if command == "predict"
        else [command, bad, "--out", out]
    )
    _expect_error(capsys, argv, checkpoint, "cannot load checkpoint", EXPECTED.get(case, ""))
    assert not marker.exists() and not out.exists()


# ---- WFDB headers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """Two small valid WFDB records (ECG and hand GSR at 32 Hz, 2 minutes)."""
    import wfdb

    root = tmp_path_factory.mktemp("records")
    t = np.arange(0, 120, 1 / 32)
    for name in ("drive01", "drive02"):
        wfdb.wrsamp(
            name,
            fs=32,
            units=["mV", "mV"],
            sig_name=["ECG", "hand GSR"],
            p_signal=np.c_[np.sin(t), np.cos(t) + 2],
            fmt=["16", "16"],
            write_dir=str(root),
        )
    return root


HEADERS = {
    "garbage": ("garbage text, not a header\n\x00\x01 more\n", "not a readable WFDB header"),
    "no-signals": ("drive03 0 32 3840\n", "without sampling frequency or signals"),
    "missing-signal-lines": ("drive03 2 32 3840\n", "without sampling frequency or signals"),
    "marker-only": (
        "drive03 1 32 3840\ndrive01.dat 16 200 16 0 0 0 0 marker\n",
        "record without signals",
    ),
}
COMMANDS = {
    "datasets": lambda data, out: ["datasets", data],
    "datasets-drivedb": lambda data, out: [
        "datasets",
        data,
        "--dataset",
        "drivedb",
        "--modalities",
        "ecg",
    ],
    "train": lambda data, out: ["train", data, "--dataset", "drivedb", "--out", out, "--no-cache"],
    "pretrain": lambda data, out: [
        "pretrain",
        data,
        "--dataset",
        "drivedb",
        "--out",
        out,
        "--no-cache",
    ],
    "benchmark": lambda data, out: [
        "benchmark",
        data,
        "--dataset",
        "drivedb",
        "--out",
        out,
        "--no-cache",
        "--quiet",
    ],
}


@pytest.mark.parametrize("command", [*COMMANDS, "predict"])
@pytest.mark.parametrize("case", list(HEADERS))
def test_corrupt_wfdb_header(capsys, records, run, tmp_path, case, command):
    data = tmp_path / "drivedb"
    shutil.copytree(records, data)
    text, message = HEADERS[case]
    (data / "drive03.hea").write_bytes(text.encode("latin-1"))
    out = tmp_path / "out"
    if command == "predict":
        argv = ["predict", run, data / "drive03.hea", "--out", tmp_path / "p.csv"]
        _expect_error(capsys, argv, "drive03.hea", message)
        assert not (tmp_path / "p.csv").exists()
        return
    err = _expect_error(capsys, COMMANDS[command](data, out))
    if command.startswith("datasets") and "--modalities" not in COMMANDS[command](data, out):
        assert "drive03" in err and "could not be read" in err  # the report names the cause
    else:
        assert "drive03.hea" in err and message in err, err
    assert not out.exists()

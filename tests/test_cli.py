"""Command-line error paths: one line on stderr, exit code 2, nothing half-written."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_wesad_pickle

from xmodal.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "xmodal", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def _expect_error(capsys, argv, pattern):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert pattern in err, err
    return err


def _fast(out):
    return ["--out", str(out), "--epochs", "1", "--val-subjects", "0", "--no-cache"]


def _three_subjects(root: Path, **kwargs) -> Path:
    for i, s in enumerate(("S2", "S3", "S4")):
        write_wesad_pickle(root / s / f"{s}.pkl", seconds=40, subject=s, seed=i, **kwargs)
    return root


def test_module_entry_point_and_argparse_errors_are_one_line(tmp_path):
    result = run_cli("train", str(tmp_path))  # --out missing
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--out" in result.stderr
    assert run_cli("--version").stdout.startswith("xmodal ")


def test_missing_data_folder(capsys, tmp_path):
    _expect_error(capsys, ["train", str(tmp_path / "nope"), *_fast(tmp_path / "run")], "nope")
    assert not (tmp_path / "run").exists()


def test_empty_data_folder(capsys, tmp_path):
    (tmp_path / "data").mkdir()
    _expect_error(capsys, ["train", str(tmp_path / "data"), *_fast(tmp_path / "run")], "data")


def test_corrupt_pickle_names_file(capsys, tmp_path):
    root = _three_subjects(tmp_path / "d")
    data = (root / "S3" / "S3.pkl").read_bytes()
    (root / "S3" / "S3.pkl").write_bytes(data[: len(data) // 2])
    _expect_error(capsys, ["train", str(root), *_fast(tmp_path / "run")], "S3.pkl")
    assert not (tmp_path / "run" / "results.json").exists()


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused_and_never_runs(capsys, tmp_path):
    root = _three_subjects(tmp_path / "d")
    target = tmp_path / "pwned"
    with open(root / "S4" / "S4.pkl", "wb") as fh:
        pickle.dump(
            {"signal": {"chest": {"ECG": _Evil(target)}}, "label": np.zeros(3)}, fh, protocol=2
        )
    err = _expect_error(capsys, ["train", str(root), *_fast(tmp_path / "run")], "S4.pkl")
    assert "system" in err
    assert not target.exists()


def test_missing_modality_names_subject_file_and_key(capsys, tmp_path):
    root = _three_subjects(tmp_path / "d", chest=("ECG",))
    err = _expect_error(capsys, ["train", str(root), *_fast(tmp_path / "run")], "EDA")
    assert "S2" in err


def test_missing_label_key(capsys, tmp_path):
    root = tmp_path / "d"
    for s in ("S2", "S3", "S4"):
        path = write_wesad_pickle(root / s / f"{s}.pkl", seconds=20, subject=s)
        with open(path, "rb") as fh:
            d = pickle.load(fh)
        del d["label"]
        with open(path, "wb") as fh:
            pickle.dump(d, fh, protocol=2)
    _expect_error(capsys, ["train", str(root), *_fast(tmp_path / "run")], "label")


def test_label_signal_length_mismatch(capsys, tmp_path):
    root = _three_subjects(tmp_path / "d")
    write_wesad_pickle(root / "S3" / "S3.pkl", seconds=40, subject="S3", labels=np.ones(100))
    _expect_error(capsys, ["train", str(root), *_fast(tmp_path / "run")], "S3")


def test_wrong_shape(capsys, tmp_path):
    root = _three_subjects(tmp_path / "d")
    with open(root / "S2" / "S2.pkl", "rb") as fh:
        d = pickle.load(fh)
    d["signal"]["chest"]["ECG"] = np.zeros((28000, 2))
    with open(root / "S2" / "S2.pkl", "wb") as fh:
        pickle.dump(d, fh, protocol=2)
    _expect_error(capsys, ["train", str(root), *_fast(tmp_path / "run")], "ECG")


def test_long_nan_run_is_rejected(capsys, tmp_path):
    root = _three_subjects(tmp_path / "d")
    with open(root / "S2" / "S2.pkl", "rb") as fh:
        d = pickle.load(fh)
    d["signal"]["chest"]["EDA"][7000:14000] = np.nan
    with open(root / "S2" / "S2.pkl", "wb") as fh:
        pickle.dump(d, fh, protocol=2)
    _expect_error(
        capsys, ["train", str(root), *_fast(tmp_path / "run")], "chest.EDA: 10.00 s of NaN/inf"
    )


def test_too_few_subjects(capsys, tmp_path):
    root = tmp_path / "d"
    write_wesad_pickle(root / "S2" / "S2.pkl", seconds=90)
    _expect_error(
        capsys,
        ["train", str(root), "--out", str(tmp_path / "run"), "--epochs", "1", "--no-cache"],
        "too few subjects",
    )


def test_recording_shorter_than_the_features_context(capsys, tmp_path):
    root = tmp_path / "d"
    write_wesad_pickle(root / "S2" / "S2.pkl", seconds=40)
    _expect_error(
        capsys,
        ["train", str(root), "--out", str(tmp_path / "run"), "--epochs", "1", "--no-cache"],
        "subject S2: recording of 40 s is shorter than the 60-s context of the features blend",
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "argv,pattern",
    [
        (["--model", "transformer"], "unknown model 'transformer'; valid: attentive, cross"),
        (
            ["--modalities", "chest.PPG", "chest.EDA"],
            "unknown modality 'chest.PPG'; valid: chest.ECG",
        ),
        (["--task", "5class"], "unknown task '5class'"),
        (["--model", "single"], "exactly one modality"),
        (["--protocol", "random"], "--protocol: unknown value 'random'"),
        (["--direction", "sideways"], "--direction: unknown value 'sideways'; valid: both"),
        (["--connections", "5"], "block 5"),
    ],
)
def test_unknown_names_list_the_valid_ones(capsys, tmp_path, argv, pattern):
    root = _three_subjects(tmp_path / "d")
    _expect_error(capsys, ["train", str(root), *_fast(tmp_path / "run"), *argv], pattern)
    assert not (tmp_path / "run").exists()


def test_unknown_config_key(capsys, tmp_path):
    root = _three_subjects(tmp_path / "d")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[training]\nepoch = 3\n")
    _expect_error(
        capsys,
        ["train", str(root), *_fast(tmp_path / "run"), "--config", str(cfg)],
        "unknown key 'epoch' in [training]",
    )


def test_simulate_rejects_bad_sizes(capsys, tmp_path):
    _expect_error(capsys, ["simulate", str(tmp_path / "x"), "--subjects", "0"], "--subjects")


def test_demo_with_a_failed_run_exits_2_naming_it(capsys, monkeypatch, tmp_path):
    """A demo whose folder holds a run of another configuration (an earlier version's) does not
    make its comparison: one line naming the run, exit code 2."""
    import xmodal.demo

    stale = "xmodal-demo/runs/late-fusion--seed1 holds a run with another configuration"
    state = {
        "entries": [
            {"status": "failed", "run": "runs/late-fusion--seed1", "error": stale},
            {"status": "done", "run": "runs/features--seed1", "error": ""},
        ]
    }
    monkeypatch.setattr(xmodal.demo, "run_demo", lambda out, quiet=False: state)
    _expect_error(capsys, ["demo", "--out", str(tmp_path)], "1 of 2 demo runs failed")

"""``xmodal datasets``: what each real source holds, and the signal problems it reports."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from xmodal.cli import main
from xmodal.data.datasets import detect_dataset
from xmodal.data.survey import signal_problems

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_recordings"


def _report(capsys, *argv) -> str:
    code = main(["datasets", *map(str, argv)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_wrist_wesad(capsys, wesad_wrist):
    out = _report(capsys, wesad_wrist)
    assert out.startswith("wesad dataset at") and "3 subjects (S2, S3, S4)" in out
    assert "wrist.BVP" in out and "wrist.EDA" in out and "chest.ECG" not in out
    for line in (
        r"wrist\.BVP\s+64 Hz  1 channel",
        r"wrist\.EDA\s+4 Hz",
        r"wrist\.ACC\s+32 Hz  3 channels",
    ):
        assert re.search(line, out), line
    assert "wrist.TEMP: flat line" not in out  # quantised temperature is steady
    assert "baseline" in out and "stress" in out and "amusement" in out
    assert "tasks: binary" in out
    print(out)


def test_drive05(capsys, shared_data):
    out = _report(capsys, shared_data / "drivedb")
    assert out.startswith("drivedb dataset at") and "1 record (drive05)" in out
    assert re.search(r"ecg\s+496 Hz", out) and re.search(r"hand_gsr\s+31 Hz", out)
    assert "marker" not in out
    assert "labels (10 Hz):" in out and "highway" in out and "city" in out
    assert "ecg: flat line" in out  # the ECG drop-out in the first highway part
    print(out)


def test_neurokit_unlabelled_and_example(capsys, shared_data, tmp_path):
    src = shared_data / "neurokit_recordings"
    (tmp_path / "dataset.toml").write_text(
        f'rate = 100\n[signals]\necg = "ECG"\neda = "EDA"\nrsp = "RSP"\n'
        f'[files]\nresting = "{src / "bio_resting_8min_100hz.csv"}"\n'
        f'eventrelated = "{src / "bio_eventrelated_100hz.csv"}"\n'
    )
    assert detect_dataset(tmp_path) == "csv"
    out = _report(capsys, tmp_path)
    assert "2 subjects (resting, eventrelated)" in out
    assert "labels: none (usable for prediction only)" in out
    assert "tasks: none" in out
    assert "8.4 min" in out and "2.5 min" in out
    print(out)
    out = _report(capsys, EXAMPLE, "--subjects", "S3")
    assert "1 subject (S3)" in out and "tasks: 3class" in out and "stress" in out


def test_problems_are_found():
    rate = 10.0
    t = np.arange(2000) / rate
    x = np.sin(t)[:, None].astype(np.float32)
    assert signal_problems(x, rate) == []
    y = x.copy()
    y[100:130] = np.nan  # 3 s NaN run
    y[500:600] = 0.25  # 10 s flat line
    y[y > 0.9] = 0.9  # clipped top
    problems = " | ".join(signal_problems(y, rate))
    assert "30 NaN/inf samples in 1 run (longest 3.0 s at 10.0 s)" in problems
    assert "flat line: 10.0 s" in problems
    assert "clipped? " in problems and "max value 0.9" in problems
    assert "flat: constant" in signal_problems(np.ones((50, 1)), rate)[0]


def test_unreadable_subject_is_reported_and_exit_2(capsys, tmp_path):
    (tmp_path / "dataset.toml").write_text('rate = 4\n[signals]\neda = "EDA"\n')
    (tmp_path / "good.csv").write_text("EDA\n" + "".join(f"{np.sin(i)}\n" for i in range(100)))
    (tmp_path / "bad.csv").write_text("GSR\n1\n2\n")
    code = main(["datasets", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2
    assert "missing column 'EDA'" in captured.out and "1 of 2 readable" in captured.out
    assert captured.err.count("\n") == 1 and "bad" in captured.err

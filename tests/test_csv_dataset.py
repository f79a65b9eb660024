"""The ``csv`` dataset adapter: real NeuroKit recordings, the shipped example, every error path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xmodal.cli import main
from xmodal.data.csv_dataset import find_csv_subjects, load_csv_subject, load_spec
from xmodal.data.datasets import default_modalities, get_task, load_recording
from xmodal.errors import ConfigError, DataError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_recordings"

SPEC = """rate = 10
[signals]
ecg = "ECG"
eda = "EDA"
[labels]
column = "label"
classes = ["calm", "stress"]
"""


@pytest.fixture(scope="module")
def neurokit(shared_data, tmp_path_factory) -> Path:
    """The two NeuroKit recordings as an unlabelled csv dataset (dataset.toml in tmp)."""
    folder = tmp_path_factory.mktemp("neurokit")
    src = shared_data / "neurokit_recordings"
    (folder / "dataset.toml").write_text(f"""
name = "neurokit"
rate = 100
[signals]
ecg = "ECG"
eda = "EDA"
rsp = "RSP"
[files]
resting = "{src / "bio_resting_8min_100hz.csv"}"
eventrelated = "{src / "bio_eventrelated_100hz.csv"}"
""")
    return folder


def _write(folder: Path, spec: str = SPEC, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.toml").write_text(spec)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _rows(n: int = 200, label=lambda i: "calm" if i < 100 else "stress") -> str:
    rng = np.random.default_rng(0)
    return "ECG,EDA,label\n" + "".join(
        f"{rng.normal():.3f},{rng.normal():.3f},{label(i)}\n" for i in range(n)
    )


def test_real_neurokit_recordings_load_unlabelled(neurokit):
    files = find_csv_subjects(neurokit)
    assert list(files) == ["resting", "eventrelated"]
    assert default_modalities("csv", neurokit) == ("ecg", "eda", "rsp")
    rec = load_recording("csv", files["resting"], ["ecg", "eda"], "resting", root=neurokit)
    assert rec.labels is None and rec.signals["ecg"].rate == 100.0
    assert rec.signals["ecg"].data.shape == (50682, 1)
    assert abs(rec.signals["eda"].duration - 506.82) < 1e-6
    event = load_recording("csv", files["eventrelated"], ["rsp"], "eventrelated", root=neurokit)
    assert event.signals["rsp"].data.shape == (15000, 1)
    with pytest.raises(ConfigError, match="no \\[labels\\]"):
        get_task("all", "csv", neurokit)


def test_shipped_example_loso_run(capsys, tmp_path):
    assert sum(p.stat().st_size for p in EXAMPLE.iterdir()) < 400_000
    spec = load_spec(EXAMPLE)
    assert list(spec.tasks) == ["3class", "binary"]
    rec = load_csv_subject(EXAMPLE / "S2.csv", [], spec=spec)
    assert set(np.unique(rec.labels)) == {0, 1, 2, 3}  # 0: transient/meditation
    code = main(
        [
            "train",
            str(EXAMPLE),
            "--dataset",
            "csv",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
            "--epochs",
            "1",
            "--val-subjects",
            "0",
            "--train-stride",
            "10",
            "--task",
            "binary",
            "--ensemble",
            "1",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["dataset"] == "csv" and results["modalities"] == ["bvp", "eda"]
    assert results["classes"] == ["non-stress", "stress"]
    assert [f["test_subjects"] for f in results["folds"]] == [["S2"], ["S3"], ["S4"]]


def test_time_column_segments_and_parquet(tmp_path):
    t = np.cumsum(np.full(300, 0.1))
    t[150:] += 0.003  # jitter above 1 %: re-gridded
    rng = np.random.default_rng(1)
    text = "time,ECG,EDA\n" + "".join(f"{v:.3f},{rng.normal():.3f},{rng.normal():.3f}\n" for v in t)
    spec = SPEC.replace("rate = 10", 'time_column = "time"').replace(
        'column = "label"', 'segments = "segments.csv"'
    )
    folder = _write(
        tmp_path / "d",
        spec,
        **{
            "a.csv": text,
            "segments.csv": "subject,label,start_s,end_s\na,calm,0,10\na,stress,10,25\n",
        },
    )
    files = find_csv_subjects(folder)
    assert list(files) == ["a"]  # the segments file is no subject
    rec = load_recording("csv", files["a"], ["ecg"], "a", root=folder)
    assert abs(rec.signals["ecg"].rate - 10.0) < 1e-6
    assert rec.label_rate == 10.0 and rec.labels[50] == 1 and rec.labels[150] == 2
    assert rec.labels[280] == 0
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(folder / "a.csv")
    frame.to_parquet(tmp_path / "b.parquet")
    (folder / "a.csv").unlink()
    (tmp_path / "b.parquet").rename(folder / "a.parquet")
    rec2 = load_recording("csv", folder / "a.parquet", ["ecg"], "a", root=folder)
    np.testing.assert_allclose(rec2.signals["ecg"].data, rec.signals["ecg"].data)


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    folder = _write(tmp_path / "d", SPEC)
    (folder / "a.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match="needs pyarrow"):
        load_csv_subject(folder / "a.parquet", ["ecg"])


def _error(capsys, folder: Path, *extra) -> str:
    code = main(
        [
            "train",
            str(folder),
            "--dataset",
            "csv",
            "--out",
            str(folder / "run"),
            "--no-cache",
            "--window",
            "5",
            "--stride",
            "5",
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("xmodal: error: "), err
    return err


@pytest.mark.parametrize(
    "spec,files,message",
    [
        (SPEC.replace("rate = 10\n", ""), {"a.csv": _rows()}, "unknown sampling rate"),
        (SPEC.replace("rate = 10", "rate = -3"), {"a.csv": _rows()}, "rate must be a positive"),
        (SPEC.replace("rate = 10", 'rate = "fast"'), {"a.csv": _rows()}, "rate must be a positive"),
        (SPEC.replace('eda = "EDA"', 'eda = "GSR"'), {"a.csv": _rows()}, "missing column 'GSR'"),
        (SPEC, {"a.csv": ""}, "empty file"),
        (SPEC, {"a.csv": "ECG,EDA,label\n"}, "empty file"),
        (SPEC, {"a.csv": _rows().replace("0.", "x.", 1)}, "non-numeric value"),
        (
            SPEC,
            {"a.csv": _rows(label=lambda i: "angry" if i == 7 else "calm")},
            "unknown value 'angry'",
        ),
        (
            SPEC.replace("rate = 10", 'time_column = "t"'),
            {"a.csv": "t,ECG,EDA,label\n0,1,2,calm\n0.1,1,2,calm\n0.05,1,2,calm\n"},
            "not increasing",
        ),
        (SPEC.replace("[signals]", "[sigs]"), {"a.csv": _rows()}, "unknown key 'sigs'"),
        ("rate = 10\n[signals\n", {"a.csv": _rows()}, "not valid TOML"),
        (
            SPEC.replace('classes = ["calm", "stress"]', 'classes = ["calm", "calm"]'),
            {"a.csv": _rows()},
            "lists a class twice",
        ),
        (
            SPEC + '[tasks.two]\nx = ["calm"]\ny = ["bored"]\n',
            {"a.csv": _rows()},
            "unknown class 'bored'",
        ),
        (SPEC, {}, "no .csv or .parquet"),
        (SPEC + '[files]\nz = "z.csv"\n', {}, "z.csv not found"),
    ],
)
def test_malformed_datasets_fail_in_one_line(capsys, tmp_path, spec, files, message):
    err = _error(capsys, _write(tmp_path / "d", spec, **files))
    assert message in err


def test_unknown_modality_and_task_list_the_valid_ones(capsys, tmp_path):
    folder = _write(tmp_path / "d", SPEC, **{"a.csv": _rows(), "b.csv": _rows()})
    assert "valid: ecg, eda" in _error(capsys, folder, "--modalities", "ecg", "bvp")
    assert "valid: all" in _error(capsys, folder, "--task", "3class")
    assert "no dataset.toml" in _error(capsys, tmp_path)

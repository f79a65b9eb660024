"""The e4 adapter: Empatica E4 export sessions (folders and zips), their labels, the timeline.

Small sessions are written here in the E4 layout (start time row, rate row, samples); the real
WESAD wrist recordings are checked against the WESAD layout built from the same files.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xmodal.cli import main
from xmodal.config import DataConfig
from xmodal.data.datasets import get_task
from xmodal.data.e4 import E4_FILES, find_e4_sessions, label_code, load_e4_session
from xmodal.data.registry import detect_adapter, get_adapter
from xmodal.errors import ConfigError, DataError

START = 1_600_000_000.0  # 2020-09-13T12:26:40 UTC
RATES = {"wrist.ACC": 32.0, "wrist.BVP": 64.0, "wrist.EDA": 4.0, "wrist.TEMP": 4.0}


def write_signal(path: Path, start: float, rate: float, x: np.ndarray, fmt: str = "%.9g") -> None:
    """One E4 signal file: start time row, rate row, then the samples."""
    x = np.asarray(x).reshape(len(x), -1)
    cols = x.shape[1]
    head = ", ".join([f"{start:.6f}"] * cols) + "\n" + ", ".join([f"{rate:.6f}"] * cols) + "\n"
    with open(path, "w") as fh:
        fh.write(head)
        np.savetxt(fh, x, fmt=fmt, delimiter=",")


def write_session(
    folder: Path,
    seconds: float = 120.0,
    starts: dict | None = None,
    tags=(),
    seed: int = 0,
    signals: dict | None = None,
) -> Path:
    """A synthetic E4 session (random signals unless ``signals`` gives ``{modality: array}``)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for m, (name, channels) in E4_FILES.items():
        rate = RATES[m]
        if signals is not None and m not in signals:
            continue
        x = signals[m] if signals else rng.normal(size=(int(seconds * rate), channels))
        if m == "wrist.ACC" and not signals:
            x = np.round(x * 20).astype(int)
        if m == "wrist.EDA" and not signals:
            x = np.abs(x) + 1.0
        write_signal(folder / name, (starts or {}).get(m, START), rate, x)
    (folder / "tags.csv").write_text("".join(f"{START + t:.2f}\n" for t in tags))
    return folder


def zip_session(folder: Path, out: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, prefix + f.name)
    return out


def test_files_starting_apart_are_aligned_on_the_latest_start(tmp_path):
    session = write_session(
        tmp_path / "s1",
        starts={"wrist.BVP": START - 2.0, "wrist.ACC": START - 0.5},
        tags=(10.0, 50.0),
    )
    rec = load_e4_session(session)
    bvp = np.loadtxt(session / "BVP.csv", delimiter=",", skiprows=2, ndmin=2)
    acc = np.loadtxt(session / "ACC.csv", delimiter=",", skiprows=2, ndmin=2)
    assert rec.start_unix == START and rec.subject == "s1" and rec.dataset == "e4"
    assert {m: s.rate for m, s in rec.signals.items()} == RATES
    np.testing.assert_array_equal(rec.signals["wrist.BVP"].data, bvp[128:].astype(np.float32))
    np.testing.assert_array_equal(rec.signals["wrist.ACC"].data, acc[16:].astype(np.float32))
    assert rec.signals["wrist.ACC"].data.shape[1] == 3
    assert rec.events == (10.0, 50.0)
    assert rec.labels is None
    assert any("2.000 s apart" in n for n in rec.notes)


def test_train_recognises_an_e4_folder_without_dataset(tmp_path):
    from xmodal.cli import build_parser, config_from_args

    root = tmp_path / "study"
    write_session(root / "s2", seed=2)

    def config(*flags: str):
        args = build_parser().parse_args(["train", str(root), "--out", str(tmp_path / "r"), *flags])
        return config_from_args(args)

    assert config().data.dataset == "e4"
    assert config().data.modalities == get_adapter("e4").default_modalities(root)
    assert config("--dataset", "wesad").data.dataset == "wesad"  # an explicit choice stays
    toml = tmp_path / "run.toml"
    toml.write_text('[data]\ndataset = "wesad"\n')
    assert config("--config", str(toml)).data.dataset == "wesad"


def test_folder_of_sessions_folders_and_zips_load_the_same(tmp_path):
    root = tmp_path / "study"
    write_session(root / "s2", seed=2)
    zip_session(write_session(tmp_path / "s10", seed=10), root / "s10.zip")
    zip_session(write_session(tmp_path / "s3", seed=3), root / "s3.zip", prefix="s3/")
    (root / "notes.zip").write_bytes(b"not a zip")  # not an E4 session: left out
    adapter = detect_adapter(root)
    assert adapter.name == "e4"
    assert (
        detect_adapter(root / "s10.zip").name == "e4" and detect_adapter(root / "s2").name == "e4"
    )
    assert list(find_e4_sessions(root)) == ["s2", "s3", "s10"]
    for name in ("s10", "s3"):
        a = load_e4_session(root / f"{name}.zip")
        b = load_e4_session(tmp_path / name)
        for m in RATES:
            np.testing.assert_array_equal(a.signals[m].data, b.signals[m].data)
    with pytest.raises(DataError, match="s9 not found"):
        find_e4_sessions(root, ["s9"])


def _segments(path: Path, rows, header=("label", "start_s", "end_s")) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_segments_in_seconds_or_unix_time_give_the_same_labels(tmp_path):
    a = write_session(tmp_path / "a")
    b = write_session(tmp_path / "b")
    _segments(a / "segments.csv", [(1, 10, 40), ("stress", 50, 80.5)])
    _segments(
        b / "segments.csv",
        [("Base", START + 10, START + 40), ("TSST", START + 50, START + 80.5)],
        ("condition", "start_s", "end_s"),
    )
    la, lb = load_e4_session(a).labels, load_e4_session(b).labels
    np.testing.assert_array_equal(la, lb)
    assert la[100] == 1 and la[500] == 2 and la[804] == 2 and la[805] == 0 and la[45 * 10] == 0
    assert label_code("Medi 2", "x") == 4 and label_code("0", "x") == 0
    with pytest.raises(DataError, match="unknown label 'calm'"):
        label_code("calm", "segments.csv")


def test_subjects_csv_groups_sessions_and_folder_segments(tmp_path):
    root = tmp_path / "study"
    for i, name in enumerate(("day1", "day2", "other")):
        write_session(root / name, seconds=90, seed=i)
    (root / "subjects.csv").write_text("session,subject\nday1,P1\nday2,P1\nother,P2\n")
    _segments(
        root / "segments.csv",
        [
            (s, lab, a, b)
            for s in ("day1", "day2", "other")
            for lab, a, b in ((1, 0, 40), (2, 45, 85))
        ],
        ("session", "label", "start_s", "end_s"),
    )
    assert list(find_e4_sessions(root, ["P1"])) == ["day1", "day2"]
    from xmodal.signals.pipeline import prepare_subjects, windows_of

    config = DataConfig(
        path=str(root),
        dataset="e4",
        modalities=("wrist.BVP", "wrist.EDA"),
        task="binary",
        use_cache=False,
    )
    windows = windows_of(prepare_subjects(config), get_task("binary", "e4", root), 10.0, 10.0)
    assert sorted(set(windows.subjects)) == ["P1", "P2"]
    assert (windows.subjects == "P1").sum() == 2 * (windows.subjects == "P2").sum() > 0
    assert set(windows.labels) == {0, 1}


def test_tags_mapping_labels_intervals_and_time_zone(tmp_path):
    root = tmp_path / "study"
    session = write_session(root / "s1", tags=(10.0, 40.0, 70.0, 100.0))
    (root / "e4.toml").write_text(
        'timezone = "Europe/Berlin"\n[tags]\nintervals = ["baseline", "stress", "rest"]\n'
        'ignore = ["rest"]\n'
    )
    rec = load_e4_session(session)
    assert rec.timezone == "Europe/Berlin"
    assert rec.labels[150] == 1 and rec.labels[550] == 2 and rec.labels[850] == 0
    assert rec.labels[50] == 0
    (root / "e4.toml").write_text('[tags]\nintervals = ["baseline", "stress"]\n')
    with pytest.raises(DataError, match="4 tags make 3 intervals"):
        load_e4_session(session)
    (root / "e4.toml").write_text('timezone = "Mars/Olympus"\n')
    with pytest.raises(DataError, match="not an IANA time zone"):
        load_e4_session(session)


def test_unlabelled_sessions_are_surveyed_not_trained(capsys, tmp_path):
    root = tmp_path / "study"
    eda = np.r_[np.full(4 * 90, 0.004), np.linspace(0.5, 2.0, 4 * 60)]
    write_session(root / "s1", seconds=150, tags=(5.0,))
    write_signal(root / "s1" / "EDA.csv", START, 4.0, eda)
    (root / "s1" / "HR.csv").write_text(f"{START + 10:.1f}\n1.000000\n70.0\n")
    with pytest.raises(ConfigError, match="no labels"):
        get_adapter("e4").tasks(root)
    assert main(["datasets", str(root)]) == 0
    out = capsys.readouterr().out
    assert "e4 dataset" in out and "start: 2020-09-13T12:26:40+00:00" in out
    assert "tags: 1 at 5.0 s" in out and "labels: none" in out
    assert "band off the wrist?" in out and "HR.csv present, not read" in out


def test_e4_session_predicts_like_the_wesad_pickle_of_the_same_samples(
    capsys, wrist_run, tiny_wesad, tmp_path
):
    from xmodal.data.wesad import load_wesad_subject

    rec = load_wesad_subject(tiny_wesad / "S2" / "S2.pkl", ("wrist.BVP", "wrist.EDA"), "S2")
    session = write_session(
        tmp_path / "S2e4", signals={m: s.data for m, s in rec.signals.items()}, tags=(60.0, 200.0)
    )
    (tmp_path / "e4.toml").write_text('timezone = "America/New_York"\n')
    zipped = zip_session(session, tmp_path / "S2zip.zip")
    tables = {}
    for name, source in (("wesad", tiny_wesad / "S2"), ("folder", session), ("zip", zipped)):
        out = tmp_path / f"{name}.csv"
        plot = tmp_path / f"{name}.png"
        argv = ["predict", wrist_run, source, "--out", out, "--plot", plot, "--hop", "5"]
        assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
        with open(out) as fh:
            tables[name] = list(csv.DictReader(fh))
        assert plot.stat().st_size > 1000
    columns = [c for c in tables["wesad"][0] if c.startswith("p_")]
    for name in ("folder", "zip"):
        assert len(tables[name]) == len(tables["wesad"]) > 10
        for a, b in zip(tables["wesad"], tables[name]):
            assert [a[c] for c in columns] == [b[c] for c in columns]
    assert tables["folder"] == tables["zip"]
    assert "time_start" not in tables["wesad"][0]
    assert tables["zip"][0]["time_start"] == "2020-09-13T08:26:40.000-04:00"
    assert tables["zip"][1]["time_start"] == "2020-09-13T08:26:45.000-04:00"


def test_real_e4_session_equals_the_wesad_layout_sample_by_sample(
    e4_wrist, wesad_wrist, shared_data
):
    import json

    from xmodal.data.wesad import load_wesad_subject

    offset = json.loads((shared_data / "wesad_wrist" / "S2" / "S2_sync.json").read_text())[
        "offset_s"
    ]
    assert detect_adapter(e4_wrist).name == "e4" and list(find_e4_sessions(e4_wrist)) == ["S2"]
    e4 = load_e4_session(e4_wrist / "S2")
    wesad = load_wesad_subject(wesad_wrist / "S2" / "S2.pkl", tuple(E4_FILES), "S2")
    for m, signal in wesad.signals.items():
        first = int(round(offset * signal.rate))
        n = len(signal.data)
        assert e4.signals[m].rate == signal.rate and len(e4.signals[m].data) >= first + n
        np.testing.assert_array_equal(e4.signals[m].data[first : first + n], signal.data)
    t = np.arange(len(e4.labels)) / e4.label_rate - offset
    inside = (t >= 0) & (t < len(wesad.labels) / wesad.label_rate)
    k = np.round(t[inside] * wesad.label_rate).astype(int)
    np.testing.assert_array_equal(e4.labels[inside], wesad.labels[k])
    assert (e4.labels[~inside] == 0).all() and set(np.unique(e4.labels)) == {0, 1, 2, 3, 4}
    assert len(e4.events) == 10

"""PhysioNet drivedb adapter on the real drive05 record, its error paths, and a labelled run.

drive05 is one drive of one driver: a run on pieces of it (pseudo-records cut out of the same
drive) is SUBJECT-DEPENDENT, a pipeline check, not a subject-independent result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xmodal.cli import main
from xmodal.data.datasets import find_subjects, load_recording
from xmodal.data.drivedb import drivedb_signals, load_drivedb_record, normalise_name
from xmodal.errors import ConfigError, DataError

SEGMENTS_HEADER = "record,segment,stress_level,start_s,end_s\n"


@pytest.fixture(scope="module")
def drivedb(shared_data) -> Path:
    return shared_data / "drivedb"


def write_pieces(drivedb: Path, out: Path, n: int, seconds: float) -> Path:
    """Cut the first ``seconds`` of drive05 into ``n`` WFDB records with shifted segments."""
    import wfdb

    rec = wfdb.rdrecord(
        str(drivedb / "drive05"), smooth_frames=False, channels=[0, 3, 6]
    )  # ECG, hand GSR, RESP
    frames = int(seconds * rec.fs) // n
    rows = []
    segments = (drivedb / "drive05_segments.csv").read_text().splitlines()[1:]
    out.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        name = f"drive05p{k + 1}"
        signals = [
            x[k * frames * s : (k + 1) * frames * s]
            for x, s in zip(rec.e_p_signal, rec.samps_per_frame)
        ]
        # digital samples and gains made here, so that the Record API writes the multi-rate
        # record on every supported wfdb version (wfdb.wrsamp(e_p_signal=...) needs 4.2)
        gains = [60000.0 / max(float(np.ptp(x)), 1e-6) for x in signals]
        baselines = [int(round(-30000 - float(np.min(x)) * g)) for x, g in zip(signals, gains)]
        digital = [
            np.round(x * g + b).astype(np.int16) for x, g, b in zip(signals, gains, baselines)
        ]
        piece = wfdb.Record(
            record_name=name,
            n_sig=3,
            fs=rec.fs,
            sig_len=frames,
            units=rec.units,
            sig_name=rec.sig_name,
            e_d_signal=digital,
            adc_gain=gains,
            baseline=baselines,
            samps_per_frame=rec.samps_per_frame,
            fmt=["16"] * 3,
            adc_res=[16] * 3,
            adc_zero=[0] * 3,
            file_name=[f"{name}.dat"] * 3,
        )
        piece.set_d_features(expanded=True)  # checksums and initial values
        piece.set_defaults()
        piece.wrsamp(expanded=True, write_dir=str(out))
        t0, t1 = k * frames / rec.fs, (k + 1) * frames / rec.fs
        for line in segments:
            _, seg, level, start, end = line.split(",")
            start, end = max(float(start), t0), min(float(end), t1)
            if end > start:
                rows.append(f"{name},{seg},{level},{start - t0:.2f},{end - t0:.2f}\n")
    (out / "pieces_segments.csv").write_text(SEGMENTS_HEADER + "".join(rows))
    return out


@pytest.fixture(scope="module")
def pieces(drivedb, tmp_path_factory) -> Path:
    return write_pieces(drivedb, tmp_path_factory.mktemp("drive05_pieces"), n=3, seconds=3300)


def test_names_are_normalised_and_rates_come_from_the_header(drivedb):
    assert normalise_name("foot GSR") == "foot_gsr" and normalise_name(" RESP ") == "resp"
    signals = drivedb_signals(drivedb / "drive05.hea")
    assert list(signals) == ["ecg", "emg", "foot_gsr", "hand_gsr", "hr", "resp"]  # no marker
    rates = {name: rate for name, (_, rate) in signals.items()}
    assert rates == {
        "ecg": 496.0,
        "emg": 15.5,
        "foot_gsr": 31.0,
        "hand_gsr": 31.0,
        "hr": 15.5,
        "resp": 31.0,
    }


def test_drive05_loads_multirate_with_segment_labels(drivedb):
    files = find_subjects("drivedb", drivedb)
    assert list(files) == ["drive05"]
    rec = load_recording("drivedb", files["drive05"], ["ecg", "hand_gsr", "resp"], "drive05")
    assert rec.signals["ecg"].rate == 496.0 and rec.signals["hand_gsr"].rate == 31.0
    assert rec.signals["ecg"].data.shape == (78367 * 32, 1)
    assert rec.signals["ecg"].data.dtype == np.float32
    assert abs(rec.signals["resp"].duration - 78367 / 15.5) < 1e-6
    assert rec.label_rate == 10.0
    labels = rec.labels
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    t = lambda s: int(s * 10)  # noqa: E731
    assert labels[t(10)] == 0 and labels[t(100)] == 1  # before / in initial rest
    assert labels[t(1000)] == 3 and labels[t(2000)] == 2  # city 1 / highway
    assert labels[t(4500)] == 1 and labels[t(5040)] == 0  # final rest / after it


def test_labels_option_and_unlabelled_records(drivedb, tmp_path):
    (tmp_path / "drive05.hea").symlink_to(drivedb / "drive05.hea")
    (tmp_path / "drive05.dat").symlink_to(drivedb / "drive05.dat")
    rec = load_drivedb_record(tmp_path / "drive05.hea", ["hand_gsr"])
    assert rec.labels is None and rec.label_rate is None  # usable for prediction
    rec = load_drivedb_record(
        tmp_path / "drive05", ["hand_gsr"], labels=drivedb / "drive05_segments.csv"
    )
    assert rec.labels is not None and (rec.labels == 3).any()


def _error(capsys, *argv) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("xmodal: error: "), err
    return err


def test_error_paths_are_one_line(capsys, drivedb, tmp_path):
    out = str(tmp_path / "run")
    out = [out, "--no-cache"]
    err = _error(capsys, "train", str(tmp_path / "nothing"), "--dataset", "drivedb", "--out", *out)
    assert "not found" in err
    err = _error(
        capsys,
        "train",
        str(drivedb),
        "--dataset",
        "drivedb",
        "--out",
        *out,
        "--modalities",
        "ecg",
        "chest.EDA",
    )
    assert "chest.EDA" in err and "hand_gsr" in err  # valid names listed
    err = _error(
        capsys, "train", str(drivedb), "--dataset", "drivedb", "--out", *out, "--task", "3class"
    )
    assert "drive3" in err and "drive2" in err
    err = _error(
        capsys,
        "train",
        str(drivedb),
        "--dataset",
        "drivedb",
        "--out",
        *out,
        "--labels",
        str(tmp_path / "missing.csv"),
    )
    assert "missing.csv" in err
    # a single record cannot be split leave-one-record-out
    err = _error(
        capsys,
        "train",
        str(drivedb),
        "--dataset",
        "drivedb",
        "--out",
        *out,
        "--modalities",
        "hand_gsr",
        "resp",
        "--epochs",
        "1",
    )
    assert "too few subjects" in err and "drive05" in err


@pytest.mark.parametrize(
    "rows,message",
    [
        ("drive05,a,0,0,100\ndrive05,b,2,50,200\n", "overlap"),
        ("drive05,a,5,0,100\n", "unknown stress_level"),
        ("drive05,a,0,6000,6100\n", "beyond the end"),
        ("drive05,a,0,100,50\n", "empty or negative"),
        ("drive05,a,0,zero,50\n", "must be numbers"),
    ],
)
def test_malformed_segments(capsys, drivedb, tmp_path, rows, message):
    labels = tmp_path / "segments.csv"
    labels.write_text(SEGMENTS_HEADER + rows)
    err = _error(
        capsys,
        "train",
        str(drivedb),
        "--dataset",
        "drivedb",
        "--labels",
        str(labels),
        "--modalities",
        "hand_gsr",
        "resp",
        "--no-cache",
        "--out",
        str(tmp_path / "run"),
    )
    assert message in err and "segments.csv" in err
    with pytest.raises(DataError, match=message):
        load_drivedb_record(drivedb / "drive05.hea", ["hand_gsr"], labels=labels)


def test_missing_columns_and_bad_header(drivedb, tmp_path):
    labels = tmp_path / "segments.csv"
    labels.write_text("record,start_s,end_s\ndrive05,0,10\n")
    with pytest.raises(DataError, match="missing column stress_level"):
        load_drivedb_record(drivedb / "drive05.hea", ["hr"], labels=labels)
    (tmp_path / "bad.hea").write_text("this is not a header\n")
    with pytest.raises(DataError, match="bad.hea"):
        drivedb_signals(tmp_path / "bad.hea")
    with pytest.raises(ConfigError, match="valid: ecg, emg"):
        load_drivedb_record(drivedb / "drive05.hea", ["ECG"])


def test_leave_one_record_out_and_holdout_on_pieces_subject_dependent(capsys, pieces, tmp_path):
    """SUBJECT-DEPENDENT: three pieces of one drive; checks that the protocols run end to end."""
    common = [
        "--dataset",
        "drivedb",
        "--quiet",
        "--ensemble",
        "1",
        "--epochs",
        "1",
        "--val-subjects",
        "0",
        "--train-stride",
        "20",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    code = main(
        ["train", str(pieces), "--out", str(tmp_path / "loro"), "--task", "drive2", *common]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "loro" / "results.json").read_text())
    assert results["dataset"] == "drivedb" and results["modalities"] == ["ecg", "hand_gsr"]
    assert results["classes"] == ["rest", "city"] and results["protocol"] == "loso"
    assert [f["test_subjects"] for f in results["folds"]] == [
        ["drive05p1"],
        ["drive05p2"],
        ["drive05p3"],
    ]
    assert results["windows"]["rates"] == {"ecg": 256.0, "hand_gsr": 16.0}

    code = main(
        [
            "train",
            str(pieces),
            "--out",
            str(tmp_path / "holdout"),
            "--protocol",
            "holdout",
            "--test",
            "drive05p2",
            "--modalities",
            "hand_gsr",
            "resp",
            *common,
        ]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "holdout" / "results.json").read_text())
    assert results["task"] == "drive3" and results["classes"] == ["rest", "highway", "city"]
    assert results["protocol"] == "holdout" and len(results["folds"]) == 1
    fold = results["folds"][0]
    assert fold["test_subjects"] == ["drive05p2"] and fold["n_test_windows"] > 0
    assert results["config"]["evaluation"]["test_subjects"] == ["drive05p2"]
    err = _error(
        capsys,
        "train",
        str(pieces),
        "--out",
        str(tmp_path / "h2"),
        "--protocol",
        "holdout",
        "--test",
        "drive09",
        *common,
    )
    assert "drive09" in err

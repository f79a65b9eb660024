"""Prediction on new recordings: CLI and Python API, on real recordings; bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmodal import Predictor
from xmodal.cli import main
from xmodal.errors import ConfigError, DataError

NK_COLUMNS = ["--columns", "chest.ECG=ECG,chest.EDA=EDA", "--rates", "chest.ECG=100,chest.EDA=100"]


@pytest.fixture(scope="module")
def neurokit_csv(shared_data):
    return shared_data / "neurokit_recordings" / "bio_resting_8min_100hz.csv"


def _expect_error(capsys, argv, pattern):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and pattern in err, err


def test_predict_real_neurokit_csv_with_final_model(capsys, chest_run, neurokit_csv, tmp_path):
    out, plot = tmp_path / "nk.csv", tmp_path / "nk.png"
    code = main(
        [
            "predict",
            str(chest_run),
            str(neurokit_csv),
            *NK_COLUMNS,
            "--out",
            str(out),
            "--plot",
            str(plot),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "final model" in captured.out
    header, *rows = out.read_text().splitlines()
    assert header == "t_start,t_end,predicted,p_baseline,p_stress,p_amusement"
    n = sum(1 for _ in open(neurokit_csv)) - 1  # samples at 100 Hz
    assert len(rows) == (n - 2 - 1000) // 1000 + 1  # a window needs 10 s + 2 samples
    values = np.array([[float(v) for v in r.split(",")[3:]] for r in rows])
    assert np.allclose(values.sum(axis=1), 1, atol=1e-5)
    assert all(r.split(",")[2] in ("baseline", "stress", "amusement") for r in rows)
    assert plot.stat().st_size > 10_000


def test_predict_real_wrist_subject_with_fold_ensemble(capsys, wrist_run, wesad_wrist, tmp_path):
    out, plot = tmp_path / "s3.json", tmp_path / "s3.png"
    code = main(
        [
            "predict",
            str(wrist_run),
            str(wesad_wrist / "S3"),
            "--out",
            str(out),
            "--plot",
            str(plot),
            "--hop",
            "30",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "ensemble model" in captured.out
    result = json.loads(out.read_text())
    assert result["classes"] == ["baseline", "stress", "amusement"]
    rows = result["rows"]
    assert len(rows) > 100
    assert rows[1]["t_start"] == 30 and rows[1]["t_end"] == 40
    assert all(abs(sum(r[f"p_{c}"] for c in result["classes"]) - 1) < 1e-5 for r in rows)
    assert plot.stat().st_size > 10_000


def test_python_api_final_and_forced_ensemble(chest_run, neurokit_csv):
    data = np.loadtxt(neurokit_csv, delimiter=",", skiprows=1, usecols=(0, 2), max_rows=6000)
    signals = {"chest.ECG": data[:, 0], "chest.EDA": data[:, 1], "other": data[:, 0]}
    rates = {"chest.ECG": 100.0, "chest.EDA": 100}
    final = Predictor.from_run(chest_run)
    assert final.source == "final" and len(final.models) == 1
    ensemble = Predictor.from_run(chest_run, ensemble=True)
    assert ensemble.source == "ensemble" and len(ensemble.models) == 4
    for predictor in (final, ensemble):
        table = predictor.predict(signals, rates, hop=5)
        assert table.columns == [
            "t_start",
            "t_end",
            "predicted",
            "p_baseline",
            "p_stress",
            "p_amusement",
        ]
        # the whole recording (the run's mode) ends with the window [50, 60) s; a window on its
        # own (running) needs a few samples after it
        assert len(table) == 11 and np.allclose(table.proba.sum(axis=1), 1)
        assert len(predictor.predict(signals, rates, hop=5, normalization="running")) == 10
        assert np.allclose(table["t_end"] - table["t_start"], 10)
        assert table.to_csv().count("\n") == 12
    assert json.loads(final.predict(signals, rates).to_json())["rows"][0]["t_start"] == 0


def test_final_model_and_model_card(chest_run):
    results = json.loads((chest_run / "results.json").read_text())
    assert results["final"]["epochs"] >= 1
    assert results["final"]["train_subjects"] == ["S2", "S3", "S4", "S5"]
    card = (chest_run / "MODEL_CARD.md").read_text().lower()
    for text in (
        "not a medical device",
        "lab-induced stress",
        "s2, s3, s4, s5",
        "chest.ecg",
        "256.0 hz",
        "±",
        "loso",
    ):
        assert text in card, text


def test_explain_writes_plots_and_summary(capsys, chest_run, neurokit_csv, tmp_path):
    code = main(
        [
            "explain",
            str(chest_run),
            str(neurokit_csv),
            *NK_COLUMNS,
            "--out",
            str(tmp_path / "ex"),
            "--hop",
            "20",
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "ex" / "attention.json").read_text())
    assert len(summary["mean_attention"]) == 6  # 2 directions x 3 blocks
    assert all(0 <= v <= 1 for course in summary["mean_attention"].values() for v in course)
    for name in ("attention_over_time.png", "attention_by_class.png", "predictions.csv"):
        assert (tmp_path / "ex" / name).stat().st_size > 0


def test_explain_needs_attention():
    from xmodal.config import ModelConfig
    from xmodal.models.registry import build_model

    model = build_model(
        ModelConfig(name="late-fusion", ensemble=1), {"a.ECG": (1, 100), "a.EDA": (1, 20)}, 2
    )
    predictor = Predictor([model], ["x", "y"], {"a.ECG": 10.0, "a.EDA": 2.0}, 10.0, 10.0)
    with pytest.raises(ConfigError, match="no attention"):
        predictor.attention(
            {"a.ECG": np.zeros((2, 1, 100), np.float32), "a.EDA": np.zeros((2, 1, 20), np.float32)}
        )


def _csv(path, seconds=60.0, nan_from=None, nan_len=0.0, rate=100):
    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    ecg, eda = rng.normal(size=n), 5 + rng.normal(size=n).cumsum() / 100
    if nan_from is not None:
        ecg[int(nan_from * rate) : int((nan_from + nan_len) * rate)] = np.nan
    np.savetxt(path, np.c_[ecg, eda], delimiter=",", header="ECG,EDA", comments="")
    return path


@pytest.mark.parametrize(
    "case, extra, pattern",
    [
        ("missing column", ["--columns", "chest.ECG=ECG,chest.EDA=GSR"], "no column 'GSR'"),
        ("wrong rate", ["--rates", "chest.ECG=10,chest.EDA=10"], "below the lowest usable rate"),
        ("zero rate", ["--rates", "chest.ECG=0,chest.EDA=0"], "positive number"),
        ("unequal rates", ["--rates", "chest.ECG=100,chest.EDA=4"], "rates must be equal"),
        ("unmapped modality", ["--columns", "chest.ECG=ECG"], "no column for chest.EDA"),
        ("too short", ["SHORT"], "too short"),
        ("NaN run", ["NAN"], "s of NaN/inf at t=20.0 s"),
        ("bad out", ["--out", "x.txt"], "--out must end in .csv or .json"),
    ],
)
def test_bad_inputs_one_line_exit_2(capsys, chest_run, tmp_path, case, extra, pattern):
    source = _csv(tmp_path / "rec.csv")
    if extra == ["SHORT"]:
        source, extra = _csv(tmp_path / "short.csv", seconds=8), []
    if extra == ["NAN"]:
        source, extra = _csv(tmp_path / "nan.csv", nan_from=20, nan_len=3), []
    argv = [
        "predict",
        str(chest_run),
        str(source),
        *NK_COLUMNS,
        "--out",
        str(tmp_path / "p.csv"),
        *extra,
    ]
    _expect_error(capsys, argv, pattern)


def test_bad_run_folder_and_input(capsys, chest_run, tmp_path):
    _expect_error(
        capsys,
        ["predict", str(tmp_path), str(tmp_path), "--out", "p.csv"],
        "not a finished run folder",
    )
    _expect_error(
        capsys, ["predict", str(chest_run), str(tmp_path / "nope"), "--out", "p.csv"], "nope"
    )
    with pytest.raises(DataError, match="missing modality chest.EDA"):
        Predictor.from_run(chest_run).predict({"chest.ECG": np.zeros(6000)}, {"chest.ECG": 100})


def test_checkpoint_of_another_architecture_names_the_versions(chest_run, tmp_path):
    import shutil

    import torch

    run = tmp_path / "old_run"
    shutil.copytree(chest_run, run)
    results = json.loads((run / "results.json").read_text())
    results["xmodal_version"] = "0.0.1"
    (run / "results.json").write_text(json.dumps(results))
    for checkpoint in run.rglob("model.pt"):
        torch.save({"stem.weight": torch.zeros(1)}, checkpoint)
    with pytest.raises(DataError, match="cannot load checkpoint.*trained with xmodal 0.0.1"):
        Predictor.from_run(run)

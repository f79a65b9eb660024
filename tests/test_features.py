"""The classical baseline: hand-crafted features + scikit-learn, through the same folds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmodal.cli import main
from xmodal.models.features import extract_features, fit_predict
from xmodal.signals.windows import WindowSet


def _pulse_windows(bpm: float, fs: float = 64.0, n: int = 3, seconds: float = 10.0) -> WindowSet:
    t = np.arange(int(seconds * fs)) / fs
    phase = (t * bpm / 60.0) % 1.0
    beat = np.exp(-((phase - 0.3) ** 2) / (2 * 0.02 ** 2))          # narrow peaks, like R waves
    x = (beat - beat.mean()) / beat.std()
    eda = np.linspace(0, 1, int(seconds * 4))[None, :] * np.ones((n, 1))
    return WindowSet({"chest.ECG": np.tile(x, (n, 1, 1)).astype(np.float32),
                      "wrist.EDA": eda[:, None, :].astype(np.float32)},
                     np.array(["S2"] * n), np.zeros(n, dtype=np.int64), np.arange(n) * 10.0,
                     {"chest.ECG": fs, "wrist.EDA": 4.0}, ("a", "b"), seconds)


def test_heart_rate_and_eda_features_from_known_signals():
    x, names = extract_features(_pulse_windows(72.0))
    assert x.shape == (3, len(names))
    hr = x[:, names.index("chest.ECG.hr_mean")]
    np.testing.assert_allclose(hr, 72.0, atol=2.0)
    assert np.all(x[:, names.index("chest.ECG.rmssd")] < 0.02)
    assert x[0, names.index("wrist.EDA.tonic_slope")] > 0           # rising skin conductance
    assert "chest.ECG.lf_hf" not in names                           # 10-s windows: no LF/HF


@pytest.mark.parametrize("name", ["rf", "lda", "adaboost"])
def test_estimators_fit_and_give_probabilities(name):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    x = rng.normal(size=(90, 4)) + y[:, None]
    x[::7, 1] = np.nan                                               # undefined features imputed
    proba, info, _ = fit_predict(name, x, y, x[:10], 3)
    assert proba.shape == (10, 3) and np.allclose(proba.sum(1), 1)
    assert json.dumps(info)


def test_features_beats_chance_loso_and_writes_the_schema(capsys, tiny_wesad, tmp_path):
    out = tmp_path / "run"
    code = main(["train", str(tiny_wesad), "--out", str(out), "--model", "features", "--quiet",
                 "--cache-dir", str(tmp_path / "cache"), "--val-subjects", "1"])
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["model"] == "features" and len(res["folds"]) == 4
    assert res["mean"]["macro_f1"] > 0.5, res["mean"]              # chance: 1/3
    assert res["n_parameters"] is None
    assert not list(out.glob("folds/*/model.pt"))
    assert len(list(out.glob("folds/*/features_model.json"))) == 4
    assert (out / "MODEL_CARD.md").exists() and (out / "confusion_matrix.png").exists()
    # predict refuses such a run with a clear message
    code = main(["predict", str(out), str(tiny_wesad / "S2"), "--out", str(tmp_path / "p.csv")])
    assert code == 2 and "features" in capsys.readouterr().err

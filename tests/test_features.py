"""The classical baseline: hand-crafted features + scikit-learn, through the same folds."""

from __future__ import annotations

import json
import warnings

import neurokit2 as nk
import numpy as np
import pytest

from xmodal.cli import main
from xmodal.models.features import _hrv_time, _tinn, extract_features, fit_predict
from xmodal.signals.preprocess import signal_clean
from xmodal.signals.windows import WindowSet


def _pulse_windows(bpm: float, fs: float = 64.0, n: int = 3, seconds: float = 10.0) -> WindowSet:
    t = np.arange(int(seconds * fs)) / fs
    phase = (t * bpm / 60.0) % 1.0
    beat = np.exp(-((phase - 0.3) ** 2) / (2 * 0.02**2))  # narrow peaks, like R waves
    x = (beat - beat.mean()) / beat.std()
    eda = np.linspace(0, 1, int(seconds * 4))[None, :] * np.ones((n, 1))
    return WindowSet(
        {
            "chest.ECG": np.tile(x, (n, 1, 1)).astype(np.float32),
            "wrist.EDA": eda[:, None, :].astype(np.float32),
        },
        np.array(["S2"] * n),
        np.zeros(n, dtype=np.int64),
        np.arange(n) * 10.0,
        {"chest.ECG": fs, "wrist.EDA": 4.0},
        ("a", "b"),
        seconds,
    )


def test_heart_rate_and_eda_features_from_known_signals():
    x, names = extract_features(_pulse_windows(72.0))
    assert x.shape == (3, len(names))
    hr = x[:, names.index("chest.ECG.hr_mean")]
    np.testing.assert_allclose(hr, 72.0, atol=2.0)
    assert np.all(x[:, names.index("chest.ECG.rmssd")] < 20.0)  # ms; regular beats
    assert x[0, names.index("wrist.EDA.slope")] > 0  # rising skin conductance
    assert x[0, names.index("wrist.EDA.scl_corr_t")] > 0.9
    for band in ("lf", "hf", "lf_hf"):  # 10-s windows: no spectrum
        assert np.all(np.isnan(x[:, names.index(f"chest.ECG.{band}")]))


@pytest.mark.parametrize("name", ["rf", "lda", "adaboost"])
def test_estimators_fit_and_give_probabilities(name):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    x = rng.normal(size=(90, 4)) + y[:, None]
    x[::7, 1] = np.nan  # undefined features imputed
    proba, info, _ = fit_predict(name, x, y, x[:10], 3)
    assert proba.shape == (10, 3) and np.allclose(proba.sum(1), 1)
    assert json.dumps(info)


def test_features_beats_chance_loso_and_writes_the_schema(capsys, tiny_wesad, tmp_path):
    out = tmp_path / "run"
    # 10-s windows: the tiny recordings' segments are too short for the default 60 s
    code = main(
        [
            "train",
            str(tiny_wesad),
            "--out",
            str(out),
            "--model",
            "features",
            "--quiet",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--val-subjects",
            "1",
            "--window",
            "10",
        ]
    )
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["model"] == "features" and len(res["folds"]) == 4
    assert res["mean"]["macro_f1"] > 0.5, res["mean"]  # chance: 1/3
    assert res["n_parameters"] is None
    assert not list(out.glob("folds/*/model.pt"))
    assert len(list(out.glob("folds/*/features_model.json"))) == 4
    assert (out / "MODEL_CARD.md").exists() and (out / "confusion_matrix.png").exists()
    # predict refuses such a run with a clear message
    code = main(["predict", str(out), str(tiny_wesad / "S2"), "--out", str(tmp_path / "p.csv")])
    assert code == 2 and "features" in capsys.readouterr().err


def _windows(signals: dict[str, tuple[np.ndarray, float]], seconds: float) -> WindowSet:
    """One window per row of each ``(n_windows, n_times)`` array, as the pipeline gives them."""
    n = len(next(iter(signals.values()))[0])
    return WindowSet(
        {m: a[:, None, :].astype(np.float32) for m, (a, _) in signals.items()},
        np.array(["S2"] * n),
        np.zeros(n, dtype=np.int64),
        np.zeros(n),
        {m: fs for m, (_, fs) in signals.items()},
        ("a", "b"),
        seconds,
    )


def _pipeline(rows: list[np.ndarray], fs: float, kind: str) -> np.ndarray:
    """Windows cleaned like the shared preprocessing and z-scored together (one subject)."""
    y = np.stack([signal_clean(np.asarray(r, dtype=np.float64), fs, kind).ravel() for r in rows])
    return (y - y.mean()) / y.std()


@pytest.mark.parametrize(
    "kind, modality, fs", [("ecg", "chest.ECG", 256.0), ("bvp", "wrist.BVP", 64.0)]
)
def test_mean_heart_rate_of_simulated_60s_windows(kind, modality, fs):
    rates = [55.0, 75.0, 100.0]
    sim = nk.ecg_simulate if kind == "ecg" else nk.ppg_simulate
    rows = _pipeline(
        [
            sim(duration=60, sampling_rate=int(fs), heart_rate=hr, random_state=7 + i)
            for i, hr in enumerate(rates)
        ],
        fs,
        kind,
    )
    x, names = extract_features(_windows({modality: (rows, fs)}, 60.0))
    np.testing.assert_allclose(x[:, names.index(f"{modality}.hr_mean")], rates, atol=3.0)
    for key in ("ibi_std", "rmssd", "tinn", "lf", "hf", "lf_norm"):  # 60 s: LF and HF exist
        assert np.all(np.isfinite(x[:, names.index(f"{modality}.{key}")])), key
    for key in ("ulf", "vlf"):  # need 606 s
        assert np.all(np.isnan(x[:, names.index(f"{modality}.{key}")]))


def _beat_train(ibi_s: np.ndarray, fs: float, seconds: float) -> np.ndarray:
    """Narrow Gaussian pulses at the given successive intervals."""
    t = np.arange(int(seconds * fs)) / fs
    beats = np.cumsum(ibi_s)
    x = np.exp(-((t[:, None] - beats[None, beats < seconds]) ** 2) / (2 * 0.015**2)).sum(1)
    return (x - x.mean()) / x.std()


def test_spectrum_follows_the_modulation_of_the_intervals():
    k = np.arange(90)
    rows = []
    for f_mod in (0.1, 0.25):  # LF (baroreflex) vs HF (respiratory) modulation
        ibi = 0.8 + 0.05 * np.sin(2 * np.pi * f_mod * 0.8 * k)
        rows.append(_beat_train(ibi, 256.0, 60.0))
    x, names = extract_features(_windows({"chest.ECG": (np.stack(rows), 256.0)}, 60.0))
    lf_hf = x[:, names.index("chest.ECG.lf_hf")]
    assert lf_hf[0] > 3 and lf_hf[1] < 1 / 3, lf_hf
    norm = x[:, names.index("chest.ECG.lf_norm")] + x[:, names.index("chest.ECG.hf_norm")]
    np.testing.assert_allclose(norm, 1.0)


def test_time_domain_hrv_matches_neurokit():
    rng = np.random.default_rng(3)
    rri = rng.normal(800, 40, 80)
    rri[[10, 40]] = [2500.0, 200.0]  # artefacts: dropped, no difference across them
    keep = (rri >= 300) & (rri <= 2000)
    ours = _hrv_time(rri, keep)
    ref = nk.hrv_time({"RRI": rri[keep], "RRI_Time": np.cumsum(rri)[keep] / 1000}).iloc[0]
    for key, col in [
        ("ibi_mean", "MeanNN"),
        ("ibi_std", "SDNN"),
        ("rmssd", "RMSSD"),
        ("pnn50", "pNN50"),
    ]:
        assert ours[key] == pytest.approx(ref[f"HRV_{col}"], rel=1e-9), key


def test_tinn_is_the_base_of_a_triangular_histogram():
    rri = np.random.default_rng(0).triangular(700.0, 800.0, 900.0, 20000)
    assert _tinn(rri) == pytest.approx(200.0, abs=16.0)
    assert _tinn(np.full(20, 800.0)) < 20.0  # one bin: a narrow triangle


def test_eda_responses_are_counted():
    fs = 4.0
    rows = _pipeline(
        [
            nk.eda_simulate(duration=60, sampling_rate=int(fs), scr_number=n, random_state=11)
            for n in (0, 4)
        ],
        fs,
        "eda",
    )
    x, names = extract_features(_windows({"wrist.EDA": (rows, fs)}, 60.0))
    count = x[:, names.index("wrist.EDA.scr_count")]
    assert count[1] > 0 and count[1] > count[0], count
    for key in ("scr_amp_sum", "scr_rise_sum", "scr_area_sum"):
        assert x[1, names.index(f"wrist.EDA.{key}")] > 0, key
    for key in ("scl_mean", "scl_std", "scr_mean", "scr_std"):
        assert np.all(np.isfinite(x[:, names.index(f"wrist.EDA.{key}")])), key


@pytest.mark.parametrize("seconds", [10.0, 60.0])
def test_flat_constant_and_short_windows_give_nan_without_warnings(seconds):
    rng = np.random.default_rng(0)
    signals = {}
    for modality, fs in (
        ("chest.ECG", 256.0),
        ("wrist.BVP", 64.0),
        ("wrist.EDA", 4.0),
        ("wrist.TEMP", 4.0),
    ):
        n_times = int(seconds * fs)
        signals[modality] = (
            np.stack([np.zeros(n_times), np.full(n_times, 2.5), rng.normal(size=n_times)]),
            fs,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, names = extract_features(_windows(signals, seconds))
    assert x.shape == (3, len(names))
    generic = [i for i, k in enumerate(names) if k.split(".")[-1] in ("mean", "std", "range")]
    assert np.all(np.isfinite(x[:, generic]))
    for key in ("hr_mean", "rmssd", "tinn", "lf_hf"):
        for modality in ("chest.ECG", "wrist.BVP"):
            assert np.all(np.isnan(x[:2, names.index(f"{modality}.{key}")])), (modality, key)
    for key in ("scl_mean", "scr_count", "scl_corr_t"):
        assert np.all(np.isnan(x[:2, names.index(f"wrist.EDA.{key}")])), key
    # a few samples: neurokit2 refuses them, the features are NaN
    short = {m: (a[:, :8], fs) for m, (a, fs) in signals.items()}
    x, names = extract_features(_windows(short, 8 / 256))
    assert x.shape == (3, len(names))


def test_feature_names_are_unique_and_cover_every_channel():
    n = 2
    signals = {
        "chest.ECG": np.zeros((n, 1, 2560)),
        "chest.ACC": np.zeros((n, 3, 320)),
        "wrist.BVP": np.zeros((n, 1, 640)),
        "wrist.EDA": np.zeros((n, 1, 40)),
        "chest.Resp": np.zeros((n, 1, 320)),
    }
    rates = {
        "chest.ECG": 256.0,
        "chest.ACC": 32.0,
        "wrist.BVP": 64.0,
        "wrist.EDA": 4.0,
        "chest.Resp": 32.0,
    }
    ws = WindowSet(
        {m: a.astype(np.float32) for m, a in signals.items()},
        np.array(["S2"] * n),
        np.zeros(n, dtype=np.int64),
        np.zeros(n),
        rates,
        ("a", "b"),
        10.0,
    )
    x, names = extract_features(ws)
    assert len(set(names)) == len(names) == x.shape[1]
    assert "chest.ACC[2].std" in names and "chest.Resp.slope" in names
    assert "chest.Resp.hr_mean" not in names and "wrist.BVP.hr_mean" in names


def test_lda_uses_equal_priors():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [60, 20, 10])
    x = rng.normal(size=(90, 3)) + y[:, None]
    _, info, _ = fit_predict("lda", x, y, x[:5], 3)
    np.testing.assert_allclose(info["priors"], [1 / 3] * 3, atol=1e-6)

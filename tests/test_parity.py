"""Prediction reproduces training's preprocessing: a fold's model applied by Predictor to its test
subject's raw recording gives that fold's predictions.csv rows, in every normalisation mode; a
stream equals offline prediction in the running mode; per-window cleaning differs from
whole-recording cleaning near the window's end."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from xmodal.cli import main
from xmodal.data.datasets import find_subjects, load_recording
from xmodal.files import read_json
from xmodal.inference.predictor import Predictor
from xmodal.signals.normalize import Normalizer
from xmodal.signals.preprocess import signal_clean
from xmodal.signals.preprocessor import Preprocessor
from xmodal.signals.resample import signal_resample
from xmodal.signals.window_plan import DEFAULT_CONTEXT

MODALITIES = ("wrist.BVP", "wrist.EDA")

#: largest |p_predict - p_training| over a test subject's windows; predictions.csv holds 6
#: decimals (rounding 5e-7), the rest is float32 rounding of frozen vs eager models
TOLERANCE = 1e-5

MODES = {
    "recording": [],
    "calibration-minutes": ["--normalize", "calibration", "--calibration-minutes", "1"],
    "calibration-label": [
        "--normalize",
        "calibration",
        "--calibration-minutes",
        "1",
        "--calibration-label",
        "baseline",
    ],
    "running": ["--normalize", "running"],
}


@pytest.fixture(scope="module")
def sim3(tmp_path_factory):
    from xmodal.data.synthetic import simulate_wesad

    root = tmp_path_factory.mktemp("sim3")
    simulate_wesad(root, subjects=3, minutes=5.0, seed=3)
    return root


@pytest.fixture(scope="module")
def runs(sim3, tmp_path_factory):
    base = tmp_path_factory.mktemp("parity")
    out = {}
    for name, extra in MODES.items():
        run = base / name
        code = main(
            [
                "train",
                str(sim3),
                "--out",
                str(run),
                "--cache-dir",
                str(base / "cache"),
                "--modalities",
                *MODALITIES,
                "--adapt",  # normalisation parity; adaptation has its own tests
                "none",
                "--features-blend",  # the network alone: it streams (running normalisation)
                "none",
                "--epochs",
                "1",
                "--ensemble",
                "1",
                "--val-subjects",
                "1",
                "--train-stride",
                "10",
                "--quiet",
                *extra,
            ]
        )
        assert code == 0
        out[name] = run
    return out


def _fold_rows(run, subject):
    """The fold that tested ``subject``, and its predictions.csv rows ``(t_start, proba)``."""
    fold = next(
        f for f in read_json(run / "results.json")["folds"] if f["test_subjects"] == [subject]
    )
    name = next(
        p.parent.name
        for p in run.glob("folds/*/fold.json")
        if read_json(p)["index"] == fold["index"]
    )
    with open(run / "predictions.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["subject"] == subject]
    classes = read_json(run / "results.json")["classes"]
    t = np.array([float(r["t_start"]) for r in rows])
    proba = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
    return name, t, proba


def _recording(sim3, subject):
    path = find_subjects("wesad", sim3, (subject,))[subject]
    return load_recording("wesad", path, MODALITIES, subject, root=sim3)


@pytest.mark.parametrize("mode", list(MODES))
def test_predictor_reproduces_the_folds_test_predictions(runs, sim3, mode):
    run = runs[mode]
    config = read_json(run / "results.json")["config"]["data"]
    assert config["normalize"] == mode.split("-")[0]
    for subject in ("S2", "S4"):
        fold, t, expected = _fold_rows(run, subject)
        assert len(t) > 3
        predictor = Predictor.from_run(run, fold=fold)
        assert predictor.normalization == config["normalize"]
        rec = _recording(sim3, subject)
        table = predictor.predict(
            {m: s.data for m, s in rec.signals.items()},
            {m: s.rate for m, s in rec.signals.items()},
            labels=rec.labels,
            label_rate=rec.label_rate,
        )
        index = np.searchsorted(table.t_start, t)
        assert np.allclose(table.t_start[index], t)
        assert np.abs(table.proba[index] - expected).max() < TOLERANCE
        if mode == "calibration-label":  # the baseline's first minute is not scored
            pre = predictor.preprocessor
            t0, t1 = pre.calibration_span(rec.labels, rec.label_rate, rec.duration)
            assert t1 - t0 == pytest.approx(60.0)
            assert not ((t < t1) & (t + predictor.window > t0)).any()


def test_stream_equals_offline_running(runs, sim3):
    run = runs["running"]
    fold, _, _ = _fold_rows(run, "S3")
    predictor = Predictor.from_run(run, fold=fold)
    rec = _recording(sim3, "S3")
    signals = {m: s.data for m, s in rec.signals.items()}
    rates = {m: s.rate for m, s in rec.signals.items()}
    offline = predictor.predict(signals, rates)  # the run's mode: running
    stream = predictor.stream(rates)
    rng = np.random.default_rng(0)
    pos = {m: 0 for m in signals}
    tables = []
    while any(pos[m] < len(x) for m, x in signals.items()):
        m = rng.choice([m for m in signals if pos[m] < len(signals[m])])
        size = int(rng.integers(1, 40 * rates[m]))
        tables.append(stream.push(m, signals[m][pos[m] : pos[m] + size]))
        pos[m] += size
    streamed = np.concatenate([t.proba for t in tables if len(t)])
    assert len(streamed) == len(offline)
    assert np.abs(streamed - offline.proba).max() < 1e-6


def test_running_windows_of_training_are_the_streams(sim3):
    """Training's running-mode windows equal the per-window path of prediction."""
    from xmodal.data.datasets import get_task
    from xmodal.signals.preprocessor import recording_windows, stream_inputs

    rec = _recording(sim3, "S2")
    pre = Preprocessor("running")
    ws = recording_windows(pre.prepare(rec), get_task("3class"), 10.0, 10.0, keep_unlabelled=True)
    plan = pre.plan(
        {m: s.rate for m, s in rec.signals.items()},
        ws.rates,
        {m: s.n_channels for m, s in rec.signals.items()},
        10.0,
        10.0,
    )
    inputs = stream_inputs(plan, {m: s.data for m, s in rec.signals.items()}, Normalizer("running"))
    for m in MODALITIES:
        assert np.array_equal(ws.inputs[m], inputs[m])


def edge_error(
    signal: np.ndarray,
    rate: float,
    kind: str,
    fs: float,
    window: float = 10.0,
    context: float = DEFAULT_CONTEXT,
    windows: int = 12,
    lookahead: float = 0.0,
) -> np.ndarray:
    """Max |per-window - whole-recording| cleaned+resampled signal, in units of the signal's
    std, at each sample position of a window (over ``windows`` windows every 10 s), the window's
    segment starting ``context`` s before it and ending ``lookahead`` s after it."""
    whole = signal_resample(signal_clean(signal[:, None], rate, kind), rate, fs)[:, 0]
    n = int(round(window * fs))
    worst = np.zeros(n)
    for k in range(windows):
        t = 20.0 + 10.0 * k
        a = int(np.floor((t - context) * rate))
        b = int(np.ceil((t + window + lookahead) * rate)) + int(np.ceil(rate / fs)) + 1
        part = signal_resample(signal_clean(signal[a:b, None], rate, kind), rate, fs)[:, 0]
        first = int(round((t - a / rate) * fs))
        ref = whole[int(round(t * fs)) : int(round(t * fs)) + n]
        worst = np.maximum(worst, np.abs(part[first : first + n] - ref))
    return worst / whole.std()


@pytest.mark.parametrize(
    "modality, kind, fs",
    [("chest.ECG", "ecg", 256.0), ("wrist.BVP", "bvp", 64.0), ("wrist.EDA", "eda", 16.0)],
)
def test_per_window_cleaning_differs_from_whole_recording_cleaning_near_the_end(
    tiny_wesad, modality, kind, fs
):
    """With the default 5-s context, per-window cleaning matches whole-recording cleaning over
    a window's first seconds, but not over its last seconds: the zero-phase filters' backward
    pass starts at the window's end (figures in :mod:`xmodal.signals.preprocessor`). A lookahead
    of 5 s past the window would bring the whole window within ~1 % of the signal's std."""
    path = find_subjects("wesad", tiny_wesad, ("S2",))["S2"]
    sig = load_recording("wesad", path, (modality,), "S2", root=tiny_wesad).signals[modality]
    x = sig.data[:, 0].astype(np.float64)
    err = edge_error(x, sig.rate, kind, fs)
    assert err[: int(4 * fs)].max() < 2e-2  # the window's first 4 s
    assert err[-int(fs) :].max() > 0.1  # its last second
    assert edge_error(x, sig.rate, kind, fs, lookahead=5.0).max() < 3e-2


def test_normalize_setting_is_checked_and_old_runs_read_as_recording(tmp_path):
    from xmodal.config import RunConfig, load_run_config
    from xmodal.errors import ConfigError

    with pytest.raises(ConfigError, match="normalize.*valid: recording, calibration, running"):
        RunConfig().updated({"data": {"normalize": "zscore"}}, source="command line")
    with pytest.raises(ConfigError, match="calibration-minutes"):
        RunConfig().updated({"data": {"calibration_minutes": 0}}, source="command line")
    old = RunConfig().to_dict()
    del old["data"]["normalize"]
    import tomli_w

    (tmp_path / "config.toml").write_text(tomli_w.dumps(old))
    assert load_run_config(tmp_path / "config.toml").data.normalize == "recording"
    with pytest.raises(ConfigError, match="unknown calibration label 'rest'"):
        Preprocessor.of(
            RunConfig()
            .updated({"data": {"normalize": "calibration", "calibration_label": "rest"}})
            .data
        )

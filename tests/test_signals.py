"""Preprocessing: filter responses, resampling, gap repair, windows, cache."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.data.datasets import get_task
from xmodal.data.recording import Recording, Signal
from xmodal.errors import DataError
from xmodal.signals.cache import cache_key, cached, load_preprocessed, save_preprocessed
from xmodal.signals.ecg import ecg_clean
from xmodal.signals.eda import eda_clean
from xmodal.signals.filters import signal_filter
from xmodal.signals.gaps import signal_fill_gaps
from xmodal.signals.preprocess import preprocess_recording, target_rate
from xmodal.signals.resample import signal_resample
from xmodal.signals.windows import WindowSet, label_windows, make_windows, window_starts


def _sine(freq, fs, seconds=20.0):
    t = np.arange(int(fs * seconds)) / fs
    return np.sin(2 * np.pi * freq * t)[:, None]


def _gain(filtered, original):
    core = slice(len(original) // 4, -len(original) // 4)
    return np.std(filtered[core]) / np.std(original[core])


@pytest.mark.parametrize("freq,passes", [(0.1, False), (5.0, True), (20.0, True), (100.0, False)])
def test_ecg_band_pass_response(freq, passes):
    x = _sine(freq, 700.0, 60.0)
    gain = _gain(ecg_clean(x, 700.0), x)
    assert (gain > 0.9) if passes else (gain < 0.1)


def test_ecg_filter_is_zero_phase():
    x = _sine(10.0, 700.0)
    y = ecg_clean(x, 700.0)
    lag = np.argmax(np.correlate(y[1000:3000, 0], x[1000:3000, 0], "full")) - 1999
    assert lag == 0


@pytest.mark.parametrize("freq,passes", [(0.2, True), (5.0, False)])
def test_eda_low_pass_response(freq, passes):
    x = _sine(freq, 700.0, 60.0)
    gain = _gain(eda_clean(x, 700.0), x)
    assert (gain > 0.9) if passes else (gain < 0.05)


def test_low_pass_skipped_near_nyquist():
    x = np.random.default_rng(0).normal(size=(400, 1))
    # 1.5 Hz on a 2 Hz signal is above 0.45*rate: returned unchanged
    np.testing.assert_allclose(eda_clean(x, 2.0), x.astype(np.float32))
    # still a valid low-pass at 4 Hz
    assert eda_clean(x, 4.0).shape == x.shape


def test_filter_short_signal_returns_input():
    x = np.ones((10, 1))
    assert signal_filter(x, 700.0, 0.5, 40.0).shape == (10, 1)


@pytest.mark.parametrize(
    "fs,target,n",
    [
        (700.0, 256.0, 7000),
        (700.0, 16.0, 7001),
        (4.0, 4.0, 40),
        (64.0, 32.0, 640),
        (31.0, 16.0, 310),
    ],
)
def test_resample_length_and_content(fs, target, n):
    t = np.arange(n) / fs
    x = np.sin(2 * np.pi * 0.5 * t)[:, None]
    y = signal_resample(x, fs, target)
    assert y.shape == (int(np.ceil(n * target / fs)), 1)
    ty = np.arange(len(y)) / target
    core = slice(len(y) // 5, -len(y) // 5)
    np.testing.assert_allclose(y[core, 0], np.sin(2 * np.pi * 0.5 * ty[core]), atol=0.02)


def test_target_rates_never_upsample_by_default():
    assert target_rate("chest.ECG", 700.0) == 256.0
    assert target_rate("wrist.EDA", 4.0) == 4.0
    assert target_rate("chest.EDA", 700.0) == 16.0
    assert target_rate("wrist.BVP", 64.0) == 64.0
    assert target_rate("wrist.EDA", 4.0, {"wrist.EDA": 8.0}) == 8.0


def test_gap_repair_and_rejection():
    x = np.arange(100, dtype=np.float32)[:, None].copy()
    x[10:13] = np.nan
    with pytest.warns(UserWarning, match="repaired 3"):
        y = signal_fill_gaps(x, 10.0, max_gap=0.5, where="f.pkl (subject S2): chest.ECG")
    np.testing.assert_allclose(y[:, 0], np.arange(100))
    x[20:40] = np.inf
    with pytest.raises(
        DataError, match=r"f.pkl \(subject S2\): chest.ECG: 2.00 s of NaN/inf at t=2.0 s"
    ):
        signal_fill_gaps(x, 10.0, max_gap=0.5, where="f.pkl (subject S2): chest.ECG")


def _recording(seconds=100, label_plan=((0, 20, 1), (20, 60, 2), (60, 100, 3))):
    rng = np.random.default_rng(1)
    labels = np.zeros(int(seconds * 700), dtype=np.int8)
    for a, b, code in label_plan:
        labels[int(a * 700) : int(b * 700)] = code
    return Recording(
        "S2",
        {
            "chest.ECG": Signal(rng.normal(size=(seconds * 700, 1)).astype(np.float32), 700.0),
            "wrist.EDA": Signal(rng.normal(size=(seconds * 4, 1)).astype(np.float32), 4.0),
            "wrist.ACC": Signal(rng.normal(size=(seconds * 32, 3)).astype(np.float32), 32.0),
        },
        labels,
        700.0,
    )


def test_preprocess_rates_shapes_and_zscore():
    pre = preprocess_recording(_recording())
    assert pre.rates == {"chest.ECG": 256.0, "wrist.EDA": 4.0, "wrist.ACC": 32.0}
    assert pre.signals["chest.ECG"].shape == (1, 25600)
    assert pre.signals["wrist.ACC"].shape == (3, 3200)
    for x in pre.signals.values():
        np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-4)
        np.testing.assert_allclose(x.std(axis=1), 1, atol=1e-3)


def test_preprocess_rejects_flat_signal():
    rec = _recording()
    rec.signals["wrist.EDA"].data[:] = 3.0
    with pytest.raises(DataError, match="wrist.EDA: flat signal"):
        preprocess_recording(rec)


def test_windows_are_pure_and_aligned():
    pre = preprocess_recording(_recording(label_plan=((0, 15, 1), (15, 60, 2), (62, 100, 3))))
    ws = make_windows(pre, get_task("3class"), window=10.0, stride=5.0)
    # 0-15 baseline: windows 0, 5; 15-60 stress: 15..50; gap 60-62 label 0; 62-100 amusement: 65..90
    np.testing.assert_array_equal(
        ws.t_start, [0, 5, 15, 20, 25, 30, 35, 40, 45, 50, 65, 70, 75, 80, 85, 90]
    )
    np.testing.assert_array_equal(ws.labels, [0, 0] + [1] * 8 + [2] * 6)
    assert ws.input_shapes == {"chest.ECG": (1, 2560), "wrist.EDA": (1, 40), "wrist.ACC": (3, 320)}
    # window content is the signal at the window's time
    i = 3
    np.testing.assert_array_equal(
        ws.inputs["chest.ECG"][i, 0], pre.signals["chest.ECG"][0, 5120:7680]
    )


def test_binary_task_merges_baseline_and_amusement():
    labels = np.repeat(np.array([1, 3, 2, 4], dtype=np.int8), 7000)
    out = label_windows(labels, 700.0, window_starts(40, 10, 10), 10.0, get_task("binary"))
    np.testing.assert_array_equal(out, [0, 0, 1, -1])


def test_rows_of_finds_each_window_by_subject_and_start():
    def windows(subjects, starts):
        n = len(starts)
        return WindowSet(
            {"x.EDA": np.zeros((n, 1, 4), dtype=np.float32)},
            np.array(subjects),
            np.full(n, -1),
            np.array(starts, dtype=float),
            {"x.EDA": 4.0},
            ("a", "b"),
        )

    recording = windows(["S1", "S1", "S2", "S2"], [0.0, 10.0, 0.0, 10.0])
    labelled = windows(["S2", "S1"], [10.0, 10.0])
    assert recording.rows_of(labelled).tolist() == [3, 1]
    assert recording.rows_of(windows(["S3"], [0.0])) is None  # not among them


def test_window_spanning_two_classes_of_binary_task_is_kept_only_if_same_class():
    labels = np.repeat(np.array([1, 3], dtype=np.int8), 3500)  # baseline then amusement: both 0
    out = label_windows(labels, 700.0, np.array([0.0]), 10.0, get_task("binary"))
    assert out.tolist() == [0]
    out = label_windows(labels, 700.0, np.array([0.0]), 10.0, get_task("3class"))
    assert out.tolist() == [-1]


def test_cache_roundtrip_and_key(tmp_path):
    source = tmp_path / "S2.pkl"
    source.write_bytes(b"x")
    pre = preprocess_recording(_recording(seconds=30))
    calls = []

    def compute():
        calls.append(1)
        return pre

    a, hit_a = cached(source, {"m": 1}, tmp_path / "cache", compute)
    b, hit_b = cached(source, {"m": 1}, tmp_path / "cache", compute)
    c, hit_c = cached(source, {"m": 2}, tmp_path / "cache", compute)
    assert (hit_a, hit_b, hit_c) == (False, True, False) and len(calls) == 2
    np.testing.assert_array_equal(b.signals["wrist.ACC"], pre.signals["wrist.ACC"])
    np.testing.assert_array_equal(b.labels, pre.labels)
    assert b.rates == pre.rates
    # a damaged entry is recomputed, not trusted
    entry = tmp_path / "cache" / f"S2-{cache_key(source, {'m': 1})}.npz"
    entry.write_bytes(b"garbage")
    _, hit = cached(source, {"m": 1}, tmp_path / "cache", compute)
    assert not hit and len(calls) == 3
    save_preprocessed(tmp_path / "x.npz", pre)
    assert load_preprocessed(tmp_path / "x.npz").subject == "S2"


def test_prepare_subjects_in_worker_processes_equals_one_process(tiny_wesad, tmp_path):
    import shutil

    from xmodal.config import DataConfig
    from xmodal.signals.pipeline import prepare_subjects

    serial = prepare_subjects(DataConfig(path=str(tiny_wesad), use_cache=False))
    seen = []
    config = DataConfig(path=str(tiny_wesad), cache_dir=str(tmp_path / "cache"))
    parallel = prepare_subjects(config, on_subject=lambda s, hit: seen.append((s, hit)), jobs=2)
    assert list(parallel) == list(serial)  # subject order kept
    assert sorted(seen) == sorted((s, False) for s in serial)
    for subject, rec in serial.items():
        for m, x in rec.signals.items():
            np.testing.assert_array_equal(parallel[subject].signals[m], x)
        np.testing.assert_array_equal(parallel[subject].labels, rec.labels)
    # the workers filled the cache: a second call reads it here
    seen.clear()
    prepare_subjects(config, on_subject=lambda s, hit: seen.append(hit), jobs=2)
    assert seen == [True] * len(serial)
    # an error in a worker reaches the caller as the same one-line DataError
    broken = tmp_path / "broken"
    shutil.copytree(tiny_wesad, broken)
    (broken / "S3" / "S3.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="S3.pkl"):
        prepare_subjects(DataConfig(path=str(broken), use_cache=False), jobs=2)


def test_cache_key_holds_every_preprocessing_default_and_the_version(tmp_path, monkeypatch):
    import xmodal.signals.pipeline as pipeline
    from xmodal.config import DataConfig
    from xmodal.signals import preprocess
    from xmodal.signals.cache import entry_path

    source = tmp_path / "S2.pkl"
    source.write_bytes(b"x")
    config = DataConfig(path=str(tmp_path))

    def entry():
        return entry_path(source, pipeline.preprocess_params(config), tmp_path)

    before = entry()
    assert entry() == before
    for patch in (
        lambda: monkeypatch.setitem(preprocess.TARGET_RATES, "eda", 8.0),
        lambda: monkeypatch.setitem(preprocess.BANDS, "bvp", (0.7, 8.0)),
        lambda: monkeypatch.setattr(preprocess, "ECG_BAND", (0.67, 40.0)),
        lambda: monkeypatch.setattr(preprocess, "EDA_HIGHCUT", 1.0),
        lambda: monkeypatch.setattr(pipeline, "__version__", "9.9.9"),
    ):
        patch()
        assert entry() != before
        monkeypatch.undo()
        assert entry() == before

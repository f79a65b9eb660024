"""The features of a run's windows, computed once (xmodal.training.window_features): the same
numbers as extracting them directly, rows read from another set and from the cache folder."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.models.features import FEATURES_EXTRA, extract_features
from xmodal.signals.windows import WindowSet, context_windows
from xmodal.training import window_features
from xmodal.training.window_features import attach_features, features_key

RATES = {"wrist.EDA": 4.0, "wrist.BVP": 32.0}


def _windows(subjects=("S1", "S2", "S3"), n=5, stride=10.0, seed=0) -> WindowSet:
    """``n`` 10-s windows per subject every ``stride`` s, each with its 30-s context: a pulse
    and a skin conductance with a few responses, different per subject and window."""
    rng = np.random.default_rng(seed)
    inputs, contexts = {}, {}
    for m, fs in RATES.items():
        t = np.arange(int(30 * fs)) / fs
        rows = []
        for s in range(len(subjects)):
            for w in range(n):
                if m == "wrist.BVP":
                    x = np.sin(2 * np.pi * (1.0 + 0.1 * s + 0.02 * w) * t)
                else:
                    x = np.cumsum(rng.normal(size=len(t))) * 0.05
                    x += (t[:, None] > rng.uniform(2, 28, 3)).sum(1) * 0.3
                rows.append(x + 0.05 * rng.normal(size=len(t)))
        context = np.asarray(rows, dtype=np.float32)[:, None, :]
        contexts[f"context:{m}"] = context
        inputs[m] = np.ascontiguousarray(context[:, :, -int(10 * fs) :])
    return WindowSet(
        inputs,
        np.repeat(list(subjects), n),
        np.tile(np.arange(n) % 2, len(subjects)),
        np.tile(np.arange(n) * stride, len(subjects)),
        dict(RATES),
        ("a", "b"),
        10.0,
        contexts,
    )


def _direct(windows: WindowSet) -> np.ndarray:
    return extract_features(context_windows(windows))[0]


def test_attached_features_equal_the_direct_extraction_and_are_read_back(tmp_path, monkeypatch):
    windows = _windows()
    expected = _direct(windows)
    assert np.isfinite(expected).mean() > 0.8
    attach_features(windows, cache_dir=tmp_path)
    np.testing.assert_array_equal(windows.extras[FEATURES_EXTRA], expected)
    assert len(list((tmp_path / "features").glob("S*-*.npy"))) == 3  # one file per subject

    # the same signal again: every row read from the cache folder, nothing computed
    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(window_features, "extract_features", refuse)
    again = attach_features(_windows(), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.extras[FEATURES_EXTRA], expected)


def test_a_changed_signal_or_a_damaged_file_is_computed_again(tmp_path):
    attach_features(_windows(), cache_dir=tmp_path)
    changed = _windows()
    changed.extras["context:wrist.EDA"][0, 0, 5] += 1.0
    assert features_key(changed.subset(np.arange(5))) != features_key(
        _windows().subset(np.arange(5))
    )
    for path in (tmp_path / "features").glob("S2-*.npy"):
        path.write_bytes(b"not an array")
    expected = _direct(changed)
    attach_features(changed, cache_dir=tmp_path)
    np.testing.assert_array_equal(changed.extras[FEATURES_EXTRA], expected)
    assert len(list((tmp_path / "features").glob("S1-*.npy"))) == 2  # the old and the changed


def test_rows_are_read_from_a_set_of_the_same_run_and_only_the_others_computed(monkeypatch):
    known = attach_features(_windows(stride=10.0))  # starts 0, 10, ..., 40 s
    denser = _windows(n=5, stride=5.0)  # starts 0, 5, ..., 20 s: 0, 10, 20 are known
    # the same start is the same signal when both are cut from one recording
    for i, t in enumerate(denser.t_start):
        if t % 10 == 0:
            j = np.flatnonzero((known.subjects == denser.subjects[i]) & (known.t_start == t))[0]
            for arrays, source in ((denser.extras, known.extras), (denser.inputs, known.inputs)):
                for key in arrays:
                    arrays[key][i] = source[key][j]
    # ... but not always (running normalisation): a window whose signal differs is computed
    denser.inputs["wrist.EDA"][10, 0, 3] += 1.0  # S3's window at 0 s
    computed = []
    original = window_features._compute
    monkeypatch.setattr(
        window_features, "_compute", lambda part: computed.append(len(part)) or original(part)
    )
    attach_features(denser, reuse=known)
    assert computed == [2, 2, 3]  # starts 5 and 15 of each subject, and S3's at 0 s
    np.testing.assert_array_equal(denser.extras[FEATURES_EXTRA], _direct(denser))


@pytest.mark.slow
def test_subjects_computed_in_worker_processes_give_the_same_numbers():
    windows = attach_features(_windows(), jobs=2)
    np.testing.assert_array_equal(windows.extras[FEATURES_EXTRA], _direct(_windows()))


def test_a_full_cache_folder_is_not_an_error(tmp_path, monkeypatch):
    def full(path, write):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(window_features, "atomic_write_stream", full)
    windows = attach_features(_windows(), cache_dir=tmp_path)
    np.testing.assert_array_equal(windows.extras[FEATURES_EXTRA], _direct(_windows()))
    assert not list(tmp_path.rglob("*.npy"))

"""Property-based fuzzing (hypothesis) of the restricted unpickler and the CSV reader: whatever
the bytes, the result is numpy arrays and builtin containers, or a one-line xmodal error."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_csv_dataset import SPEC  # the same two-signal, two-class dataset.toml

from xmodal.data.csv_dataset import load_csv_subject, load_spec
from xmodal.data.safe_pickle import load_pickle
from xmodal.errors import XmodalError

SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
SAFE_TYPES = (
    dict,
    list,
    tuple,
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    type(None),
    np.ndarray,
    np.generic,
)


def _only_safe(obj, depth: int = 0) -> bool:
    if depth > 50:
        return True
    if isinstance(obj, dict):
        return all(_only_safe(k, depth + 1) and _only_safe(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_only_safe(v, depth + 1) for v in obj)
    if isinstance(obj, np.ndarray):
        return obj.dtype != object
    return isinstance(obj, SAFE_TYPES)


def _load_bytes(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "S2.pkl"
        path.write_bytes(data)
        try:
            return True, load_pickle(path)
        except XmodalError as exc:
            text = str(exc)
            assert "\n" not in text and str(path) in text, text
            return False, None


def _valid_pickle(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    data = {
        "signal": {"chest": {"ECG": rng.normal(size=(50, 1))}},
        "label": np.arange(50),
        "subject": "S2",
    }
    return pickle.dumps(data, protocol=int(rng.integers(2, 6)))


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_give_safe_objects_or_one_line_errors(data):
    ok, obj = _load_bytes(data)
    assert not ok or _only_safe(obj)


@SETTINGS
@given(
    seed=st.integers(0, 10),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
)
def test_truncated_and_mutated_pickles(seed, cut, flips):
    data = bytearray(_valid_pickle(seed))
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    data = bytes(data[: max(1, int(cut * len(data)))])
    ok, obj = _load_bytes(data)
    assert not ok or _only_safe(obj)


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_code_in_a_pickle_never_runs(protocol, tmp_path):
    path = tmp_path / "S2.pkl"
    path.write_bytes(pickle.dumps({"label": _Payload()}, protocol=protocol))
    with pytest.raises(XmodalError, match="unsafe pickle"):
        load_pickle(path)


CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**12), 10**12),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
    st.just(""),
)


WELL_FORMED = st.lists(
    st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.sampled_from(["calm", "stress", ""])),
    min_size=0,
    max_size=40,
)


@SETTINGS
@given(rows=WELL_FORMED)
def test_csv_reader_on_well_formed_files(rows):
    """Numeric signals with labels: a recording of float32 samples, or a one-line error
    (too short, flat, ...)."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "dataset.toml").write_text(SPEC)
        path = folder / "S2.csv"
        path.write_text("ECG,EDA,label\n" + "".join(f"{a!r},{b!r},{c}\n" for a, b, c in rows))
        try:
            rec = load_csv_subject(path, [], spec=load_spec(path))
        except XmodalError as exc:
            assert "\n" not in str(exc), str(exc)
            return
        assert set(rec.signals) == {"ecg", "eda"}
        for signal in rec.signals.values():
            assert signal.data.dtype == np.float32 and len(signal.data) == len(rows)


@SETTINGS
@given(
    header=st.lists(st.sampled_from(["ECG", "EDA", "label", "x", ""]), min_size=0, max_size=4),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=4), max_size=30),
)
def test_csv_reader_gives_a_recording_or_one_line_error(header, rows):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "dataset.toml").write_text(SPEC)
        lines = [",".join(header)] + [
            ",".join(str(c).replace(",", ";").replace("\n", " ") for c in row) for row in rows
        ]
        path = folder / "S2.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            rec = load_csv_subject(path, [], spec=load_spec(path))
        except XmodalError as exc:
            assert "\n" not in str(exc), str(exc)
            return
        for signal in rec.signals.values():
            assert signal.data.dtype.kind == "f"


@SETTINGS
@given(st.binary(max_size=300))
def test_csv_reader_on_random_bytes(data):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "dataset.toml").write_text(SPEC)
        path = folder / "S2.csv"
        path.write_bytes(data)
        try:
            load_csv_subject(path, [], spec=load_spec(path))
        except XmodalError as exc:
            assert "\n" not in str(exc), str(exc)

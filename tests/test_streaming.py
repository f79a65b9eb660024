"""Streaming prediction equals offline prediction; buffers stay bounded."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal import Predictor, StreamingPredictor
from xmodal.errors import ConfigError, DataError

RATES = {"chest.ECG": 100.0, "chest.EDA": 100.0}


@pytest.fixture(scope="module")
def predictor(chest_run):
    return Predictor.from_run(chest_run)


@pytest.fixture(scope="module")
def recording(shared_data):
    path = shared_data / "neurokit_recordings" / "bio_resting_8min_100hz.csv"
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 2), max_rows=12_000)
    return {"chest.ECG": data[:, 0], "chest.EDA": data[:, 1]}


def _stream(stream: StreamingPredictor, signals: dict, seed: int, max_chunk: int):
    """Push random-size chunks in a random interleaving; return all emitted rows."""
    rng = np.random.default_rng(seed)
    pos = {m: 0 for m in signals}
    tables = []
    while any(pos[m] < len(x) for m, x in signals.items()):
        m = rng.choice([m for m in signals if pos[m] < len(signals[m])])
        size = int(rng.integers(1, max_chunk))
        tables.append(stream.push(m, signals[m][pos[m] : pos[m] + size]))
        pos[m] += size
    from xmodal.inference import PredictionTable

    return PredictionTable.concat([t for t in tables if len(t)], stream.classes)


@pytest.mark.parametrize(
    "policy, hop, seed, max_chunk",
    [("running", 10.0, 0, 3000), ("running", 4.0, 1, 50), ("window", 7.5, 2, 20_000)],
)
def test_stream_equals_offline(predictor, recording, policy, hop, seed, max_chunk):
    offline = predictor.predict(recording, RATES, hop=hop, normalization=policy)
    streamed = _stream(
        predictor.stream(RATES, hop=hop, normalization=policy), recording, seed, max_chunk
    )
    assert len(streamed) == len(offline) > 5
    assert np.array_equal(streamed.t_start, offline.t_start)
    assert np.abs(streamed.proba - offline.proba).max() < 1e-6
    assert list(streamed.predicted) == list(offline.predicted)


def test_fixed_statistics_from_calibration(predictor, recording):
    calib = {m: x[:6000] for m, x in recording.items()}
    stats = predictor.calibrate(calib, RATES)
    offline = predictor.predict(recording, RATES, normalization="fixed", stats=stats)
    stream = predictor.stream(RATES, normalization="fixed", stats=stats)
    streamed = stream.push_many(recording)  # whole arrays at once, consumed hop by hop
    assert np.abs(streamed.proba - offline.proba).max() < 1e-6
    # 'fixed' with the recording's own statistics is the recording mode on the per-window path:
    # the same statistics, windows cleaned one by one (they differ near each window's end)
    own = predictor.predict(
        recording, RATES, normalization="fixed", stats=predictor.calibrate(recording, RATES)
    )
    whole = predictor.predict(recording, RATES, normalization="recording")
    assert len(whole) >= len(own)
    assert np.abs(own.proba - whole.proba[: len(own)]).max() < 0.05


def test_memory_bounded_by_the_window(predictor, recording):
    stream = predictor.stream(RATES, hop=2.0)
    sizes, n = [], 0
    for _ in range(3):  # 6 min of signal, pushed in step
        for i in range(0, 12_000, 250):
            for m, x in recording.items():
                n += len(stream.push(m, x[i : i + 250]))
        sizes.append(stream.nbytes)
    assert sizes[0] == sizes[-1] < 40_000  # no growth after the first window
    assert n > 100
    span = max(stream._length.values()) / 100.0
    assert span <= stream.plan.context + stream.plan.window + stream.plan.hop + 1


def test_stream_errors(predictor, recording):
    with pytest.raises(ConfigError, match="whole recording"):
        predictor.stream(RATES, normalization="recording")
    with pytest.raises(DataError, match="no sampling rate"):
        predictor.stream({"chest.ECG": 100})
    stream = predictor.stream(RATES)
    with pytest.raises(DataError, match="unknown modality"):
        stream.push("wrist.BVP", np.zeros(10))
    with pytest.raises(DataError, match=r"shape \(n, 1\)"):
        stream.push("chest.ECG", np.zeros((10, 3)))
    bad = recording["chest.ECG"][:3000].copy()
    bad[500:800] = np.nan  # 3 s of NaN > max_gap
    stream.push("chest.EDA", recording["chest.EDA"][:3000])
    with pytest.raises(DataError, match="NaN"):
        stream.push("chest.ECG", bad)

"""The experts' probabilities averaged over time before their mutual information weighs them
(``--experts-smoothing``, xmodal.training.features_blend.mixture_weights)."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.config import EXPERTS_SMOOTHING, ModelConfig, RunConfig
from xmodal.errors import ConfigError
from xmodal.models.features import features_of
from xmodal.signals.windows import WindowSet
from xmodal.training.features_blend import (
    BLEND_FILE,
    FeaturesBlend,
    mixture_weights,
    smoothed_over_time,
)


def test_each_window_is_averaged_with_its_neighbours_within_half_the_span():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=30)
    t = np.arange(30) * 10.0
    out = smoothed_over_time(proba, t, 60.0)  # windows within 30 s: up to 7 of them
    for i in range(30):
        near = np.abs(t - t[i]) <= 30.0
        np.testing.assert_allclose(out[i], proba[near].mean(0), atol=1e-12)
    np.testing.assert_allclose(out.sum(1), 1.0)
    # the windows' order does not matter; no span, or one window: unchanged
    order = rng.permutation(30)
    np.testing.assert_allclose(smoothed_over_time(proba[order], t[order], 60.0), out[order])
    assert smoothed_over_time(proba, t, 0.0) is proba
    one = proba[:1]
    assert smoothed_over_time(one, t[:1], 60.0) is one


def test_a_sensor_that_flips_window_by_window_loses_its_weight_to_one_that_follows_states():
    n = 60
    t = np.arange(n) * 10.0
    states = np.repeat([0, 1], n // 2)  # two states of five minutes
    follows = np.eye(2)[states] * 0.4 + 0.3  # unsure, but follows the state
    flips = np.eye(2)[np.arange(n) % 2] * 0.9 + 0.05  # sure, and changes every window
    window_by_window = mixture_weights([follows, flips])
    over_a_minute = mixture_weights([follows, flips], t, 60.0)
    assert window_by_window[1] > 0.8  # the flipping sensor looks most informative ...
    assert over_a_minute[0] > 0.8  # ... until its changes are averaged over a minute
    # no times or no span: window by window
    np.testing.assert_allclose(mixture_weights([follows, flips], None, 60.0), window_by_window)
    np.testing.assert_allclose(mixture_weights([follows, flips], t, 0.0), window_by_window)


def _windows(subjects, n=60, seed=0) -> WindowSet:
    """x.BVP follows the label; x.EDA is noise around a level that differs between people."""
    rng = np.random.default_rng(seed)
    k = n * len(subjects)
    labels = np.tile(np.repeat([0, 1], n // 2), len(subjects))
    bvp = rng.normal(size=(k, 1, 40)) + 1.0 * labels[:, None, None]
    eda = rng.normal(size=(k, 1, 40)) * 3.0
    return WindowSet(
        {"x.EDA": eda.astype(np.float32), "x.BVP": bvp.astype(np.float32)},
        np.repeat(subjects, n),
        labels,
        np.tile(np.arange(n) * 10.0, len(subjects)),
        {"x.EDA": 4.0, "x.BVP": 4.0},
        ("a", "b"),
    )


@pytest.mark.parametrize("refit", [False, True])
def test_a_smoothing_blend_reads_no_label_predicts_rows_alike_and_saves_its_span(refit, tmp_path):
    train = _windows(["S1", "S2", "S3"])
    blend = FeaturesBlend("experts-mi", "lda", refit=refit, smoothing=60.0)
    blend.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    test = _windows(["S9"], seed=1)
    network = np.full((len(test), 2), 0.5)
    proba = blend.blend(test, network)
    plain = FeaturesBlend("experts-mi", "lda", refit=refit)
    plain.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    plain.blend(test, network)
    assert blend.person_weights["S9"] != plain.person_weights["S9"]  # the span is used
    # instrumented: without labels the same probabilities
    unlabelled = _windows(["S9"], seed=1)
    unlabelled.labels[:] = -1
    np.testing.assert_array_equal(blend.blend(unlabelled, network), proba)
    # from feature rows with their start times (xmodal predict): the same
    rows = features_of(test)[0]
    np.testing.assert_allclose(blend.blend_rows(rows, network, test.t_start), proba, atol=1e-12)
    # saved and loaded with its span; a blend saved before the setting existed: window by window
    blend.save(tmp_path)
    loaded = FeaturesBlend.load(tmp_path)
    assert loaded.smoothing == 60.0
    np.testing.assert_allclose(loaded.blend(test, network), proba, atol=1e-12)
    import json

    record = json.loads((tmp_path / BLEND_FILE).read_text())
    del record["experts_smoothing"]
    (tmp_path / BLEND_FILE).write_text(json.dumps(record))
    assert FeaturesBlend.load(tmp_path).smoothing == 0.0


def test_a_minute_is_the_default_and_a_negative_span_is_refused():
    assert ModelConfig().experts_smoothing == EXPERTS_SMOOTHING == 60.0
    with pytest.raises(ConfigError, match="experts_smoothing"):
        RunConfig.from_dict({"model": {"experts_smoothing": -1.0}}, source="test")

"""Each person's trend over the session removed from the blend's features
(xmodal.training.person_trend, ``--features-detrend``)."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.config import ModelConfig
from xmodal.errors import ConfigError
from xmodal.models.registry import features_detrend_of
from xmodal.signals.windows import WindowSet
from xmodal.training.features_blend import FeaturesBlend
from xmodal.training.person_trend import DETREND_MARGIN, PersonTrend, detrend_gain


def test_the_trend_is_removed_and_the_mean_and_faster_changes_kept():
    t = np.arange(120) * 10.0
    fast = np.sign(np.sin(t / 40.0))  # blocks of a few minutes
    rows = np.column_stack([3.0 + 0.01 * t + fast, 2.0 - 0.002 * t, fast])
    rows[5, 1] = np.nan
    trend = PersonTrend.fit(rows, t)
    flat = trend.remove(rows, t)
    np.testing.assert_allclose(flat[:, [0, 2]].mean(0), rows[:, [0, 2]].mean(0), atol=1e-9)
    assert abs(np.corrcoef(flat[:, 0], t)[0, 1]) < 0.05
    assert np.nanstd(flat[:, 1]) < 1e-9 and np.isnan(flat[5, 1])  # a pure trend, NaN kept
    # a column without a trend barely moves; the slopes do not depend on the time's origin/unit
    assert np.corrcoef(flat[:, 2], fast)[0, 1] > 0.99
    shifted = PersonTrend.fit(rows, t / 60.0 + 7.0).remove(rows, t / 60.0 + 7.0)
    np.testing.assert_allclose(shifted, flat, atol=1e-9)
    # too few finite values: no slope
    sparse = np.full((10, 1), np.nan)
    sparse[:2, 0] = [1.0, 2.0]
    assert PersonTrend.fit(sparse, np.arange(10.0)).slopes[0] == 0.0


def test_auto_removes_the_trends_only_for_a_clear_gain():
    assert detrend_gain(np.array([0.10, 0.12, 0.08, 0.11]))["detrend"]
    assert not detrend_gain(np.array([0.10, -0.12, 0.08, -0.05]))["detrend"]
    assert not detrend_gain(np.array([-0.02, -0.03, -0.01]))["detrend"]
    assert not detrend_gain(np.array([0.2]))["detrend"]  # one person says nothing
    gains = np.array([0.05, 0.01, 0.03])
    se = gains.std(ddof=1) / np.sqrt(3)
    assert detrend_gain(gains)["detrend"] == (gains.mean() > DETREND_MARGIN * se)


def _drifting(subjects, n=60, seed=0) -> WindowSet:
    """Two sensors: x.BVP follows the label in every person; x.EDA carries no label but, in
    the last person, a drift over the session that lines up with the label's order."""
    rng = np.random.default_rng(seed)
    k = n * len(subjects)
    labels = np.tile(np.repeat([0, 1], n // 2), len(subjects))
    t = np.tile(np.arange(n) * 10.0, len(subjects))
    bvp = rng.normal(size=(k, 1, 40)) + 1.5 * labels[:, None, None]
    eda = rng.normal(size=(k, 1, 40))
    eda[-n:] += (t[-n:] / t[-n:].max() * 6.0)[:, None, None]
    eda[:-n] += 3.0 * labels[:-n, None, None]  # ... and responds in the others
    return WindowSet(
        {"x.EDA": eda.astype(np.float32), "x.BVP": bvp.astype(np.float32)},
        np.repeat(subjects, n),
        labels,
        t,
        {"x.EDA": 4.0, "x.BVP": 4.0},
        ("a", "b"),
    )


@pytest.mark.parametrize("detrend", ["none", "person", "auto"])
def test_a_blend_without_trends_reads_no_label_and_predicts_rows_alike(detrend):
    train = _drifting(["S1", "S2", "S3", "S4"])
    blend = FeaturesBlend("experts-mi", "lda", refit=True, detrend=detrend)
    record = blend.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    assert blend.detrends == (detrend == "person") or "detrend" in record
    test = _drifting(["S1", "S9"], seed=1).of_subjects(["S9"])
    network = np.full((len(test), 2), 0.5)
    proba = blend.blend(test, network)
    # instrumented: the same windows without labels give the same probabilities
    unlabelled = _drifting(["S1", "S9"], seed=1).of_subjects(["S9"])
    unlabelled.labels[:] = -1
    np.testing.assert_array_equal(blend.blend(unlabelled, network), proba)
    # from feature rows and start times (xmodal predict), the same; deterministic
    from xmodal.models.features import features_of

    rows = features_of(test)[0]
    np.testing.assert_allclose(blend.blend_rows(rows, network, test.t_start), proba, atol=1e-12)
    np.testing.assert_allclose(blend.blend_rows(rows, network), proba, atol=1e-12)  # even steps
    if detrend == "person":  # the drift that imitated the label is gone: EDA weighs less
        plain = FeaturesBlend("experts-mi", "lda")
        plain.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
        plain.blend(test, network)
        assert blend.person_weights["S9"]["x.EDA"] < plain.person_weights["S9"]["x.EDA"]


def test_a_blend_saves_and_loads_its_decision(tmp_path):
    train = _drifting(["S1", "S2", "S3"])
    blend = FeaturesBlend("experts-mi", "lda", detrend="person")
    blend.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    blend.save(tmp_path)
    loaded = FeaturesBlend.load(tmp_path)
    assert loaded.detrend == "person" and loaded.detrends
    test = _drifting(["S9"], seed=2)
    network = np.full((len(test), 2), 0.5)
    np.testing.assert_allclose(loaded.blend(test, network), blend.blend(test, network), atol=1e-12)


def test_auto_is_the_default_of_the_experts_mi_blend_and_person_is_refused_without_it():
    assert features_detrend_of(ModelConfig(name="late-fusion")) == "auto"
    assert features_detrend_of(ModelConfig(name="single")) == "none"
    gate = ModelConfig(name="late-fusion", features_blend="experts-gate")
    assert features_detrend_of(gate) == "none"
    with pytest.raises(ConfigError, match="experts-mi"):
        features_detrend_of(
            ModelConfig(
                name="late-fusion", features_blend="experts-gate", features_detrend="person"
            )
        )
    with pytest.raises(ConfigError, match="experts-mi"):
        features_detrend_of(ModelConfig(name="single", features_detrend="person"))
    with pytest.raises(ValueError, match="experts-mi"):
        FeaturesBlend("equal", "lda", detrend="person")

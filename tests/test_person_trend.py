"""Each person's trend over the session removed from the blend's features
(xmodal.training.person_trend, ``--features-detrend``)."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.config import ModelConfig
from xmodal.errors import ConfigError
from xmodal.models.features import features_of
from xmodal.models.registry import features_detrend_of
from xmodal.signals.windows import WindowSet
from xmodal.training.features_blend import FeaturesBlend
from xmodal.training.person_trend import (
    DETREND_MARGIN,
    SOFT_BAND,
    PersonTrend,
    detrend_gain,
    detrend_share,
)


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


def test_soft_shares_rise_with_the_evidence_and_agree_with_auto_outside_the_band():
    low, high = SOFT_BAND
    assert low < DETREND_MARGIN < high
    shares = [detrend_share(t * 0.01, 0.01) for t in np.linspace(-2, 6, 81)]
    assert np.all(np.diff(shares) >= 0) and shares[0] == 0.0 and shares[-1] == 1.0
    assert detrend_share(low * 0.01, 0.01) == 0.0 and detrend_share(high * 0.01, 0.01) == 1.0
    assert detrend_share(DETREND_MARGIN * 0.01, 0.01) == pytest.approx(0.5)
    assert detrend_share(0.1, float("nan")) == 0.0 and detrend_share(-0.1, 0.0) == 0.0
    for gains in ([0.10, 0.12, 0.08, 0.11], [0.10, -0.12, 0.08, -0.05], [-0.02, -0.03, -0.01]):
        decision = detrend_gain(np.array(gains))
        share = detrend_share(decision["gain"], decision["standard_error"])
        if share in (0.0, 1.0):  # outside the band soft decides as auto does
            assert share == float(decision["detrend"])


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


@pytest.mark.parametrize("detrend", ["none", "person", "auto", "soft"])
def test_a_blend_without_trends_reads_no_label_and_predicts_rows_alike(detrend):
    train = _drifting(["S1", "S2", "S3", "S4"])
    blend = FeaturesBlend("experts-mi", "lda", refit=True, detrend=detrend)
    record = blend.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    assert blend.detrend_share == float(detrend == "person") or "detrend" in record
    test = _drifting(["S1", "S9"], seed=1).of_subjects(["S9"])
    network = np.full((len(test), 2), 0.5)
    proba = blend.blend(test, network)
    # instrumented: the same windows without labels give the same probabilities
    unlabelled = _drifting(["S1", "S9"], seed=1).of_subjects(["S9"])
    unlabelled.labels[:] = -1
    np.testing.assert_array_equal(blend.blend(unlabelled, network), proba)
    # from feature rows and start times (xmodal predict), the same; deterministic
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
    assert loaded.detrend == "person" and loaded.detrend_share == 1.0
    test = _drifting(["S9"], seed=2)
    network = np.full((len(test), 2), 0.5)
    np.testing.assert_allclose(loaded.blend(test, network), blend.blend(test, network), atol=1e-12)


def test_soft_between_0_and_1_mixes_the_blends_with_and_without_trends(tmp_path):
    train = _drifting(["S1", "S2", "S3", "S4"])

    def fit(blend):
        return blend.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)

    soft = FeaturesBlend("experts-mi", "lda", refit=True, detrend="soft")
    record = fit(soft)
    assert record["detrend"]["share"] == soft.detrend_share
    with_trends = FeaturesBlend("experts-mi", "lda", refit=True)
    without = FeaturesBlend("experts-mi", "lda", refit=True, detrend="person")
    fit(with_trends), fit(without)
    # a fold inside the band (set here, the data's evidence being the data's): both experts
    soft.detrend_share = 0.3
    soft._experts, soft._raw_experts = without._experts, with_trends._experts
    test = _drifting(["S9"], seed=2)
    network = np.full((len(test), 2), 0.5)
    mixed = 0.3 * without.blend(test, network) + 0.7 * with_trends.blend(test, network)
    np.testing.assert_allclose(soft.blend(test, network), mixed, atol=1e-12)
    weights = {
        m: 0.3 * without.person_weights["S9"][m] + 0.7 * with_trends.person_weights["S9"][m]
        for m in without.person_weights["S9"]
    }
    assert soft.person_weights["S9"] == pytest.approx(weights, abs=2e-4)
    # saved with both sets of experts, loaded, the same probabilities
    soft.save(tmp_path)
    loaded = FeaturesBlend.load(tmp_path)
    assert loaded.detrend_share == 0.3 and len(loaded._raw_experts) == 2
    np.testing.assert_allclose(loaded.blend(test, network), mixed, atol=1e-12)
    rows = features_of(test)[0]
    np.testing.assert_allclose(loaded.blend_rows(rows, network, test.t_start), mixed, atol=1e-12)


def test_soft_is_the_default_of_the_experts_mi_blend_and_person_is_refused_without_it():
    assert features_detrend_of(ModelConfig(name="late-fusion")) == "soft"
    assert features_detrend_of(ModelConfig(name="single")) == "none"
    gate = ModelConfig(name="late-fusion", features_blend="experts-gate")
    assert features_detrend_of(gate) == "none"
    auto = ModelConfig(name="late-fusion", features_detrend="auto")
    assert features_detrend_of(auto) == "auto"
    assert features_detrend_of(ModelConfig(name="single", features_detrend="auto")) == "none"
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

"""Per-sensor classifiers refitted on the scored person (``--person-refit``): the sensor that
carries the person's states wins the weight, the refit corrects a noisy teacher, it reads no
label, is deterministic, steps aside when it cannot fit, and the setting is resolved and
checked."""

from __future__ import annotations

import numpy as np
import pytest
from test_features_blend import _two_sensor_windows  # two sensors that follow the label

from xmodal.config import ModelConfig
from xmodal.errors import ConfigError
from xmodal.training.adaptation import MIN_WINDOWS
from xmodal.training.features_blend import FeaturesBlend
from xmodal.training.person_refit import REFIT_SHARE, refined, refit_person

SENSORS = {"x.EDA": np.array([0, 1, 2]), "x.BVP": np.array([3, 4, 5])}


def _person(n: int = 90, flip: float = 0.3, seed: int = 0):
    """One person's feature rows in three blocks of states (0, 1, 2): the EDA columns follow
    the state, the BVP columns are noise; the teacher is right on ``1 - flip`` of the windows."""
    rng = np.random.default_rng(seed)
    states = np.repeat([0, 1, 2], n // 3)
    rows = rng.normal(size=(n, 6))
    rows[:, :3] += 3.0 * np.eye(3)[states]
    teacher_labels = states.copy()
    wrong = rng.random(n) < flip
    teacher_labels[wrong] = (states[wrong] + rng.integers(1, 3, wrong.sum())) % 3
    teacher = np.eye(3)[teacher_labels] * 0.3 + 0.7 / 3  # a soft teacher, as blends are
    return rows, teacher, states


def test_refit_trusts_the_sensor_that_follows_the_person_and_corrects_the_teacher():
    rows, teacher, states = _person()
    refit = refit_person(rows, teacher, SENSORS)
    assert refit.weights["x.EDA"] > 0.95 and np.isclose(sum(refit.weights.values()), 1.0)
    out = refined(refit, rows, teacher)
    assert np.allclose(out.sum(1), 1.0)
    taught = (teacher.argmax(1) == states).mean()
    assert taught < 0.8  # the teacher errs on ~30% of the windows
    assert (refit.predict(rows).argmax(1) == states).mean() > 0.95  # the person's own boundary
    assert (out.argmax(1) == states).mean() > taught + 0.1  # mixed in, it fixes most errors
    # its share: the teacher keeps 1 - REFIT_SHARE
    np.testing.assert_allclose(
        out, (1 - REFIT_SHARE) * teacher + REFIT_SHARE * refit.predict(rows), atol=1e-12
    )


def test_refit_is_deterministic_and_ignores_nan_and_constant_columns():
    rows, teacher, _ = _person(seed=1)
    rows[5, 4] = np.nan  # a missing feature of one window
    rows[:, 5] = 7.0  # a constant one
    a = refined(refit_person(rows, teacher, SENSORS), rows, teacher)
    b = refined(refit_person(rows.copy(), teacher.copy(), SENSORS), rows, teacher)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()


def test_refit_steps_aside_when_it_cannot_fit():
    rows, teacher, _ = _person()
    one_class = np.tile([0.7, 0.2, 0.1], (len(rows), 1))
    assert refit_person(rows, one_class, SENSORS) is None
    few = MIN_WINDOWS - 1
    assert refit_person(rows[:few], teacher[:few], SENSORS) is None
    assert refit_person(rows, teacher, {}) is None
    np.testing.assert_array_equal(refined(None, rows, teacher), teacher)


def test_blend_with_refit_reads_no_label_records_weights_and_round_trips(tmp_path):
    train = _two_sensor_windows(["S1", "S2", "S3"])
    blend = FeaturesBlend("experts-mi", "lda", refit=True)
    blend.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    test = _two_sensor_windows(["S1", "S4"], silent="x.EDA", seed=1).of_subjects(["S4"])
    network = np.full((len(test), 2), 0.5)
    proba = blend.blend(test, network)
    assert set(blend.refit_weights["S4"]) == {"x.EDA", "x.BVP"}
    assert blend.refit_weights["S4"]["x.BVP"] > blend.refit_weights["S4"]["x.EDA"]
    plain = FeaturesBlend("experts-mi", "lda")
    plain.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    assert not np.allclose(plain.blend(test, network), proba)  # the refit changes something
    assert (proba.argmax(1) == test.labels).mean() >= (
        plain.blend(test, network).argmax(1) == test.labels
    ).mean()
    # instrumented: the person's labels set to -1 give the same probabilities
    unlabelled = _two_sensor_windows(["S1", "S4"], silent="x.EDA", seed=1).of_subjects(["S4"])
    unlabelled.labels[:] = -1
    np.testing.assert_array_equal(blend.blend(unlabelled, network), proba)
    # saved and loaded: the refit is on, and rows of the recording blend the same
    blend.save(tmp_path)
    loaded = FeaturesBlend.load(tmp_path)
    assert loaded.refit
    from xmodal.models.features import features_of

    np.testing.assert_allclose(loaded.blend_rows(features_of(test)[0], network), proba, atol=1e-12)


def test_person_refit_setting_is_resolved_and_checked():
    from xmodal.models.registry import person_refit_of

    assert person_refit_of(ModelConfig(name="late-fusion")) == "recording"
    assert person_refit_of(ModelConfig(name="attentive", features_blend="experts-gate")) == (
        "recording"
    )
    assert person_refit_of(ModelConfig(name="late-fusion", person_refit="none")) == "none"
    assert person_refit_of(ModelConfig(name="late-fusion", features_blend="equal")) == "none"
    assert person_refit_of(ModelConfig(name="single")) == "none"
    with pytest.raises(ConfigError, match="person blend"):
        person_refit_of(ModelConfig(name="single", person_refit="recording"))
    with pytest.raises(ConfigError, match="person blend"):
        person_refit_of(ModelConfig(features_blend="val", person_refit="recording"))
    with pytest.raises(ConfigError, match="unknown person refit|person_refit"):
        ModelConfig(person_refit="sometimes").resolved()
    with pytest.raises(ValueError, match="refit needs"):
        FeaturesBlend("equal", "lda", refit=True)

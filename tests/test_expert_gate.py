"""The gate over per-sensor experts learned on the fold's people (``experts-gate``): its
label-free statistics, its fit and temperature, its parameters saved as JSON, and a blend that
learns from training people which sensor to trust, reads no label of the person it weighs,
saves, loads and is deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.models.features import features_of
from xmodal.signals.windows import WindowSet
from xmodal.training.expert_gate import (
    EXPERT_STATISTICS,
    MIN_GATE_PEOPLE,
    ExpertGate,
    expert_statistics,
)
from xmodal.training.features_blend import FeaturesBlend


def _blocks(n: int = 60) -> np.ndarray:
    """Confident probabilities that follow blocks of 20 windows (a response to a protocol)."""
    states = np.repeat([0, 1, 0], n // 3)
    return np.eye(2)[states] * 0.8 + 0.1


def test_statistics_tell_a_response_from_noise():
    rng = np.random.default_rng(0)
    follows = _blocks()
    shuffled = follows[rng.permutation(len(follows))]  # the same predictions out of order
    flat = np.tile([0.6, 0.4], (len(follows), 1))
    stats = expert_statistics([follows, shuffled, flat])
    assert stats.shape == (3, len(EXPERT_STATISTICS))
    mi, auto, agree = stats.T
    assert mi[0] == pytest.approx(mi[1]) and mi[2] < 1e-9  # information ignores time order
    assert auto[0] > 0.9 and abs(auto[1]) < 0.3 and auto[2] == 0.0  # the order tells them apart
    # agreement: the flat expert always says 0, which the block expert says two thirds of the time
    assert agree[2] == pytest.approx(np.mean([(shuffled.argmax(1) == 0).mean(), 2 / 3]))
    with pytest.raises(ValueError, match="two experts"):
        expert_statistics([follows])


def _people(n_people: int, seed: int = 0):
    """Statistics of three experts per person and their macro-F1: the expert whose
    predictions follow blocks in time (high autocorrelation) is the one that is right."""
    rng = np.random.default_rng(seed)
    stats, scores = [], []
    for _ in range(n_people):
        good = rng.integers(3)
        s = rng.normal(size=(3, 3)) * 0.1 + 0.5
        s[good, 1] += 1.0
        stats.append(s)
        scores.append(np.where(np.arange(3) == good, 0.9, 0.4) + rng.normal(size=3) * 0.02)
    return stats, scores


def test_gate_learns_which_statistic_predicts_the_right_expert_and_round_trips():
    stats, scores = _people(8)
    gate = ExpertGate.fit(stats, scores)
    assert gate.coef[1] > abs(gate.coef[0]) and gate.coef[1] > abs(gate.coef[2])
    assert gate.temperature > 0
    new, _ = _people(1, seed=5)
    weights = gate.weights(new[0])
    assert np.isclose(weights.sum(), 1.0) and weights.argmax() == new[0][:, 1].argmax()
    again = ExpertGate.from_dict(gate.to_dict())
    np.testing.assert_allclose(again.weights(new[0]), weights, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=f"at least {MIN_GATE_PEOPLE} people"):
        ExpertGate.fit(stats[:2], scores[:2])
    with pytest.raises(ValueError, match="wrong shape"):
        ExpertGate.from_dict({**gate.to_dict(), "coef": [1.0, 2.0]})
    with pytest.raises(ValueError, match="are not"):
        ExpertGate.from_dict({**gate.to_dict(), "statistics": ["entropy"] * 3})


def _person(subject: str, silent: str | None, n: int = 60, seed: int = 0) -> WindowSet:
    """Two sensors of one person's recording in three blocks of 20 windows (0, 1, 0): each
    follows the state, except ``silent``, which is noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 0], n // 3)
    x = {}
    for m in ("x.EDA", "x.BVP"):
        signal = rng.normal(size=(n, 1, 40)).astype(np.float32)
        if m != silent:
            signal += 2.0 * labels[:, None, None]
        x[m] = signal
    return WindowSet(
        x,
        np.repeat(subject, n),
        labels,
        np.arange(n) * 10.0,
        {"x.EDA": 4.0, "x.BVP": 4.0},
        ("a", "b"),
    )


def _population(seed: int = 0) -> WindowSet:
    silent = ["x.EDA", "x.BVP", None, "x.EDA", "x.BVP"]
    return WindowSet.concat([_person(f"S{i + 1}", s, seed=seed + i) for i, s in enumerate(silent)])


def _know_nothing(windows: WindowSet) -> np.ndarray:
    return np.full((len(windows), 2), 0.5)


def test_experts_gate_trusts_the_responding_sensor_and_reads_no_label(tmp_path):
    train = _population()
    blend = FeaturesBlend("experts-gate", "lda")
    record = blend.fit(train, None, _know_nothing, seed=0, recordings=train)
    assert record["experts"] == ["network", "x.EDA", "x.BVP"]
    assert record["gate"]["statistics"] == list(EXPERT_STATISTICS)
    test = _person("S9", "x.EDA", seed=42)
    proba = blend.blend(test, _know_nothing(test))
    weights = blend.person_weights["S9"]
    assert weights["x.BVP"] > 0.6 and weights["x.EDA"] < 0.3
    assert (proba.argmax(1) == test.labels).mean() > 0.9
    # instrumented: the person's windows without labels blend to the same probabilities
    blind = _person("S9", "x.EDA", seed=42)
    blind.labels[:] = -1
    np.testing.assert_array_equal(blend.blend(blind, _know_nothing(blind)), proba)
    # the training people's recordings are read without their labels, too
    hidden = _population()
    hidden.labels[:] = -1
    again = FeaturesBlend("experts-gate", "lda")
    again.fit(train, None, _know_nothing, seed=0, recordings=hidden)
    np.testing.assert_array_equal(again.blend(test, _know_nothing(test)), proba)
    # saved as JSON and arrays, loaded: the same mixture of the recording's rows
    blend.save(tmp_path)
    loaded = FeaturesBlend.load(tmp_path)
    rows = features_of(test)[0]
    np.testing.assert_allclose(loaded.blend_rows(rows, _know_nothing(test)), proba, atol=1e-12)


def test_experts_gate_needs_enough_people_and_else_weighs_as_experts_mi():
    few = _population().of_subjects(["S1", "S2"])
    gate = FeaturesBlend("experts-gate", "lda")
    assert gate.fit(few, None, _know_nothing, seed=0, recordings=few)["gate"] is None
    mi = FeaturesBlend("experts-mi", "lda")
    mi.fit(few, None, _know_nothing, seed=0)
    test = _person("S9", "x.EDA", seed=42)
    np.testing.assert_array_equal(
        gate.blend(test, _know_nothing(test)), mi.blend(test, _know_nothing(test))
    )

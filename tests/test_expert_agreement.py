"""Experts that read the person the wrong way round lose their weight
(``--experts-disagreement``), and the network entering the blend by stream
(``--network-experts streams``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal.config import ModelConfig, RunConfig
from xmodal.errors import ConfigError
from xmodal.models.registry import build_model
from xmodal.training.adaptation import expert_probabilities, window_probabilities
from xmodal.training.estimators import NetworkEstimator
from xmodal.training.features_blend import agreement_with_others, mixture_weights

N = 60
T = np.arange(N) * 10.0
STATES = np.repeat([0, 1, 0], N // 3)  # baseline, a state of 3.3 minutes, baseline


def _expert(states: np.ndarray, sure: float) -> np.ndarray:
    return np.eye(2)[states] * (2 * sure - 1) + (1 - sure)


def test_agreement_is_the_correlation_with_the_others_weighed_by_their_spread():
    rng = np.random.default_rng(0)
    right = [_expert(STATES, 0.8), _expert(STATES, 0.7), _expert(STATES, 0.75)]
    wrong = _expert(1 - STATES, 0.99)  # sure: the largest spread
    noise = rng.dirichlet([1.0, 1.0], size=N)
    probas = [*right, wrong, noise]
    r = agreement_with_others(probas)
    spread = np.array([np.sqrt(((p - p.mean(0)) ** 2).sum()) for p in probas])
    sign = np.array([1, 1, 1, -1])
    for i in range(3):  # +1 with the other right ones, -1 with the wrong one, ~0 with the noise
        others = [j for j in range(4) if j != i]
        expected = (sign[others] * spread[others]).sum() / spread[[*others, 4]].sum()
        assert abs(r[i] - expected) < 0.05
    assert r[3] < -0.6  # the opposite of the others, however sure it is
    assert r[3] < r[:3].min() - 0.5
    assert abs(r[4]) < 0.2  # unrelated
    # a constant expert correlates with nothing and has no say in the others' agreement
    flat = np.full((N, 2), 0.5)
    with_flat = agreement_with_others([flat, *right])
    assert with_flat[0] == 0.0
    np.testing.assert_allclose(with_flat[1:], agreement_with_others(right))


def test_a_confident_expert_that_reads_the_states_the_wrong_way_round_loses_its_weight():
    right = [_expert(STATES, 0.75), _expert(STATES, 0.7), _expert(STATES, 0.8)]
    wrong = _expert(1 - STATES, 0.97)  # more confident than any: most information
    probas = [*right, wrong]
    plain = mixture_weights(probas, T, 60.0)
    assert plain[3] == plain.max()
    vetoed = mixture_weights(probas, T, 60.0, disagreement=0.3)
    assert vetoed[3] == 0.0 and np.isclose(vetoed.sum(), 1.0)
    assert (vetoed[:3] > plain[:3]).all()
    mix = sum(w * p for w, p in zip(vetoed, probas))
    assert (mix.argmax(1) == STATES).all()
    assert (sum(w * p for w, p in zip(plain, probas)).argmax(1) != STATES).any()


def test_a_lone_responder_keeps_its_weight_and_two_experts_are_never_vetoed():
    rng = np.random.default_rng(1)
    lone = _expert(STATES, 0.8)  # the only sensor that responds in this person
    silent = [rng.dirichlet([20.0, 20.0], size=N) for _ in range(3)]
    probas = [lone, *silent]
    plain = mixture_weights(probas, T, 60.0)
    vetoed = mixture_weights(probas, T, 60.0, disagreement=0.3)
    assert vetoed[0] >= plain[0] > 0.9  # unrelated to the others is not opposed to them
    np.testing.assert_allclose(vetoed, plain, atol=0.01)
    # two experts that disagree: nothing tells which one is wrong
    two = [_expert(STATES, 0.8), _expert(1 - STATES, 0.9)]
    np.testing.assert_allclose(
        mixture_weights(two, T, 60.0, disagreement=0.3), mixture_weights(two, T, 60.0)
    )


def test_the_veto_is_a_ramp_from_no_disagreement_to_the_threshold():
    right = [_expert(STATES, 0.75), _expert(STATES, 0.7), _expert(STATES, 0.8)]
    wrong = _expert(1 - STATES, 0.97)
    probas = [*right, wrong]
    shares = mixture_weights(probas)
    r = agreement_with_others(probas)
    for threshold in (0.5, 2.0, 10.0):
        kept = shares * np.clip(1 + r / threshold, 0, 1)
        np.testing.assert_allclose(
            mixture_weights(probas, None, 0.0, disagreement=threshold),
            kept / kept.sum() if kept.sum() > 1e-9 else shares,
            atol=1e-9,
        )
    with pytest.raises(ConfigError, match="experts_disagreement"):
        RunConfig.from_dict({"model": {"experts_disagreement": -0.1}}, source="test")


def test_expert_probabilities_are_the_fused_network_then_each_stream_alone():
    shapes = {"wrist.BVP": (1, 64), "wrist.EDA": (1, 16), "wrist.TEMP": (1, 16)}
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="late-fusion").resolved(), shapes, 3).eval()
    rng = np.random.default_rng(0)
    inputs = {m: rng.normal(size=(7, *s)).astype(np.float32) for m, s in shapes.items()}
    proba = expert_probabilities(model, inputs)
    assert proba.shape == (7, 4, 3)
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(proba[:, 0], window_probabilities(model, inputs, "cpu"), atol=1e-5)
    assert not np.allclose(proba[:, 1], proba[:, 2])
    empty = {m: x[:0] for m, x in inputs.items()}
    assert expert_probabilities(model, empty).shape == (0, 4, 3)
    single = build_model(ModelConfig(name="single").resolved(), {"wrist.EDA": (1, 16)}, 3)
    with pytest.raises(ConfigError, match="no per-stream experts"):
        expert_probabilities(single, {"wrist.EDA": inputs["wrist.EDA"]})


@pytest.mark.parametrize(
    ("model", "adapt", "message"),
    [
        ({"features_blend": "val"}, "none", "experts-mi or experts-gate"),
        ({"name": "single"}, "none", "experts-mi or experts-gate"),
        ({"name": "single", "features_blend": "experts-mi"}, "none", "fusion network"),
        ({}, "experts-mi", "both weigh the network's streams"),
    ],
)
def test_streams_need_an_experts_blend_a_fusion_network_and_no_experts_adaptation(
    model, adapt, message
):
    config = RunConfig.from_dict(
        {"model": {"network_experts": "streams", **model}, "data": {"adapt": adapt}},
        source="test",
    )
    with pytest.raises(ConfigError, match=message):
        NetworkEstimator(config)


def test_a_fusion_network_without_per_stream_experts_is_refused_before_training():
    from xmodal.signals.windows import WindowSet

    rng = np.random.default_rng(0)
    n = 24
    windows = WindowSet(
        {
            "x.BVP": rng.normal(size=(n, 1, 64)).astype(np.float32),
            "x.EDA": rng.normal(size=(n, 1, 16)).astype(np.float32),
        },
        np.repeat(["S1", "S2", "S3"], n // 3),
        np.tile([0, 1], n // 2),
        np.arange(n, dtype=np.float64) * 10.0,
        {"x.BVP": 6.4, "x.EDA": 1.6},
        ["baseline", "stress"],
        10.0,
    )
    config = RunConfig.from_dict(
        {"model": {"name": "score-fusion", "network_experts": "streams"}}, source="test"
    )
    estimator = NetworkEstimator(config)
    with pytest.raises(ConfigError, match="no per-stream experts"):
        estimator.fit(windows, None, seed=0)
    assert estimator.model is None  # nothing was trained

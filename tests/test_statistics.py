"""Paired comparisons over subjects: mean difference, bootstrap interval, Wilcoxon p."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xmodal.evaluation.statistics import mean_over_seeds, paired_comparison

SUBJECTS = [f"S{i}" for i in range(2, 10)]


def test_known_mean_difference_and_interval_contains_it():
    a = {"S2": 0.70, "S3": 0.60, "S4": 0.80, "S5": 0.50}
    b = {"S2": 0.60, "S3": 0.65, "S4": 0.60, "S5": 0.45}
    c = paired_comparison(a, b)
    assert c.n == 4 and c.subjects == ("S2", "S3", "S4", "S5")
    assert c.differences == pytest.approx((0.10, -0.05, 0.20, 0.05))
    assert c.mean_difference == pytest.approx(0.075)
    assert c.ci_low <= c.mean_difference <= c.ci_high
    assert -0.05 <= c.ci_low < c.ci_high <= 0.20  # resampled means stay within the data
    assert c.confidence == 0.95 and c.n_boot == 10000
    assert 0 < c.p_value <= 1


def test_seed_determinism():
    rng = np.random.default_rng(3)
    a = dict(zip(SUBJECTS, rng.uniform(0.4, 0.9, len(SUBJECTS))))
    b = dict(zip(SUBJECTS, rng.uniform(0.4, 0.9, len(SUBJECTS))))
    first, again = paired_comparison(a, b, seed=7), paired_comparison(a, b, seed=7)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert first == again
    other = paired_comparison(a, b, seed=8)
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    assert other.mean_difference == first.mean_difference


def test_identical_scores_give_zero_difference_p_one_unresolved():
    a = dict(zip(SUBJECTS, np.linspace(0.5, 0.9, len(SUBJECTS))))
    c = paired_comparison(a, dict(a))
    assert c.mean_difference == 0.0 and set(c.differences) == {0.0}
    assert c.p_value == 1.0
    assert c.ci_low == c.ci_high == 0.0
    assert not c.resolved


def test_consistent_difference_over_eight_subjects_is_resolved():
    b = dict(zip(SUBJECTS, np.linspace(0.45, 0.75, len(SUBJECTS))))
    gains = [0.08, 0.12, 0.10, 0.06, 0.11, 0.09, 0.07, 0.13]
    a = {s: b[s] + g for s, g in zip(SUBJECTS, gains)}
    c = paired_comparison(a, b)
    assert c.mean_difference == pytest.approx(np.mean(gains))
    assert c.p_value < 0.05
    assert c.resolved and c.ci_low > 0
    assert c.format().startswith("+0.095 [+0.")
    reverse = paired_comparison(b, a)
    assert reverse.resolved and reverse.ci_high < 0 and reverse.mean_difference < 0


def test_mixed_differences_are_not_resolved():
    b = dict.fromkeys(SUBJECTS, 0.6)
    a = {s: 0.6 + (0.1 if i % 2 else -0.1) for i, s in enumerate(SUBJECTS)}
    c = paired_comparison(a, b)
    assert c.mean_difference == pytest.approx(0.0, abs=1e-12)
    assert c.ci_low < 0 < c.ci_high and not c.resolved
    assert c.p_value > 0.5


def test_only_common_finite_subjects_are_paired():
    a = {"S2": 0.7, "S3": 0.6, "S4": None, "S5": 0.9, "S6": float("nan")}
    b = {"S3": 0.5, "S2": 0.5, "S4": 0.5, "S6": 0.5, "S7": 0.1}
    c = paired_comparison(a, b)
    assert c.subjects == ("S2", "S3")
    assert c.mean_difference == pytest.approx(0.15)


def test_disjoint_subjects_raise_a_clear_error():
    with pytest.raises(ValueError, match="no subject scored by both"):
        paired_comparison({"S2": 0.5, "S3": 0.6}, {"S4": 0.5})


def test_one_subject_has_no_interval_and_is_not_resolved():
    c = paired_comparison({"S2": 0.9}, {"S2": 0.1})
    assert c.n == 1 and c.mean_difference == pytest.approx(0.8)
    assert math.isnan(c.ci_low) and math.isnan(c.ci_high) and math.isnan(c.p_value)
    assert not c.resolved and c.format() == "+0.800 (n=1)"


@pytest.mark.parametrize("kwargs", [{"n_boot": 0}, {"confidence": 1.0}, {"confidence": 0}])
def test_invalid_settings_raise(kwargs):
    with pytest.raises(ValueError):
        paired_comparison({"S2": 0.5, "S3": 0.6}, {"S2": 0.4, "S3": 0.3}, **kwargs)


def test_mean_over_seeds_averages_per_subject():
    seeds = [
        {"task": "binary", "per_subject": {"S2": {"macro_f1": 0.6}, "S3": {"macro_f1": 0.8}}},
        {
            "task": "binary",
            "per_subject": {
                "S2": {"macro_f1": 0.7},
                "S3": {"macro_f1": None},
                "S4": {"macro_f1": 0.5},
            },
        },
    ]
    assert mean_over_seeds(seeds) == pytest.approx({"S2": 0.65, "S3": 0.8, "S4": 0.5})
    assert list(mean_over_seeds(seeds)) == ["S2", "S3", "S4"]
    with pytest.raises(ValueError, match="different tasks"):
        mean_over_seeds([seeds[0], {**seeds[1], "task": "3class"}])

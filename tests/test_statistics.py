"""Paired comparisons over subjects: mean difference, BCa bootstrap interval, Wilcoxon p, Holm."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from xmodal.evaluation.statistics import (
    holm_adjust,
    holm_adjust_comparisons,
    mean_over_seeds,
    paired_comparison,
    smallest_wilcoxon_p,
)

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


def test_two_subjects_have_a_p_value_but_no_interval():
    c = paired_comparison({"S2": 0.9, "S3": 0.8}, {"S2": 0.1, "S3": 0.3})
    assert math.isnan(c.ci_low) and c.p_value == pytest.approx(0.5)
    assert not c.resolved and c.format() == "+0.650 (n=2, p=0.500)"


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


# ---- against scipy and reference computations on fixed inputs ----------------------------------

A6 = {"S2": 0.926, "S3": 0.775, "S4": 0.980, "S5": 0.969, "S6": 0.971, "S7": 0.873}
B6 = {"S2": 0.941, "S3": 0.733, "S4": 0.980, "S5": 0.987, "S6": 0.998, "S7": 0.779}


def test_interval_is_scipys_paired_bca_bootstrap():
    from scipy.stats import bootstrap, wilcoxon

    c = paired_comparison(A6, B6, n_boot=5000, seed=11)
    a, b = np.array(list(A6.values())), np.array(list(B6.values()))
    ref = bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(x - y, axis=axis),
        paired=True,
        n_resamples=5000,
        method="BCa",
        confidence_level=0.95,
        rng=np.random.default_rng(11),
    ).confidence_interval
    assert (c.ci_low, c.ci_high) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert c.p_value == pytest.approx(wilcoxon(a - b).pvalue)
    # BCa, not the percentile interval of the same resamples
    pct = bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(x - y, axis=axis),
        paired=True,
        n_resamples=5000,
        method="percentile",
        rng=np.random.default_rng(11),
    ).confidence_interval
    assert (c.ci_low, c.ci_high) != pytest.approx((pct.low, pct.high), abs=1e-6)


def test_all_differences_equal_give_a_point_interval_without_warning():
    a = {s: 0.5 + 0.1 * i for i, s in enumerate(SUBJECTS[:5])}
    b = {s: v - 0.05 for s, v in a.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = paired_comparison(a, b)
    assert c.ci_low == pytest.approx(0.05) and c.ci_high == pytest.approx(0.05)
    # five subjects all on one side: the smallest exact p, 0.0625, not resolved at 0.05
    assert c.p_value == pytest.approx(0.0625) == smallest_wilcoxon_p(5)
    assert not c.resolved


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 8])
def test_smallest_wilcoxon_p_is_the_exact_test_with_every_subject_on_one_side(n):
    from scipy.stats import wilcoxon

    expected = 1.0 if n == 1 else wilcoxon(np.arange(1.0, n + 1), method="exact").pvalue
    assert smallest_wilcoxon_p(n) == pytest.approx(expected)
    assert smallest_wilcoxon_p(6) == pytest.approx(0.03125)


def _holm_reference(p):
    """Holm by its definition: p_(k) adjusted = max over j <= k of min(1, (m - j + 1) p_(j))."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for k, i in enumerate(order):
        out[i] = max(min(1.0, (m - j) * p[order[j]]) for j in range(k + 1))
    return out


def test_holm_on_a_textbook_example_and_against_its_definition():
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(5)
    for m in (1, 2, 7, 20):
        p = rng.uniform(0, 0.2, m).tolist()
        assert holm_adjust(p) == pytest.approx(_holm_reference(p))


def test_holm_leaves_missing_p_values_out_of_the_family():
    adj = holm_adjust([0.01, float("nan"), 0.04])
    assert adj[0] == pytest.approx(0.02) and math.isnan(adj[1]) and adj[2] == pytest.approx(0.04)
    assert holm_adjust([]) == []


def test_resolved_uses_the_adjusted_p():
    b = dict(zip(SUBJECTS, np.linspace(0.45, 0.75, len(SUBJECTS))))
    gains = [0.08, 0.12, 0.10, 0.06, 0.11, 0.09, 0.07, 0.13]
    a = {s: b[s] + g for s, g in zip(SUBJECTS, gains)}
    mixed = {s: b[s] + (0.05 if i % 2 else -0.04) for i, s in enumerate(SUBJECTS)}
    c = paired_comparison(a, b)
    assert c.resolved and c.p_adjusted == c.p_value == pytest.approx(2 / 2**8)
    # the same comparison in a table of eight rows: Holm multiplies the smallest p by 8
    family = holm_adjust_comparisons([c] + [paired_comparison(mixed, b)] * 7 + [None])
    assert family[0].p_adjusted == pytest.approx(8 * c.p_value)
    assert not family[0].resolved and family[-1] is None
    assert "Holm p=0.062" in family[0].format()

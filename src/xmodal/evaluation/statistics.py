"""Paired comparisons of two configurations over the same held-out subjects.

Every subject is scored by both configurations, so the comparison is paired: the per-subject
differences carry the evidence, not the two means. :func:`paired_comparison` gives their mean,
a bootstrap percentile interval of the mean (subjects resampled with replacement) and the
two-sided Wilcoxon signed-rank p-value. The functions take plain mappings
``{subject: score}`` (e.g. from ``results.json`` ``per_subject``) and never train anything.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

#: absolute per-subject differences below this count as ties (exact zeros)
ZERO_TOLERANCE = 1e-12
#: bootstrap resamples drawn per batch (bounds memory for many subjects)
_BATCH_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class PairedComparison:
    """Paired comparison of configuration ``a`` against ``b`` (difference ``a - b``).

    Attributes
    ----------
    subjects : tuple of str
        Subjects scored (finitely) by both, in the order of ``a``.
    differences : tuple of float
        Per-subject differences ``a - b``, in the order of ``subjects``.
    mean_difference : float
        Mean of ``differences``.
    ci_low, ci_high : float
        Bootstrap percentile interval of the mean difference; NaN with fewer than 2 subjects.
    confidence : float
        Level of the interval (e.g. 0.95).
    p_value : float
        Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero, NaN with
        fewer than 2 subjects.
    n_boot : int
        Number of bootstrap resamples.
    """

    subjects: tuple[str, ...]
    differences: tuple[float, ...]
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    n_boot: int

    @property
    def n(self) -> int:
        """Number of paired subjects."""
        return len(self.subjects)

    @property
    def resolved(self) -> bool:
        """The interval excludes 0 and the Wilcoxon test agrees (p < 1 - confidence).

        Both are required: with very few subjects the percentile bootstrap is optimistic
        (four subjects that all improve give an interval above 0, yet p = 0.125)."""
        return bool(
            (self.ci_low > 0 or self.ci_high < 0)  # NaN compares False
            and self.p_value < 1 - self.confidence
        )

    def format(self, digits: int = 3) -> str:
        """``+0.042 [+0.010, +0.075] (p=0.031)``; without an interval ``+0.042 (n=1)``."""
        d = f"{self.mean_difference:+.{digits}f}"
        if not math.isfinite(self.ci_low):
            return f"{d} (n={self.n})"
        return (
            f"{d} [{self.ci_low:+.{digits}f}, {self.ci_high:+.{digits}f}] "
            f"({format_p(self.p_value)})"
        )


def format_p(p: float) -> str:
    """``p=0.031``, ``p<0.001`` or ``p=n/a``."""
    if not math.isfinite(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(float(v))


def paired_comparison(
    scores_a: Mapping[str, float],
    scores_b: Mapping[str, float],
    *,
    n_boot: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare two configurations on the subjects both scored.

    Parameters
    ----------
    scores_a, scores_b : mapping of str to float
        Per-subject scores (e.g. macro-F1). Only subjects present in both with finite scores
        (not None or NaN) are paired.
    n_boot : int
        Bootstrap resamples of the subjects for the interval.
    seed : int
        Seed of the :func:`numpy.random.default_rng` generator of the bootstrap.
    confidence : float
        Level of the percentile interval, in (0, 1).

    Returns
    -------
    PairedComparison
        Mean difference ``a - b``, its bootstrap interval and the Wilcoxon p-value. With one
        subject there is neither interval nor p-value (NaN, never resolved); when every
        difference is zero (below :data:`ZERO_TOLERANCE`) the p-value is 1.0.

    Raises
    ------
    ValueError
        No subject scored by both, or invalid ``n_boot`` / ``confidence``.
    """
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    subjects = tuple(
        s for s in scores_a if s in scores_b and _finite(scores_a[s]) and _finite(scores_b[s])
    )
    if not subjects:
        raise ValueError(
            f"no subject scored by both configurations (first: {sorted(map(str, scores_a))}, "
            f"second: {sorted(map(str, scores_b))}); a paired comparison needs common subjects"
        )
    d = np.array([float(scores_a[s]) - float(scores_b[s]) for s in subjects])
    d[np.abs(d) < ZERO_TOLERANCE] = 0.0
    n = len(d)
    mean = float(d.mean())
    if n < 2:
        lo = hi = p = float("nan")
    else:
        lo, hi = _bootstrap_interval(d, n_boot, seed, confidence)
        p = _wilcoxon_p(d)
    return PairedComparison(
        subjects, tuple(float(x) for x in d), mean, lo, hi, float(confidence), p, int(n_boot)
    )


def _bootstrap_interval(
    d: np.ndarray, n_boot: int, seed: int, confidence: float
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = len(d)
    batch = max(1, _BATCH_ELEMENTS // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, batch):
        k = min(batch, n_boot - start)
        means[start : start + k] = d[rng.integers(0, n, size=(k, n))].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _wilcoxon_p(d: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    if not np.any(d):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample / zero-handling notices
        p = float(wilcoxon(d, alternative="two-sided").pvalue)
    return p if math.isfinite(p) else 1.0


def mean_over_seeds(results: Iterable[Mapping], metric: str = "macro_f1") -> dict[str, float]:
    """Per-subject score of one configuration and task, averaged over its seeds.

    Parameters
    ----------
    results : iterable of mapping
        ``results.json`` contents (one per seed) of the same configuration and task.
    metric : str
        Key in ``per_subject[subject]``.

    Returns
    -------
    dict of str to float
        Mean over the seeds that scored the subject (None / NaN ignored); subjects no seed
        scored are left out. Order: first appearance.

    Raises
    ------
    ValueError
        The results belong to different tasks.
    """
    results = list(results)
    tasks = {r.get("task") for r in results}
    if len(tasks) > 1:
        raise ValueError(
            f"results of different tasks ({', '.join(sorted(map(str, tasks)))}) "
            f"cannot be averaged over seeds"
        )
    values: dict[str, list[float]] = {}
    for res in results:
        for subject, scores in (res.get("per_subject") or {}).items():
            v = scores.get(metric) if isinstance(scores, Mapping) else None
            if _finite(v):
                values.setdefault(str(subject), []).append(float(v))
    return {s: float(np.mean(v)) for s, v in values.items()}

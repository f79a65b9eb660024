"""Paired comparisons of two configurations over the same held-out subjects.

Every subject is scored by both configurations, so the comparison is paired: the per-subject
differences carry the evidence, not the two means. :func:`paired_comparison` gives their mean,
a bias-corrected and accelerated (BCa) bootstrap interval of the mean
(:func:`scipy.stats.bootstrap` with ``paired=True``: subjects resampled with replacement) and
the two-sided Wilcoxon signed-rank p-value. :func:`holm_adjust` adjusts the p-values of the
rows of one table for multiplicity (Holm's step-down), and a comparison is *resolved* only on
its adjusted p. :func:`smallest_wilcoxon_p` is the smallest p the exact test can give with
``n`` subjects (``2 / 2**n``): with six subjects no difference can reach ``p < 0.03``.
The functions take plain mappings ``{subject: score}`` (e.g. from ``results.json``
``per_subject``) and never train anything.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: absolute per-subject differences below this count as ties (exact zeros)
ZERO_TOLERANCE = 1e-12
#: bootstrap resamples evaluated per batch (bounds memory for many subjects)
_BATCH_ELEMENTS = 2_000_000
#: the BCa interval needs at least this many subjects (jackknife acceleration; with two the
#: resampled means take three values)
MIN_SUBJECTS_INTERVAL = 3


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
        BCa bootstrap interval of the mean difference; NaN with fewer than
        :data:`MIN_SUBJECTS_INTERVAL` subjects; both equal to the mean when every difference is
        the same (nothing to resample).
    confidence : float
        Level of the interval (e.g. 0.95).
    p_value : float
        Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero, NaN with
        fewer than 2 subjects.
    n_boot : int
        Number of bootstrap resamples.
    p_adjusted : float
        ``p_value`` adjusted for the other comparisons of the same table (:func:`holm_adjust`);
        equal to ``p_value`` for a comparison on its own.
    """

    subjects: tuple[str, ...]
    differences: tuple[float, ...]
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    n_boot: int
    p_adjusted: float = float("nan")

    def __post_init__(self) -> None:
        if math.isnan(self.p_adjusted) and not math.isnan(self.p_value):
            object.__setattr__(self, "p_adjusted", self.p_value)

    @property
    def n(self) -> int:
        """Number of paired subjects."""
        return len(self.subjects)

    @property
    def resolved(self) -> bool:
        """The interval excludes 0 and the adjusted Wilcoxon p is below ``1 - confidence``.

        Both are required: with very few subjects a bootstrap interval is optimistic (four
        subjects that all improve give an interval above 0, yet p = 0.125)."""
        return bool(
            (self.ci_low > 0 or self.ci_high < 0)  # NaN compares False
            and self.p_adjusted < 1 - self.confidence
        )

    def adjusted(self, p_adjusted: float) -> PairedComparison:
        """The same comparison with its multiplicity-adjusted p-value."""
        return dataclasses.replace(self, p_adjusted=float(p_adjusted))

    def format(self, digits: int = 3) -> str:
        """``+0.042 [+0.010, +0.075] (p=0.031)``, with ``, Holm p=0.093`` when adjusted;
        without an interval ``+0.042 (n=2, p=0.500)`` or ``+0.042 (n=1)``."""
        d = f"{self.mean_difference:+.{digits}f}"
        p = format_p(self.p_value)
        if not math.isclose(self.p_adjusted, self.p_value) and math.isfinite(self.p_adjusted):
            p += f", Holm {format_p(self.p_adjusted)}"
        if not math.isfinite(self.ci_low):
            return f"{d} (n={self.n})" if self.n < 2 else f"{d} (n={self.n}, {p})"
        return f"{d} [{self.ci_low:+.{digits}f}, {self.ci_high:+.{digits}f}] ({p})"


def format_p(p: float) -> str:
    """``p=0.031``, ``p<0.001`` or ``p=n/a``."""
    if not math.isfinite(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def smallest_wilcoxon_p(n: int) -> float:
    """Smallest two-sided p-value of the exact Wilcoxon signed-rank test with ``n`` pairs.

    Every one of the ``n`` differences has the same sign: one of the ``2**n`` equally likely
    sign patterns under the null hypothesis on each side, so ``p = 2 / 2**n`` (capped at 1).
    NaN for ``n < 1``.
    """
    if n < 1:
        return float("nan")
    return min(1.0, 2.0 / 2.0**n)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (controls the family-wise error).

    The ``m`` finite p-values are sorted ascending, ``p_(k)`` is multiplied by ``m - k + 1``,
    a running maximum keeps the order, and values are capped at 1. NaN entries (comparisons
    that could not be made) stay NaN and do not count in ``m``.

    Parameters
    ----------
    p_values : sequence of float
        Raw p-values of the comparisons of one table.

    Returns
    -------
    list of float
        Adjusted p-values in the input order.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if m == 0:
        return out.tolist()
    order = idx[np.argsort(p[idx], kind="stable")]
    steps = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return out.tolist()


def holm_adjust_comparisons(
    comparisons: Sequence[PairedComparison | None],
) -> list[PairedComparison | None]:
    """:func:`holm_adjust` applied to the p-values of comparisons (None entries kept)."""
    adjusted = holm_adjust([c.p_value if c is not None else math.nan for c in comparisons])
    return [None if c is None else c.adjusted(a) for c, a in zip(comparisons, adjusted)]


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
        Level of the BCa interval, in (0, 1).

    Returns
    -------
    PairedComparison
        Mean difference ``a - b``, its BCa bootstrap interval and the Wilcoxon p-value. With
        one subject there is neither interval nor p-value (NaN, never resolved); with two there
        is a p-value but no interval; when every difference is the same the interval is that
        value; when every difference is zero (below :data:`ZERO_TOLERANCE`) the p-value is 1.0.

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
    a = np.array([float(scores_a[s]) for s in subjects])
    b = np.array([float(scores_b[s]) for s in subjects])
    d = a - b
    zero = np.abs(d) < ZERO_TOLERANCE
    d[zero] = 0.0
    b[zero] = a[zero]  # the bootstrap sees the same ties as the test
    n = len(d)
    mean = float(d.mean())
    lo = hi = p = float("nan")
    if n >= 2:
        p = _wilcoxon_p(d)
    if n >= MIN_SUBJECTS_INTERVAL:
        lo, hi = _bca_interval(a, b, d, n_boot, seed, confidence)
    return PairedComparison(
        subjects, tuple(float(x) for x in d), mean, lo, hi, float(confidence), p, int(n_boot)
    )


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a - b, axis=axis)


def _bca_interval(
    a: np.ndarray, b: np.ndarray, d: np.ndarray, n_boot: int, seed: int, confidence: float
) -> tuple[float, float]:
    """BCa interval of ``mean(a - b)`` through :func:`scipy.stats.bootstrap` (paired)."""
    from scipy.stats import bootstrap

    if np.ptp(d) == 0.0:  # every difference equal: every resample has the same mean
        return float(d[0]), float(d[0])
    res = bootstrap(
        (a, b),
        _mean_difference,
        paired=True,
        vectorized=True,
        n_resamples=n_boot,
        batch=max(1, _BATCH_ELEMENTS // len(d)),
        confidence_level=confidence,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # scipy's degenerate-data fallback
        return float("nan"), float("nan")
    return lo, hi


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

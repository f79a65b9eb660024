"""Each person's linear trend over the session, removed from the features (``--features-detrend``).

The conditions of a session follow one another in a fixed order, so a slow drift of a sensor
over the session (skin conductance that climbs, a wrist that warms) lines up with the
conditions even when the sensor does not respond to them: read through other people's
boundary, a silent sensor then names the conditions wrongly, and the person blend, which
trusts a sensor whose predictions vary, trusts it. :class:`PersonTrend` is the least-squares
line of every feature column against the window's time over one person's recording; removing
it keeps each column's mean and what changes faster than the session.

On some data the trend is the response (a stress condition late in every session), so
``auto`` lets each fold decide on its own training people (:func:`detrend_gain`): each is held
out in turn, the experts fitted on the others score it with and without the trends removed,
and the trends are removed only when the gain is larger than twice its standard error. That
decision is a knife edge: a gain just under the bar and one just over it give the test person
very different features. ``soft`` mixes the two instead (:func:`detrend_share`): the
probabilities of the experts with the trends removed get a share that grows from 0 to 1 as the
gain goes from one to three standard errors, those of the experts without the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ``auto`` removes the trends when the mean gain exceeds this many standard errors
DETREND_MARGIN = 2.0
#: ``soft``: the detrended experts' share rises from 0 to 1 over this many standard errors of
#: gain, centred on :data:`DETREND_MARGIN` (set a priori, not tuned)
SOFT_BAND = (DETREND_MARGIN - 1.0, DETREND_MARGIN + 1.0)


def _standard_time(t: np.ndarray, centre: float, scale: float) -> np.ndarray:
    return (np.asarray(t, dtype=np.float64) - centre) / scale


@dataclass(frozen=True)
class PersonTrend:
    """The linear trend of every feature column over one person's recording.

    Attributes
    ----------
    centre, scale : float
        Mean and standard deviation of the recording's window times (s); the slopes are per
        standard deviation, so they do not depend on the time origin or unit.
    slopes : numpy.ndarray
        Each column's slope (0 where fewer than three values are finite).
    """

    centre: float
    scale: float
    slopes: np.ndarray

    @classmethod
    def fit(cls, rows: np.ndarray, t: np.ndarray) -> PersonTrend:
        """Least-squares slopes of ``rows`` ``(n, n_features)`` against the times ``t``
        ``(n,)`` of one person's recording windows (NaN values ignored)."""
        t = np.asarray(t, dtype=np.float64)
        centre = float(t.mean()) if len(t) else 0.0
        scale = float(t.std()) if len(t) > 1 and t.std() > 0 else 1.0
        tc = _standard_time(t, centre, scale)[:, None]
        finite = np.isfinite(rows)
        count = finite.sum(0)
        x = np.where(finite, rows, 0.0)
        mean_t = (tc * finite).sum(0) / np.maximum(count, 1)
        mean_x = x.sum(0) / np.maximum(count, 1)
        dt = np.where(finite, tc - mean_t, 0.0)
        var = (dt * dt).sum(0)
        cov = (dt * np.where(finite, x - mean_x, 0.0)).sum(0)
        ok = (count >= 3) & (var > 1e-12)
        slopes = np.where(ok, cov / np.where(ok, var, 1.0), 0.0)
        return cls(centre, scale, slopes)

    def remove(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``rows`` of the same person (windows at times ``t``) without the trend (NaN stays
        NaN; the mean over the recording is kept)."""
        return rows - _standard_time(t, self.centre, self.scale)[:, None] * self.slopes


def detrend_gain(gains: np.ndarray) -> dict:
    """``auto``'s decision from the held-out training people's gains (macro-F1 with the
    trends removed minus without): ``{"detrend": bool, "gain": mean, "standard_error": se}``."""
    gains = np.asarray(gains, dtype=np.float64)
    if len(gains) < 2:
        return {
            "detrend": False,
            "gain": float(gains.mean()) if len(gains) else 0.0,
            "standard_error": float("nan"),
        }
    mean = float(gains.mean())
    se = float(gains.std(ddof=1) / np.sqrt(len(gains)))
    return {
        "detrend": bool(mean > DETREND_MARGIN * se and mean > 0),
        "gain": mean,
        "standard_error": se,
    }


def detrend_share(gain: float, standard_error: float) -> float:
    """``soft``'s share of the detrended experts, from the mean gain and its standard error
    (:func:`detrend_gain`): 0 up to ``SOFT_BAND[0]`` standard errors, 1 from ``SOFT_BAND[1]``,
    linear between; 0 without a standard error or a positive gain."""
    if not np.isfinite(standard_error) or gain <= 0:
        return 0.0
    if standard_error <= 0:
        return 1.0
    low, high = SOFT_BAND
    return float(np.clip((gain / standard_error - low) / (high - low), 0.0, 1.0))

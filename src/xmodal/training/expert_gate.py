"""A gate over per-sensor experts learned on the fold's own people (``experts-gate``).

Which sensor carries a new person's response cannot be read from labels at test time, but how
each sensor's expert behaves on the person's unlabelled recording says something about it. The
gate learns that relation on the people a fold trains on:

1. **Cross-fitting.** For each training person, the per-sensor experts are fitted on the other
   training people; they predict the held-out person's whole recording (no label read) and
   are scored (macro-F1) on that person's labelled windows.
2. **Label-free statistics** of each expert's class probabilities over a recording, in time
   order (:func:`expert_statistics`): the mutual information between window and class, the
   lag-1 autocorrelation of the probabilities (a response follows the protocol's blocks of
   minutes, noise does not) and how often its most probable class agrees with the other
   sensors' experts.
3. **A ridge regression** from the standardised statistics to each expert's macro-F1 relative
   to the mean over that person's experts (:class:`ExpertGate`).
4. On a new person the experts are weighted ``softmax(predicted / temperature)``. The
   temperature is the gate's own root-mean-square error when it predicts training people it
   was not fitted on (leave one person out): a gate that predicts poorly weighs softly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge

from xmodal.training.adaptation import mutual_information

#: the columns :func:`expert_statistics` returns, in order
EXPERT_STATISTICS = ("mutual_information", "autocorrelation", "agreement")
#: fewest people the gate is fitted on (each needs at least two others to cross-fit)
MIN_GATE_PEOPLE = 3
#: ridge penalty on the standardised statistics
RIDGE_ALPHA = 1.0


def _autocorrelation(proba: np.ndarray) -> float:
    centred = proba - proba.mean(0)
    energy = float((centred * centred).sum())
    return float((centred[1:] * centred[:-1]).sum()) / energy if energy > 1e-12 else 0.0


def expert_statistics(probas: list[np.ndarray]) -> np.ndarray:
    """Label-free statistics ``(n_experts, 3)`` (:data:`EXPERT_STATISTICS`) of experts' class
    probabilities ``(n_windows, n_classes)`` over one recording, windows in time order."""
    if len(probas) < 2:
        raise ValueError("expert statistics need at least two experts")
    votes = [p.argmax(1) for p in probas]
    rows = []
    for i, proba in enumerate(probas):
        agreement = np.mean([(votes[i] == votes[j]).mean() for j in range(len(probas)) if j != i])
        rows.append([mutual_information(proba), _autocorrelation(proba), float(agreement)])
    return np.asarray(rows, dtype=np.float64)


@dataclass
class ExpertGate:
    """Weights of per-sensor experts from their statistics on one person's recording.

    Attributes
    ----------
    mean, scale : numpy.ndarray
        Standardisation of the statistics (over the training rows).
    coef : numpy.ndarray
        Ridge coefficients on the standardised statistics.
    intercept : float
        Ridge intercept.
    temperature : float
        Softmax temperature: the leave-one-person-out root-mean-square error.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    temperature: float

    @classmethod
    def fit(cls, statistics: list[np.ndarray], scores: list[np.ndarray]) -> ExpertGate:
        """Fit on people: one ``(n_experts, 3)`` statistics array and one macro-F1 per expert
        for each (at least :data:`MIN_GATE_PEOPLE`)."""
        if len(statistics) < MIN_GATE_PEOPLE or len(statistics) != len(scores):
            raise ValueError(f"the gate needs at least {MIN_GATE_PEOPLE} people")
        x = np.concatenate(statistics)
        y = np.concatenate([s - s.mean() for s in scores])
        person = np.repeat(np.arange(len(statistics)), [len(s) for s in statistics])
        mean, scale = x.mean(0), x.std(0) + 1e-9
        z = (x - mean) / scale
        errors = []
        for held_out in range(len(statistics)):
            mine = person == held_out
            ridge = Ridge(alpha=RIDGE_ALPHA).fit(z[~mine], y[~mine])
            errors.append(ridge.predict(z[mine]) - y[mine])
        temperature = max(float(np.sqrt(np.mean(np.concatenate(errors) ** 2))), 1e-3)
        ridge = Ridge(alpha=RIDGE_ALPHA).fit(z, y)
        return cls(mean, scale, ridge.coef_.copy(), float(ridge.intercept_), temperature)

    def scores(self, statistics: np.ndarray) -> np.ndarray:
        """Predicted macro-F1 of each expert relative to the others' mean."""
        return ((statistics - self.mean) / self.scale) @ self.coef + self.intercept

    def weights(self, statistics: np.ndarray) -> np.ndarray:
        """The experts' weights (summing to 1) from their statistics on one recording."""
        score = self.scores(statistics) / self.temperature
        w = np.exp(score - score.max())
        return w / w.sum()

    def to_dict(self) -> dict:
        """JSON-ready parameters (:meth:`from_dict` reads them back)."""
        return {
            "statistics": list(EXPERT_STATISTICS),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "temperature": self.temperature,
        }

    @classmethod
    def from_dict(cls, record: dict) -> ExpertGate:
        """The gate saved by :meth:`to_dict`; ValueError/KeyError/TypeError if malformed."""
        if list(record["statistics"]) != list(EXPERT_STATISTICS):
            raise ValueError(f"gate statistics {record['statistics']} are not {EXPERT_STATISTICS}")
        arrays = [np.asarray(record[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(EXPERT_STATISTICS),) for a in arrays):
            raise ValueError("gate arrays have the wrong shape")
        return cls(*arrays, float(record["intercept"]), float(record["temperature"]))

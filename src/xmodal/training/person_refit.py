"""Per-sensor classifiers refitted on the person being scored (``--person-refit``).

The experts of a person blend (``experts-mi``, ``experts-gate``) are fitted on other people, so
a sensor whose response in this person differs in size or direction from the population's is
read through the population's boundary. The refit learns the person's own boundary from the
person's unlabelled recording, with the blend as teacher:

1. the blend's most probable class for every window of the person's recording is the
   pseudo-label (no label is read);
2. for each sensor, a shrinkage LDA (Ledoit-Wolf, no parameter) is fitted on the sensor's
   features of those windows, standardised over the person's recording, to the pseudo-labels;
3. each sensor's refit is weighted ``softmax(agreement / REFIT_TEMPERATURE)``, where
   ``agreement`` is how often its refit, cross-fitted over :data:`REFIT_FOLDS` interleaved folds
   of the windows, predicts the pseudo-label of windows it was not fitted on: a sensor that
   carries the person's states reproduces them, a silent one does not;
4. the person's probabilities are ``(1 - REFIT_SHARE) * blend + REFIT_SHARE * refits``.

Like the blend's weights it reads the whole recording of the person scored (in a LOSO fold the
test subject's, in ``xmodal predict`` the recording predicted). With fewer than
:data:`~xmodal.training.adaptation.MIN_WINDOWS` windows, or pseudo-labels of one class, the
blend is returned unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from xmodal.models.features import predict_classifier
from xmodal.models.shrinkage_lda import ShrinkageLDA
from xmodal.training.adaptation import MIN_WINDOWS

#: interleaved folds (window ``i`` in fold ``i % REFIT_FOLDS``) that score each sensor's refit
REFIT_FOLDS = 5
#: softmax temperature on the sensors' agreement (a share of windows, 0-1)
REFIT_TEMPERATURE = 0.1
#: the refits' share of the person's probabilities (the blend keeps the rest)
REFIT_SHARE = 0.5


def _standardiser(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of each column over the person's rows (NaN ignored; constant or
    all-NaN columns get mean 0 and scale 1, so they standardise to 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        mean = np.nanmean(rows, axis=0)
        scale = np.nanstd(rows, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
    return mean, scale


def _standardised(rows: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.nan_to_num((rows - mean) / scale)


def _fit(x: np.ndarray, labels: np.ndarray) -> ShrinkageLDA:
    return ShrinkageLDA().fit(x, labels)


@dataclass(frozen=True)
class PersonRefit:
    """The sensors' classifiers refitted on one person's recording (:func:`refit_person`).

    Attributes
    ----------
    sensors : dict
        Each sensor's feature columns.
    weights : dict
        Each sensor's weight (sums to 1).
    classifiers : dict
        Each sensor's LDA, fitted on the person's standardised rows.
    mean, scale : numpy.ndarray
        The person's standardisation of every feature column.
    n_classes : int
    """

    sensors: dict[str, np.ndarray]
    weights: dict[str, float]
    classifiers: dict[str, ShrinkageLDA]
    mean: np.ndarray
    scale: np.ndarray
    n_classes: int

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """The weighted refits' class probabilities ``(n, n_classes)`` of feature rows of the
        same person."""
        z = _standardised(rows, self.mean, self.scale)
        return sum(
            self.weights[name]
            * predict_classifier(self.classifiers[name], z[:, cols], self.n_classes)
            for name, cols in self.sensors.items()
        )


def refit_person(
    rows: np.ndarray, proba: np.ndarray, sensors: Mapping[str, np.ndarray]
) -> PersonRefit | None:
    """Refit each sensor's classifier on one person's recording.

    Parameters
    ----------
    rows : numpy.ndarray
        ``(n, n_features)`` feature rows of every window of the person's recording.
    proba : numpy.ndarray
        ``(n, n_classes)`` the blend's class probabilities of the same windows (the teacher).
    sensors : mapping of str to numpy.ndarray
        Each sensor's feature columns.

    Returns
    -------
    PersonRefit or None
        None with fewer than ``MIN_WINDOWS`` windows, no sensor, or pseudo-labels of one class.
    """
    n, n_classes = proba.shape
    labels = proba.argmax(1)
    if n < MIN_WINDOWS or not sensors or len(np.unique(labels)) < 2:
        return None
    mean, scale = _standardiser(rows)
    z = _standardised(rows, mean, scale)
    fold = np.arange(n) % REFIT_FOLDS
    agreement = []
    for cols in sensors.values():
        held_out = np.empty(n, dtype=np.int64)
        for k in range(REFIT_FOLDS):
            test, train = fold == k, fold != k
            if len(np.unique(labels[train])) < 2:  # the other folds hold one class
                held_out[test] = labels[train][0]
                continue
            lda = _fit(z[train][:, cols], labels[train])
            held_out[test] = predict_classifier(lda, z[test][:, cols], n_classes).argmax(1)
        agreement.append(float(np.mean(held_out == labels)))
    logits = (np.asarray(agreement) - max(agreement)) / REFIT_TEMPERATURE
    weights = np.exp(logits) / np.exp(logits).sum()
    return PersonRefit(
        sensors={name: np.asarray(cols) for name, cols in sensors.items()},
        weights={name: float(w) for name, w in zip(sensors, weights)},
        classifiers={name: _fit(z[:, cols], labels) for name, cols in sensors.items()},
        mean=mean,
        scale=scale,
        n_classes=n_classes,
    )


def refined(refit: PersonRefit | None, rows: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """``proba`` of a person's windows (their feature ``rows``) with the person's refit mixed
    in at :data:`REFIT_SHARE`; unchanged without a refit."""
    if refit is None:
        return proba
    return (1.0 - REFIT_SHARE) * proba + REFIT_SHARE * refit.predict(rows)

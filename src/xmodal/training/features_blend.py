"""The hybrid of a network and the classical pipeline (``--features-blend``).

A fold's network and Schmidt et al.'s features classifier (:mod:`xmodal.models.features`) are
trained on the same fold; the output averages their class probabilities,
``w * p_network + (1 - w) * p_features``. The two fail on different people: the network
learns from the raw waveforms of the sensors it reads, the features summarise every sensor of
the window (TEMP and ACC included, which hurt the networks when fused as streams). The
features may read more sensors than the network (``--network-modalities``).

``equal``
    ``w = 0.5``, nothing selected.
``val``
    ``w`` from :data:`BLEND_WEIGHTS`, the one with the lowest log-loss on the fold's inner
    validation subjects (the network's validation probabilities before any test-time
    adaptation; the features classifier fitted on the training subjects only). Ties go to
    the weight nearest 0.5. Without validation subjects (``--final``) ``w = 0.5``.

In both modes the features classifier is then refitted on the training and validation
subjects together, as the ``features`` model is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from xmodal.errors import DataError
from xmodal.files import atomic_write_json, read_json
from xmodal.models.features import features_of, fit_classifier, predict_classifier
from xmodal.models.features_arrays import load_classifier, save_classifier
from xmodal.signals.windows import WindowSet

#: network shares ``w`` that ``val`` chooses from
BLEND_WEIGHTS = tuple(round(0.1 * k, 1) for k in range(11))
#: a hybrid fold's features half: weight, parameters and importances (JSON) ...
BLEND_FILE = "features_blend.json"
#: ... and the fitted classifier as arrays (:mod:`xmodal.models.features_arrays`)
CLASSIFIER_FILE = "features_classifier.npz"


def choose_weight(labels: np.ndarray, network: np.ndarray, features: np.ndarray) -> tuple:
    """The network share of :data:`BLEND_WEIGHTS` whose blend has the lowest log-loss on
    ``labels`` (ties: nearest 0.5), and the log-loss of every share.

    The log-loss scores every window's probability, not only which class wins, so with one or
    two validation subjects it varies less between folds than an accuracy-type score would."""
    rows = np.arange(len(labels))
    losses = {}
    for w in BLEND_WEIGHTS:
        proba = w * network[rows, labels] + (1 - w) * features[rows, labels]
        losses[w] = float(-np.mean(np.log(np.clip(proba, 1e-6, 1.0))))
    best = min(losses.values())
    weight = min((w for w, v in losses.items() if v <= best + 1e-12), key=lambda w: abs(w - 0.5))
    return weight, losses


class FeaturesBlend:
    """The features half of a hybrid fold model.

    Parameters
    ----------
    mode : str
        ``equal`` or ``val`` (see the module).
    classifier : str
        The features classifier (``rf`` or ``lda``: those saved as arrays).
    """

    def __init__(self, mode: str, classifier: str = "rf") -> None:
        self.mode = mode
        self.classifier = classifier
        self.weight = 0.5
        self._pipeline = None
        self.info: dict = {}

    def fit(
        self,
        train: WindowSet,
        validation: WindowSet | None,
        network_proba: Callable[[WindowSet], np.ndarray],
        seed: int = 0,
    ) -> dict:
        """Choose the weight (``val``), then fit the classifier on every labelled window of
        the fold; return the record ``{"weight": ..., "validation_log_loss": {...}}``."""
        n_classes = len(train.classes)
        scores: dict = {}
        has_val = validation is not None and len(validation) > 0
        if self.mode == "val" and has_val:
            pipeline, _, _ = fit_classifier(
                self.classifier, features_of(train)[0], train.labels, n_classes, seed
            )
            features = predict_classifier(pipeline, features_of(validation)[0], n_classes)
            self.weight, scores = choose_weight(
                validation.labels, network_proba(validation), features
            )
        # the feature rows and labels of every labelled window, not a copy of the windows
        parts = [train, validation] if has_val else [train]
        x = np.concatenate([features_of(part)[0] for part in parts])
        labels = np.concatenate([part.labels for part in parts])
        names = features_of(train)[1]
        self._pipeline, info, _ = fit_classifier(self.classifier, x, labels, n_classes, seed)
        self.info = {**info, "feature_names": names}
        return {
            "weight": self.weight,
            "mode": self.mode,
            "validation_log_loss": {str(w): round(s, 4) for w, s in scores.items()},
        }

    def blend(self, windows: WindowSet, network: np.ndarray) -> np.ndarray:
        """``weight * network + (1 - weight) * features`` for the windows (all modalities)."""
        if len(windows) == 0:
            return network
        return self.blend_rows(features_of(windows)[0], network)

    def blend_rows(self, features: np.ndarray, network: np.ndarray) -> np.ndarray:
        """:meth:`blend` from the windows' feature rows."""
        proba = predict_classifier(self._pipeline, features, network.shape[1])
        return self.weight * network + (1.0 - self.weight) * proba

    def save(self, folder: Path) -> None:
        """Write :data:`BLEND_FILE` (weight, parameters, importances) and
        :data:`CLASSIFIER_FILE` (the classifier as arrays, no pickle) into ``folder``."""
        atomic_write_json(
            Path(folder) / BLEND_FILE,
            {**self.info, "weight": self.weight, "mode": self.mode, "classifier": self.classifier},
        )
        save_classifier(Path(folder) / CLASSIFIER_FILE, self._pipeline)

    @classmethod
    def load(cls, folder: Path) -> FeaturesBlend:
        """The features half saved in ``folder`` by :meth:`save`; DataError if absent or
        damaged."""
        path = Path(folder) / BLEND_FILE
        try:
            record = read_json(path)
            blend = cls(str(record["mode"]), str(record["classifier"]))
            blend.weight = float(record["weight"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: cannot read the hybrid's features half ({exc})") from None
        blend.info = record
        blend._pipeline = load_classifier(Path(folder) / CLASSIFIER_FILE)
        return blend

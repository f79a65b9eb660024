"""A fitted features classifier as plain arrays: saved with ``np.savez`` and read back with
``allow_pickle=False``, so a run folder never holds a pickle.

scikit-learn has no safe format of its own (its estimators are pickled). The two classifiers a
hybrid uses reduce to arrays: the random forest to its trees (children, split feature and
threshold, leaf class fractions) and LDA to its linear decision function. AdaBoost is not
saved. :class:`ArrayClassifier` predicts from the arrays exactly as the fitted pipeline does
(tested to float64 rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xmodal.config import SAVABLE_FEATURES_MODELS
from xmodal.errors import DataError
from xmodal.files import atomic_write_bytes
from xmodal.models.shrinkage_lda import ImputedShrinkageLDA


def classifier_arrays(pipeline) -> dict[str, np.ndarray]:
    """The arrays of a fitted median-imputation + random forest pipeline or
    :class:`~xmodal.models.shrinkage_lda.ImputedShrinkageLDA`
    (:func:`~xmodal.models.features.make_estimator`)."""
    classes = np.asarray(pipeline.classes_, dtype=np.int64)
    if isinstance(pipeline, ImputedShrinkageLDA):
        return {
            "classes": classes,
            "medians": np.asarray(pipeline.medians_, dtype=np.float64),
            "kind": np.array("lda"),
            "mean": np.asarray(pipeline.mean_, dtype=np.float64),
            "scale": np.asarray(pipeline.scale_, dtype=np.float64),
            "coef": np.asarray(pipeline.lda_.coef_, dtype=np.float64),
            "intercept": np.asarray(pipeline.lda_.intercept_, dtype=np.float64),
        }
    steps = dict(pipeline.steps)
    out = {
        "classes": classes,
        "medians": np.asarray(steps["simpleimputer"].statistics_, dtype=np.float64),
    }
    if "randomforestclassifier" in steps:
        trees = [t.tree_ for t in steps["randomforestclassifier"].estimators_]
        sizes = np.array([t.node_count for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        left = [
            np.where(t.children_left >= 0, t.children_left + o, -1) for t, o in zip(trees, offsets)
        ]
        right = [
            np.where(t.children_right >= 0, t.children_right + o, -1)
            for t, o in zip(trees, offsets)
        ]
        values = [t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True) for t in trees]
        out.update(
            kind=np.array("rf"),
            roots=offsets.astype(np.int64),
            left=np.concatenate(left).astype(np.int64),
            right=np.concatenate(right).astype(np.int64),
            feature=np.concatenate([t.feature for t in trees]).astype(np.int64),
            threshold=np.concatenate([t.threshold for t in trees]).astype(np.float64),
            value=np.concatenate(values).astype(np.float64),
        )
    else:
        raise ValueError(f"cannot save {pipeline.steps[-1][0]} as arrays; savable: rf, lda")
    return out


class ArrayClassifier:
    """Predict with the arrays of :func:`classifier_arrays` (``classes_`` and
    ``predict_proba`` as the fitted pipeline's)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.kind = str(arrays["kind"])
        self.classes_ = arrays["classes"]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, len(classes_))`` of feature rows ``x`` (NaN imputed)."""
        a = self.arrays
        x = np.where(np.isnan(x), a["medians"][None, :], np.asarray(x, dtype=np.float64))
        if self.kind == "lda":
            z = (x - a["mean"]) / a["scale"] @ a["coef"].T + a["intercept"]
            if a["coef"].shape[0] == 1:  # binary: the logistic of one decision value
                p = 1.0 / (1.0 + np.exp(-z[:, 0]))
                return np.column_stack([1.0 - p, p])
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)
        # the forest: walk every tree down to its leaf, average the leaves' class fractions
        x32 = x.astype(np.float32).astype(np.float64)  # scikit-learn splits on float32 inputs
        rows = np.arange(len(x))
        total = np.zeros((len(x), a["value"].shape[1]))
        for root in a["roots"]:
            node = np.full(len(x), root)
            inner = a["left"][node] >= 0
            while inner.any():
                at = node[inner]
                go_left = x32[rows[inner], a["feature"][at]] <= a["threshold"][at]
                node[inner] = np.where(go_left, a["left"][at], a["right"][at])
                inner = a["left"][node] >= 0
            total += a["value"][node]
        return total / len(a["roots"])


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(Path(path), buffer.getvalue())


def save_classifier(path: Path, pipeline) -> None:
    """Write a fitted pipeline's arrays to ``path`` (``.npz``, atomically)."""
    _write_arrays(path, classifier_arrays(pipeline))


def save_classifiers(path: Path, pipelines: Sequence) -> None:
    """Write several fitted pipelines to one ``.npz`` (keys ``expert<i>.<array>``)."""
    _write_arrays(
        path,
        {
            f"expert{i}.{key}": value
            for i, pipeline in enumerate(pipelines)
            for key, value in classifier_arrays(pipeline).items()
        },
    )


def _checked(path: Path, arrays: dict[str, np.ndarray]) -> ArrayClassifier:
    if str(arrays.get("kind", "")) not in SAVABLE_FEATURES_MODELS or "classes" not in arrays:
        raise DataError(f"{path}: not a saved features classifier (no kind or classes)")
    return ArrayClassifier(arrays)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a saved features classifier ({exc})") from None


def load_classifier(path: Path) -> ArrayClassifier:
    """Read :func:`save_classifier`'s file (no pickle); DataError if it is not one."""
    return _checked(path, _read_arrays(path))


def load_classifiers(path: Path, count: int) -> list[ArrayClassifier]:
    """Read the ``count`` classifiers of :func:`save_classifiers`'s file (no pickle);
    DataError if it does not hold them."""
    arrays = _read_arrays(path)
    out = []
    for i in range(count):
        prefix = f"expert{i}."
        out.append(
            _checked(path, {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        )
    return out

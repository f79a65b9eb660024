"""The Python API: load_dataset, XModalClassifier in scikit-learn, run_experiment, benchmark."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import LeaveOneGroupOut, cross_validate

import xmodal
from xmodal.cli import main

#: a tiny, fast configuration shared by the command line and the classifier
SETTINGS = dict(epochs=2, val_subjects=1, ensemble=1, precision="fp32", seed=3, adapt="none")
FLAGS = ["--epochs", "2", "--val-subjects", "1", "--ensemble", "1", "--precision", "fp32"]
FLAGS += ["--seed", "3", "--train-stride", "10", "--adapt", "none", "--quiet"]
# the command line weighs experts-mi's experts on the whole recording, the API on the windows
# it is given: the two agree exactly with a blend that reads no recording
EQUAL_BLEND = {"model": {"features_blend": "equal"}}


@pytest.fixture(scope="module")
def dataset(tiny_wesad, tmp_path_factory):
    cache = tmp_path_factory.mktemp("api-cache")
    return xmodal.load_dataset(tiny_wesad, config={"data": {"cache_dir": str(cache)}})


def test_load_dataset_gives_the_windows_of_xmodal_train(dataset):
    assert len(dataset.subjects) == 4 and dataset.all_subjects == tuple(dataset.subjects)
    assert dataset.modalities == ["chest.ECG", "chest.EDA"]
    assert dataset.classes == ("baseline", "stress", "amusement")
    assert len(dataset) == len(dataset.y) == len(dataset.groups) > 0
    assert {m: x.shape[1:] for m, x in dataset.X.items()} == {
        "chest.ECG": (1, 2560),
        "chest.EDA": (1, 160),
    }
    part = dataset[np.flatnonzero(dataset.groups == dataset.subjects[0])]
    assert part.subjects == dataset.subjects[:1] and part.all_subjects == dataset.all_subjects


def test_cross_val_score_matches_xmodal_train(dataset, tiny_wesad, tmp_path):
    """Leave-one-subject-out through scikit-learn gives the folds of ``xmodal train``: the same
    inner validation subjects, seeds, and so the same probabilities and scores (fp32)."""
    out = tmp_path / "run"
    argv = ["train", str(tiny_wesad), "--out", str(out), *FLAGS, "--model", "attentive"]
    argv += ["--features-blend", "equal"]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    folds = [json.loads(p.read_text()) for p in sorted((out / "folds").glob("*/fold.json"))]
    clf = xmodal.XModalClassifier("attentive", **SETTINGS, config=EQUAL_BLEND)
    cv = cross_validate(
        clf,
        dataset,
        dataset.y,
        groups=dataset.groups,
        cv=LeaveOneGroupOut(),
        return_estimator=True,
        return_indices=True,
    )
    assert len(folds) == len(cv["test_score"]) == 4
    for fold, score, fitted, test in zip(
        folds, cv["test_score"], cv["estimator"], cv["indices"]["test"]
    ):
        assert fitted.val_subjects_ == fold["val_subjects"]
        assert abs(score - fold["accuracy"]) < 1e-5
        proba = fitted.predict_proba(dataset[test])
        np.testing.assert_allclose(proba, fold["predictions"]["proba"], atol=1e-5)


def test_parameters_clone_and_arrays(dataset):
    clf = xmodal.XModalClassifier("late-fusion", epochs=1, val_subjects=0, ensemble=1)
    params = clf.get_params()
    assert params["model"] == "late-fusion" and params["config"] is None
    twin = clone(clf)
    assert twin.get_params() == params and not hasattr(twin, "estimator_")
    assert clf.set_params(lr=0.01) is clf and clf.lr == 0.01
    # X as a mapping of modality to arrays, labels of any kind, no subjects
    X = {m: x[:60] for m, x in dataset.X.items()}
    y = np.array(dataset.classes)[dataset.y[:60]]
    clf.fit(X, y)
    assert clf.get_params() == {**params, "lr": 0.01}  # fitting changes no parameter
    assert set(clf.predict(X)) <= set(y)
    proba = clf.predict_proba(X)
    assert proba.shape == (60, len(clf.classes_)) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert list(clf.class_names_) == sorted(set(y))
    with pytest.raises(ValueError, match="modalities"):
        clf.predict({"chest.ECG": X["chest.ECG"]})


def test_classifier_rejects_unknown_model_and_too_few_subjects(dataset):
    with pytest.raises(xmodal.XmodalError, match="unknown model 'nope'"):
        xmodal.XModalClassifier("nope").fit(dataset)
    one = dataset[np.flatnonzero(dataset.groups == dataset.subjects[0])]
    with pytest.raises(ValueError, match="inner validation"):
        xmodal.XModalClassifier(val_subjects=1, epochs=1, ensemble=1).fit(one)


def test_import_xmodal_is_light():
    code = (
        "import sys, xmodal; assert 'torch' not in sys.modules; "
        "assert set(xmodal.__all__) >= {'XModalClassifier', 'load_dataset', 'register_model'}"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_features_model_matches_xmodal_train(tiny_wesad, tmp_path):
    """The ``features`` baseline (no inner validation: those subjects join training) gives the
    per-fold scores of ``xmodal train --model features`` too."""
    windows = ["--window", "20", "--stride", "20", "--train-stride", "20"]
    out, cache = tmp_path / "run", str(tmp_path / "cache")
    argv = ["train", str(tiny_wesad), "--out", str(out), "--model", "features", *windows]
    assert main([*argv, "--cache-dir", cache, "--seed", "3", "--quiet"]) == 0
    folds = [json.loads(p.read_text()) for p in sorted((out / "folds").glob("*/fold.json"))]
    data = xmodal.load_dataset(
        tiny_wesad, window=20, stride=20, config={"data": {"cache_dir": cache}}
    )
    clf = xmodal.XModalClassifier("features", seed=3)
    cv = cross_validate(clf, data, data.y, cv=LeaveOneGroupOut(), groups=data.groups)
    assert [f["accuracy"] for f in folds] == pytest.approx(list(cv["test_score"]), abs=1e-5)


def test_grid_search_over_a_setting(dataset):
    from sklearn.model_selection import GridSearchCV, GroupKFold

    clf = xmodal.XModalClassifier("late-fusion", epochs=1, ensemble=1, val_subjects=1)
    search = GridSearchCV(clf, {"lr": [1e-3, 3e-3]}, cv=GroupKFold(n_splits=2))
    search.fit(dataset, dataset.y, groups=dataset.groups)
    assert search.best_params_["lr"] in (1e-3, 3e-3) and clf.lr is None
    assert search.predict(dataset).shape == (len(dataset),)

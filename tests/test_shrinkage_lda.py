"""ShrinkageLDA computes scikit-learn's shrinkage LDA (lsqr, Ledoit-Wolf) to float64 rounding,
and ImputedShrinkageLDA the median-imputation + scaler + LDA pipeline."""

import warnings

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xmodal.models.shrinkage_lda import ImputedShrinkageLDA, ShrinkageLDA, ledoit_wolf_covariance


def _sklearn(x, y, priors=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns on a one-sample class
        return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=priors).fit(x, y)


@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("equal_priors", [False, True])
def test_matches_scikit_learn(n_classes, equal_priors):
    rng = np.random.default_rng(n_classes)
    for _ in range(20):
        n, p = int(rng.integers(n_classes * 2, 300)), int(rng.integers(1, 20))
        x = rng.standard_normal((n, p)) * rng.uniform(0.01, 100, p) + rng.standard_normal(p)
        x[:, 0] = 3.0 if p > 2 else x[:, 0]  # a constant column
        y = np.arange(n) % n_classes
        y[n_classes:] = rng.integers(0, n_classes, n - n_classes)
        priors = np.full(n_classes, 1.0 / n_classes) if equal_priors else None
        ours, theirs = ShrinkageLDA(priors=priors).fit(x, y), _sklearn(x, y, priors)
        x_new = rng.standard_normal((40, p)) * 10
        np.testing.assert_allclose(ours.covariance_, theirs.covariance_, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(
            ours.predict_proba(x_new), theirs.predict_proba(x_new), atol=1e-9
        )
        np.testing.assert_array_equal(ours.predict(x_new), theirs.predict(x_new))
        assert ours.coef_.shape == theirs.coef_.shape
        assert ours.intercept_.shape == theirs.intercept_.shape


def test_a_one_sample_class_and_labels_that_are_not_0_to_k():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((30, 4))
    y = np.where(np.arange(30) == 0, 7, np.where(np.arange(30) % 2, 3, 5))
    ours, theirs = ShrinkageLDA().fit(x, y), _sklearn(x, y)
    np.testing.assert_array_equal(ours.classes_, [3, 5, 7])
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), atol=1e-9)


def test_the_covariance_shrinks_towards_the_identity_with_few_windows():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 6)) @ rng.standard_normal((6, 6))
    shrunk = ledoit_wolf_covariance(x)
    empirical = np.cov(x.T, bias=True)
    assert np.linalg.cond(shrunk) < np.linalg.cond(empirical)
    np.testing.assert_allclose(np.diag(shrunk), np.diag(empirical), rtol=1e-9)  # variances kept


def test_one_class_gets_probability_one():
    x = np.random.default_rng(1).standard_normal((6, 2))
    np.testing.assert_array_equal(ShrinkageLDA().fit(x, np.full(6, 4)).predict_proba(x), 1.0)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_imputed_pipeline_matches_scikit_learns(n_classes):
    rng = np.random.default_rng(10 + n_classes)
    for _ in range(20):
        n, p = int(rng.integers(n_classes * 3, 200)), int(rng.integers(3, 15))
        x = rng.standard_normal((n, p)) * rng.uniform(0.01, 100, p) + rng.standard_normal(p)
        x[rng.random((n, p)) < 0.1] = np.nan
        x[:, 0] = np.nan  # a column with no value: imputed as 0
        x[:, 1] = 2.5  # a constant column: scale 1
        y = np.arange(n) % n_classes
        priors = np.full(n_classes, 1.0 / n_classes)
        ours = ImputedShrinkageLDA(priors).fit(x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = make_pipeline(
                SimpleImputer(strategy="median", keep_empty_features=True),
                StandardScaler(),
                LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=priors),
            ).fit(x, y)
        x_new = rng.standard_normal((40, p)) * 10
        x_new[rng.random(x_new.shape) < 0.2] = np.nan
        imputer, scaler = theirs.steps[0][1], theirs.steps[1][1]
        np.testing.assert_allclose(ours.medians_, imputer.statistics_, atol=1e-12)
        np.testing.assert_allclose(ours.mean_, scaler.mean_, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ours.scale_, scaler.scale_, rtol=1e-9)
        np.testing.assert_allclose(
            ours.predict_proba(x_new), theirs.predict_proba(x_new), atol=1e-9
        )
        np.testing.assert_array_equal(ours.predict(x_new), theirs.predict(x_new))

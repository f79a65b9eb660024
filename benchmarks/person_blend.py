"""The person blend's features half: the shrinkage LDAs it fits, in closed form against
scikit-learn's, the whole features classifier (median imputation, scaler, LDA) in numpy against
scikit-learn's pipeline of the same steps, and the time of one fold's trend decision (``--features-detrend auto``, which
holds out each training person in turn and refits the experts and the person refits each time).

Single thread, synthetic feature rows of the sizes of a WESAD fold (windows per person, nine
features per sensor, four wrist sensors)."""

from __future__ import annotations

import warnings

import numpy as np

from benchmarks.common import best_time, load_avg, with_threads


def _rows(people: int, windows: int, seed: int = 0):
    """Feature rows of ``people`` people, three classes in blocks, four sensors of nine
    columns (two respond, one drifts, one is noise)."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.repeat([0, 1, 2], windows // 3), people)
    n = len(labels)
    t = np.tile(np.arange(windows // 3 * 3) * 10.0, people)
    x = rng.standard_normal((n, 36))
    x[:, :9] += labels[:, None] * rng.uniform(0.2, 1.0, 9)
    x[:, 9:18] += (labels == 1)[:, None] * rng.uniform(0.2, 1.0, 9)
    x[:, 18:27] += (t / t.max())[:, None] * 2.0
    subjects = np.repeat([f"S{i}" for i in range(people)], windows // 3 * 3)
    return x, labels, subjects, t


def measure_person_blend(quick: bool) -> dict:
    """ms per LDA fit (scikit-learn and closed form, the cross-fit's size and a person refit's),
    per features-classifier fit (scikit-learn's pipeline and numpy) and seconds of one fold's features half with the trend decision."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xmodal.models.shrinkage_lda import ImputedShrinkageLDA, ShrinkageLDA
    from xmodal.training.features_blend import (
        FeaturesBlend,
        _people_rows,
        _without_trends,
        sensor_columns,
    )
    from xmodal.training.person_trend import PersonTrend

    people, windows = (5, 60) if quick else (14, 150)
    repeats = 3 if quick else 20
    x, labels, subjects, t = _rows(people, windows)
    out: dict = {"people": people, "windows_per_person": windows, "load_avg_start": load_avg()}
    sizes = {"experts": (x[:, :9], labels), "refit": (x[:windows, :9], labels[:windows])}
    for name, (rows, y) in sizes.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = with_threads(
                1,
                lambda: best_time(
                    lambda: LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(
                        rows, y
                    ),
                    repeats,
                ),
            )
        ours = with_threads(1, lambda: best_time(lambda: ShrinkageLDA().fit(rows, y), repeats))
        out[f"lda_{name}_ms"] = {
            "scikit_learn": sk * 1e3,
            "closed_form": ours * 1e3,
            "speedup": sk / ours,
            "rows": len(rows),
        }
    # the whole features classifier: median imputation, scaler and LDA
    rows, y = sizes["experts"]
    rows = np.where(np.random.default_rng(1).random(rows.shape) < 0.05, np.nan, rows)
    priors = np.full(3, 1.0 / 3)

    def sklearn_pipeline():
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            ShrinkageLDA(priors),
        ).fit(rows, y)

    sk = with_threads(1, lambda: best_time(sklearn_pipeline, repeats))
    ours = with_threads(
        1, lambda: best_time(lambda: ImputedShrinkageLDA(priors).fit(rows, y), repeats)
    )
    out["pipeline_experts_ms"] = {
        "scikit_learn": sk * 1e3,
        "numpy": ours * 1e3,
        "speedup": sk / ours,
        "rows": len(rows),
    }
    names = [f"wrist.{s}.f{j}" for s in ("BVP", "EDA", "TEMP", "ACC") for j in range(9)]
    blend = FeaturesBlend("experts-mi", "lda", refit=True, detrend="auto")
    blend.sensors = sensor_columns(names, ["wrist.BVP", "wrist.EDA", "wrist.TEMP", "wrist.ACC"])
    people_rows = _people_rows(x, subjects, t, None)
    trends = {p: PersonTrend.fit(r, s) for p, (r, s) in people_rows.items()}
    flat = _without_trends(x, subjects, t, trends)

    def fit() -> None:  # the held-out people's experts and refits, with and without trends
        blend._choose_detrend(x, flat, labels, subjects, people_rows, trends, 3, 0)

    out["trend_decision_s"] = with_threads(1, lambda: best_time(fit, 1))
    out["load_avg_end"] = load_avg()
    return out

"""The classical WESAD pipeline (Schmidt et al., ICMI 2018): hand-crafted window features and
scikit-learn classifiers (``--model features --features-model rf|lda|adaboost``).

Beat and skin-conductance-response detection use :func:`scipy.signal.find_peaks` (scipy is
already a dependency; neurokit2 would add a heavy dependency tree, and its detectors expect
raw signals at their native rate, whereas these windows are already cleaned, resampled and
z-scored per subject by the shared pipeline, so the same windows feed the deep models and this
baseline).

Features per window (each channel of a modality):

* ECG / BVP: beats from peaks at least 0.33 s apart (<= 180 bpm) with a prominence relative to
  the window's spread; inter-beat intervals outside 0.3-2.0 s are dropped. Mean/std/min/max
  heart rate, mean IBI, SDNN, RMSSD, pNN50, number of beats; LF (0.04-0.15 Hz), HF
  (0.15-0.4 Hz) power and LF/HF from a Lomb-Scargle periodogram of the IBI series only when
  the window is at least 25 s long (one LF cycle); plus the generic statistics.
* EDA: tonic level (moving-average of 4 s) mean and slope; phasic part (signal - tonic) std;
  SCRs as peaks of the smoothed signal with prominence >= 0.05 (per-subject z units): count,
  mean and summed amplitude, mean rise time; plus the generic statistics.
* every modality: mean, std, min, max, range, 10th/90th percentiles, slope of a linear fit,
  mean absolute first difference.

Fitted estimators are not persisted (no pickle); each fold writes the estimator's parameters
and feature importances / coefficients as JSON (``folds/*/features_model.json``).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks, lombscargle

from xmodal.data.modalities import signal_kind
from xmodal.errors import ConfigError
from xmodal.signals.windows import WindowSet

_MIN_IBI, _MAX_IBI = 0.3, 2.0
_LF, _HF = (0.04, 0.15), (0.15, 0.4)


def _generic(x: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """Statistics of ``x`` (n_windows, n_times), vectorised over windows."""
    t = np.arange(x.shape[1]) / fs
    tc = t - t.mean()
    slope = (x - x.mean(axis=1, keepdims=True)) @ tc / max(float(tc @ tc), 1e-12)
    p10, p90 = np.percentile(x, [10, 90], axis=1)
    return {"mean": x.mean(1), "std": x.std(1), "min": x.min(1), "max": x.max(1),
            "range": x.max(1) - x.min(1), "p10": p10, "p90": p90, "slope": slope,
            "mad_diff": np.abs(np.diff(x, axis=1)).mean(1) * fs}


def _beats(x: np.ndarray, fs: float, kind: str) -> np.ndarray:
    """Peak sample indices of heart beats in one window."""
    spread = np.percentile(x, 98) - np.median(x)
    if kind == "ecg" and np.percentile(x, 2) < np.median(x) - 1.5 * spread:
        x = -x                                           # inverted lead: R waves point down
        spread = np.percentile(x, 98) - np.median(x)
    prominence = 0.35 * spread if kind == "ecg" else 0.25 * max(float(x.std()), 1e-6) * 2
    peaks, _ = find_peaks(x, distance=max(1, int(_MIN_IBI * fs)), prominence=max(prominence, 1e-6))
    return peaks


def _hrv(peaks: np.ndarray, fs: float, window_s: float) -> dict[str, float]:
    ibi = np.diff(peaks) / fs
    ibi = ibi[(ibi >= _MIN_IBI) & (ibi <= _MAX_IBI)]
    out = {"n_beats": float(len(peaks))}
    if len(ibi) < 2:
        out.update(hr_mean=np.nan, hr_std=np.nan, hr_min=np.nan, hr_max=np.nan, ibi_mean=np.nan,
                   sdnn=np.nan, rmssd=np.nan, pnn50=np.nan)
    else:
        hr = 60.0 / ibi
        d = np.diff(ibi)
        out.update(hr_mean=hr.mean(), hr_std=hr.std(), hr_min=hr.min(), hr_max=hr.max(),
                   ibi_mean=ibi.mean(), sdnn=ibi.std(ddof=1), rmssd=np.sqrt(np.mean(d ** 2)),
                   pnn50=float(np.mean(np.abs(d) > 0.05)))
    if window_s >= 1.0 / _LF[0]:
        lf = hf = np.nan
        t = peaks[1:] / fs
        ibi_all = np.diff(peaks) / fs
        ok = (ibi_all >= _MIN_IBI) & (ibi_all <= _MAX_IBI)
        if ok.sum() >= 8:
            freqs = np.linspace(_LF[0], _HF[1], 64)
            power = lombscargle(t[ok], ibi_all[ok] - ibi_all[ok].mean(), 2 * np.pi * freqs)
            lf = float(power[(freqs >= _LF[0]) & (freqs < _LF[1])].sum())
            hf = float(power[(freqs >= _HF[0]) & (freqs <= _HF[1])].sum())
        out.update(lf=lf, hf=hf, lf_hf=lf / hf if hf and np.isfinite(hf) and hf > 0 else np.nan)
    return out


def _eda(x: np.ndarray, fs: float) -> dict[str, float]:
    tonic = uniform_filter1d(x, size=max(1, int(round(4 * fs))), mode="nearest")
    phasic = x - tonic
    smooth = uniform_filter1d(x, size=max(1, int(round(0.5 * fs))), mode="nearest")
    peaks, props = find_peaks(smooth, prominence=0.05, distance=max(1, int(fs)))
    amp = props["prominences"] if len(peaks) else np.zeros(0)
    rise = (peaks - props["left_bases"]) / fs if len(peaks) else np.zeros(0)
    t = np.arange(len(x)) / fs
    slope = np.polyfit(t, tonic, 1)[0] if len(x) > 1 else 0.0
    return {"tonic_mean": float(tonic.mean()), "tonic_slope": float(slope),
            "phasic_std": float(phasic.std()), "scr_count": float(len(peaks)),
            "scr_amp_mean": float(amp.mean()) if len(amp) else 0.0,
            "scr_amp_sum": float(amp.sum()), "scr_rise_mean": float(rise.mean()) if len(rise) else 0.0}


def extract_features(windows: WindowSet) -> tuple[np.ndarray, list[str]]:
    """Feature matrix ``(n_windows, n_features)`` (NaN where undefined) and the feature names."""
    columns: dict[str, np.ndarray] = {}
    n = len(windows)
    for modality in windows.modalities:
        data = windows.inputs[modality]
        fs = float(windows.rates[modality])
        kind = signal_kind(modality)
        for ch in range(data.shape[1]):
            x = data[:, ch, :].astype(np.float64)
            prefix = modality if data.shape[1] == 1 else f"{modality}[{ch}]"
            for key, value in _generic(x, fs).items():
                columns[f"{prefix}.{key}"] = value
            per_window: list[dict[str, float]] = []
            if kind in ("ecg", "bvp"):
                per_window = [_hrv(_beats(x[i], fs, kind), fs, windows.window) for i in range(n)]
            elif kind == "eda":
                per_window = [_eda(x[i], fs) for i in range(n)]
            if per_window:
                for key in per_window[0]:
                    columns[f"{prefix}.{key}"] = np.array([w[key] for w in per_window], dtype=float)
    names = list(columns)
    matrix = np.column_stack([columns[k] for k in names]) if names else np.zeros((n, 0))
    return matrix.astype(np.float64), names


def features_of(windows: WindowSet) -> tuple[np.ndarray, list[str]]:
    """:func:`extract_features`, computed once per WindowSet object (memoised on it)."""
    cached = getattr(windows, "_xmodal_features", None)
    if cached is None:
        cached = extract_features(windows)
        windows._xmodal_features = cached  # type: ignore[attr-defined]
    return cached


def make_estimator(name: str, seed: int = 0):
    """Median imputation + the named classifier (Schmidt et al.'s choices, scikit-learn)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    impute = SimpleImputer(strategy="median", keep_empty_features=True)
    if name == "rf":
        clf = RandomForestClassifier(n_estimators=100, min_samples_split=20, class_weight="balanced",
                                     random_state=seed, n_jobs=1)
    elif name == "lda":
        return make_pipeline(impute, StandardScaler(), LinearDiscriminantAnalysis())
    elif name == "adaboost":
        clf = AdaBoostClassifier(DecisionTreeClassifier(min_samples_split=20, max_depth=3),
                                 n_estimators=100, random_state=seed)
    else:
        raise ConfigError(f"unknown features model {name!r}; valid: rf, lda, adaboost")
    return make_pipeline(impute, clf)


def fit_predict(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                n_classes: int, seed: int = 0) -> tuple[np.ndarray, dict, float]:
    """Fit on the training windows; return test probabilities ``(n, n_classes)``, a JSON-able
    description of the fitted model and the fit time in seconds.

    Classes are balanced as in the deep models' weighted loss (sample weights ``n / (k n_c)``).
    """
    start = time.perf_counter()
    est = make_estimator(name, seed)
    counts = np.bincount(y_train, minlength=n_classes).astype(float)
    weights = (counts.sum() / ((counts > 0).sum() * counts))[y_train]
    step = est.steps[-1][0]
    if name == "adaboost":
        est.fit(x_train, y_train, **{f"{step}__sample_weight": weights})
    else:
        est.fit(x_train, y_train)
    fit_s = time.perf_counter() - start
    proba = np.zeros((len(x_test), n_classes))
    if len(x_test):
        proba[:, est.classes_] = est.predict_proba(x_test)
    clf = est.steps[-1][1]
    info: dict = {"estimator": type(clf).__name__, "classes_seen": est.classes_.tolist(),
                  "params": {k: v for k, v in clf.get_params().items()
                             if isinstance(v, (int, float, str, bool, type(None)))}}
    if hasattr(clf, "feature_importances_"):
        info["feature_importances"] = np.asarray(clf.feature_importances_).round(6).tolist()
    if hasattr(clf, "coef_"):
        info["coef"] = np.asarray(clf.coef_).round(6).tolist()
    return proba, info, fit_s

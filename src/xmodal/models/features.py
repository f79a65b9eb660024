"""The classical WESAD pipeline of Schmidt et al. (ICMI 2018): window features and
scikit-learn classifiers (``--model features --features-model rf|lda|adaboost``).

The windows are those the deep models see (cleaned, resampled, z-scored per subject), so
amplitudes are in per-subject z units. neurokit2 finds heart beats and skin-conductance
responses and splits EDA into tonic and phasic parts; HRV indices and statistics are computed
with numpy (neurokit2's ``hrv_time`` and ``hrv_frequency`` build pandas frames and search TINN
by brute force, several ms per window). Undefined features are NaN (too few beats, a flat
window, a band slower than the window, neurokit2 failing on it); the estimators impute
training medians.

Features per channel, named ``<modality>.<name>`` (``<modality>[<channel>].<name>`` for several):

every signal
    ``mean std min max range p10 p90 slope mad_diff`` (slope, mean absolute difference per s).
ECG, BVP
    Beats by ``nk.ecg_peaks`` / ``nk.ppg_findpeaks`` (Elgendi) at the window's rate; intervals
    outside 300-2000 ms are dropped and at least 3 must remain. ``hr_mean hr_std`` (bpm),
    ``ibi_mean ibi_std nn50 pnn50 rmssd`` (ms, % of intervals; as ``nk.hrv_time`` defines
    them), ``tinn`` (ms; least-squares triangle on the 1/128-s interval histogram), band powers
    ``ulf vlf lf hf`` (ms²; 0-0.0033-0.04-0.15-0.4 Hz; Hann periodogram of the intervals
    spline-interpolated at 4 Hz), ``lf_hf`` and ``lf_norm hf_norm`` (shares of LF + HF). A band
    needs beats spanning two cycles of its lowest edge (ULF: its upper edge), i.e. HF 13.3 s,
    LF 50 s, VLF and ULF 606 s; it is NaN otherwise.
EDA
    ``nk.eda_phasic(method="smoothmedian")`` (4-s running median): it handles 10-s windows
    without filter transients (the 0.05-Hz ``"highpass"`` needs more than 20 s to settle) in
    well under a millisecond, whereas cvxEDA solves a convex programme per window (orders of
    magnitude slower, and it needs cvxopt). ``scl_mean scl_std scr_mean scr_std`` of the tonic
    (SCL) and phasic (SCR) parts, ``scl_corr_t`` (SCL's correlation with time); responses by
    ``nk.eda_peaks`` on the phasic part smoothed over 1 s, of amplitude >= 0.05 z:
    ``scr_count``, ``scr_amp_sum`` (startle magnitudes), ``scr_rise_sum`` (durations, onset to
    peak, s), ``scr_area_sum`` (magnitude x duration / 2 each).
ACC
    Schmidt et al.'s motion features: per axis and for the magnitude ``sqrt(x² + y² + z²)``
    of the window's axes (channel ``<modality>[mag]``; a one-channel ACC is taken as the
    magnitude itself) the statistics of every signal (among them mean and std) plus
    ``abs_integral`` (integral of the absolute value, z units x s, trapezoid rule of
    ``scipy.integrate``) and ``peak_freq`` (Hz; the largest peak of the periodogram of the
    linearly detrended window, DC excluded, from ``scipy.signal.periodogram``). The axes are
    z-scored per subject before the magnitude is taken, so the magnitude weighs each axis by
    its own spread, not in g.
TEMP
    Schmidt et al.'s temperature features are the statistics of every signal: ``mean std min
    max``, ``range`` (their dynamic range) and ``slope``.
other kinds
    the statistics of every signal only.

Classifiers, after median imputation: random forest and AdaBoost with class-balanced weights,
LDA with equal class priors (and Ledoit-Wolf shrinkage of the covariance, which matters only
when training windows barely outnumber features). Fitted estimators are not persisted (no
pickle); each fold writes the estimator's parameters and importances / coefficients as JSON
(``folds/*/features_model.json``). :class:`FeaturesEstimator` is the baseline as a fold estimator
(the same fold runner as the networks').

The module is long because the features, their extraction and the classifiers that read them
are one pipeline, defined and documented in one place.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.integrate import trapezoid
from scipy.interpolate import CubicSpline
from scipy.ndimage import uniform_filter1d
from scipy.signal import periodogram, welch

from xmodal.data.modalities import signal_kind
from xmodal.errors import ConfigError
from xmodal.files import atomic_write_json
from xmodal.models.shrinkage_lda import ImputedShrinkageLDA
from xmodal.signals.windows import WindowSet, context_windows

_IBI_MS = (300.0, 2000.0)  # plausible inter-beat intervals (30-200 bpm)
_MIN_IBIS = 3  # fewer intervals: no HRV
_IBI_RATE = 4.0  # Hz, interval series resampled for the spectrum
_GENERIC = ("mean", "std", "min", "max", "range", "p10", "p90", "slope", "mad_diff")
_BANDS = {"ulf": (0.0, 0.0033), "vlf": (0.0033, 0.04), "lf": (0.04, 0.15), "hf": (0.15, 0.4)}
_CARDIAC = (
    "hr_mean",
    "hr_std",
    "ibi_mean",
    "ibi_std",
    "nn50",
    "pnn50",
    "tinn",
    "rmssd",
    *_BANDS,
    "lf_hf",
    "lf_norm",
    "hf_norm",
)
_EDA = (
    "scl_mean",
    "scl_std",
    "scr_mean",
    "scr_std",
    "scl_corr_t",
    "scr_count",
    "scr_amp_sum",
    "scr_rise_sum",
    "scr_area_sum",
)
_ACC = ("abs_integral", "peak_freq")
_MAGNITUDE = "mag"  # channel name of the ACC magnitude
_SCR_MIN_AMP = 0.05  # z units; neurokit2's own threshold is relative to the window
_FLAT = 1e-6  # std below which a z-scored window counts as flat
#: what neurokit2 raises on short, flat or peak-less windows (TypeError: "size should be
#: between 1 and the length of the signal")
#: key of the feature matrix in ``WindowSet.extras``
FEATURES_EXTRA = "features"
_NK_ERRORS = (ValueError, IndexError, TypeError, ZeroDivisionError, FloatingPointError, KeyError)


def _min_window(band: tuple[float, float]) -> float:
    """Seconds of beats needed to report the power in ``band``: two cycles of its lowest edge
    (of its upper edge for a band starting at 0 Hz)."""
    return 2.0 / (band[0] if band[0] > 0 else band[1])


_MIN_SPECTRUM_S = min(_min_window(edges) for edges in _BANDS.values())


def _generic(x: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """Statistics of ``x`` (n_windows, n_times), vectorised over windows."""
    t = np.arange(x.shape[1]) / fs
    tc = t - t.mean()
    # a row-wise sum, not a matrix product: each window's value does not depend on the others
    slope = ((x - x.mean(axis=1, keepdims=True)) * tc).sum(axis=1) / max(float(tc @ tc), 1e-12)
    p10, p90 = np.percentile(x, [10, 90], axis=1)
    return {
        "mean": x.mean(1),
        "std": x.std(1),
        "min": x.min(1),
        "max": x.max(1),
        "range": x.max(1) - x.min(1),
        "p10": p10,
        "p90": p90,
        "slope": slope,
        "mad_diff": np.abs(np.diff(x, axis=1)).mean(1) * fs,
    }


def _motion(x: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """ACC features of ``x`` (n_windows, n_times), vectorised over windows: the integral of
    ``|x|`` and the frequency of the periodogram's peak (DC excluded; NaN for a flat window)."""
    out = {"abs_integral": trapezoid(np.abs(x), dx=1.0 / fs, axis=1)}
    freqs, power = periodogram(x, fs=fs, detrend="linear", axis=1)
    peak = np.full(len(x), np.nan)
    if len(freqs) > 1:
        k = np.argmax(power[:, 1:], axis=1) + 1
        flat = power[:, 1:].max(axis=1) <= 0
        peak = np.where(flat, np.nan, freqs[k])
    out["peak_freq"] = peak
    return out


def _acc_channels(modality: str, data: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``(prefix, (n_windows, n_times))`` per ACC axis and, for several axes, the magnitude."""
    n_channels = data.shape[1]
    rows = [(_prefix(modality, n_channels, ch), data[:, ch, :]) for ch in range(n_channels)]
    if n_channels > 1:
        rows.append((f"{modality}[{_MAGNITUDE}]", np.sqrt((data**2).sum(axis=1))))
    return rows


def _nk_rate(fs: float):
    """neurokit2 sizes some kernels as ``seconds * sampling_rate``: pass integral rates as int."""
    return int(fs) if float(fs).is_integer() else float(fs)


def _beats(nk, x: np.ndarray, fs: float, kind: str) -> np.ndarray:
    """Sample indices of heart beats in one window (empty when neurokit2 finds none)."""
    try:
        if kind == "ecg":
            peaks = nk.ecg_peaks(x, sampling_rate=_nk_rate(fs))[1]["ECG_R_Peaks"]
        else:
            peaks = nk.ppg_findpeaks(x, sampling_rate=_nk_rate(fs))["PPG_Peaks"]
    except _NK_ERRORS:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.asarray(peaks, dtype=np.int64))


def _tinn(rri: np.ndarray) -> float:
    """TINN (ms): base width M - N of the triangle with its apex on the histogram's mode that
    fits the 1/128-s histogram of the intervals ``rri`` (ms) best in least squares, zero outside
    [N, M] (Task Force 1996). N and M are bin edges; the squared error splits into the two sides,
    so each corner is chosen on its own."""
    b = 1000.0 / 128
    first = int(np.floor(rri.min() / b))
    edges = b * np.arange(first, int(np.floor(rri.max() / b)) + 2)
    y, _ = np.histogram(rri, bins=edges)
    x = edges[:-1]
    k = int(np.argmax(y))
    apex, top = x[k], float(y[k])
    j = np.arange(len(y))
    left = right = apex
    if k > 0:  # candidates N = x[i], i < k: q rises linearly from 0 at N to the apex
        i = np.arange(k)[:, None]
        q = np.where(j[None, :k] >= i, top * (x[None, :k] - x[i]) / (apex - x[i]), 0.0)
        left = float(x[np.argmin(((y[None, :k] - q) ** 2).sum(1))])
    if k + 1 < len(edges):  # candidates M = edges[m], m > k: q falls from the apex to 0 at M
        m = np.arange(k + 1, len(edges))[:, None]
        corner = edges[m]
        q = np.where(j[None, k + 1 :] < m, top * (corner - x[None, k + 1 :]) / (corner - apex), 0.0)
        right = float(edges[k + 1 + np.argmin(((y[None, k + 1 :] - q) ** 2).sum(1))])
    return right - left


def _hrv_time(rri: np.ndarray, keep: np.ndarray) -> dict[str, float]:
    """Time-domain indices of the kept intervals (ms), as :func:`neurokit2.hrv_time` defines
    them; differences only between successive kept intervals."""
    nn = rri[keep]
    diff = np.diff(rri)[keep[1:] & keep[:-1]]
    hr = 60000.0 / nn
    nn50 = float(np.sum(np.abs(diff) > 50.0))
    return {
        "hr_mean": float(hr.mean()),
        "hr_std": float(hr.std(ddof=1)),
        "ibi_mean": float(nn.mean()),
        "ibi_std": float(nn.std(ddof=1)),
        "nn50": nn50,
        "pnn50": 100.0 * nn50 / (len(diff) + 1),
        "rmssd": float(np.sqrt(np.mean(diff**2))) if len(diff) else np.nan,
        "tinn": _tinn(nn),
    }


def _cardiac(nk, x: np.ndarray, fs: float, kind: str) -> list[dict[str, float]]:
    """HRV features of every window of ``x`` (n_windows, n_times)."""
    n, n_times = x.shape
    rows = [dict.fromkeys(_CARDIAC, np.nan) for _ in range(n)]
    grid = np.arange(0.0, n_times / fs, 1.0 / _IBI_RATE)
    series, spans, owners = [], [], []
    for w in range(n):
        if not np.all(np.isfinite(x[w])) or x[w].std() < _FLAT:
            continue
        peaks = _beats(nk, x[w], fs, kind)
        rri = np.diff(peaks) / fs * 1000.0
        keep = (rri >= _IBI_MS[0]) & (rri <= _IBI_MS[1])
        if keep.sum() < _MIN_IBIS:
            continue
        rows[w].update(_hrv_time(rri, keep))
        t = peaks[1:][keep] / fs
        if t[-1] - t[0] >= _MIN_SPECTRUM_S:
            inside = (grid >= t[0]) & (grid <= t[-1])
            s = np.interp(grid, t, rri[keep])  # held constant outside the beats
            s[inside] = CubicSpline(t, rri[keep])(grid[inside])
            series.append(s)
            spans.append(t[-1] - t[0])
            owners.append(w)
    if series:
        freqs, psd = welch(
            np.stack(series),
            fs=_IBI_RATE,
            window="hann",
            nperseg=len(grid),
            detrend="constant",
            scaling="density",
            axis=-1,
        )
        df = freqs[1] - freqs[0]
        for row, w in enumerate(owners):
            out = rows[w]
            for band, (lo, hi) in _BANDS.items():
                if spans[row] >= _min_window((lo, hi)):
                    out[band] = float(psd[row, (freqs >= lo) & (freqs < hi)].sum() * df)
            lf, hf = out["lf"], out["hf"]
            if np.isfinite(lf) and np.isfinite(hf) and hf > 0:
                out.update(lf_hf=lf / hf, lf_norm=lf / (lf + hf), hf_norm=hf / (lf + hf))
    return rows


def _eda(nk, x: np.ndarray, fs: float) -> dict[str, float]:
    """EDA features of one window."""
    out = dict.fromkeys(_EDA, np.nan)
    if not np.all(np.isfinite(x)) or x.std() < _FLAT:
        return out
    try:
        parts = nk.eda_phasic(x, sampling_rate=_nk_rate(fs), method="smoothmedian")
    except _NK_ERRORS:
        return out
    scl = parts["EDA_Tonic"].to_numpy(dtype=float)
    scr = parts["EDA_Phasic"].to_numpy(dtype=float)
    out.update(
        scl_mean=float(scl.mean()),
        scl_std=float(scl.std()),
        scr_mean=float(scr.mean()),
        scr_std=float(scr.std()),
    )
    if scl.std() >= _FLAT:
        out["scl_corr_t"] = float(np.corrcoef(scl, np.arange(len(scl)))[0, 1])
    amp = rise = np.zeros(0)
    # a 1-s moving average removes sub-second wiggles (sensor quantisation), which cannot be
    # responses but would each cost neurokit2 a search; no response can exceed the range
    smooth = uniform_filter1d(scr, size=max(1, int(round(fs))), mode="nearest")
    if np.ptp(smooth) >= _SCR_MIN_AMP:
        try:
            info = nk.eda_peaks(smooth, sampling_rate=_nk_rate(fs), method="neurokit")[1]
            amp = np.asarray(info["SCR_Amplitude"], dtype=float)
            rise = np.asarray(info["SCR_RiseTime"], dtype=float)
        except _NK_ERRORS:  # neurokit2 raises when the window holds no response
            pass
    ok = np.isfinite(amp) & np.isfinite(rise) & (amp >= _SCR_MIN_AMP)
    amp, rise = amp[ok], rise[ok]
    out.update(
        scr_count=float(len(amp)),
        scr_amp_sum=float(amp.sum()),
        scr_rise_sum=float(rise.sum()),
        scr_area_sum=float((amp * rise).sum() / 2.0),
    )
    return out


#: features beyond the statistics of every signal, per signal kind
_SPECIFIC = {"ecg": _CARDIAC, "bvp": _CARDIAC, "eda": _EDA, "acc": _ACC}


def _prefix(modality: str, n_channels: int, channel: int) -> str:
    return modality if n_channels == 1 else f"{modality}[{channel}]"


def feature_names(windows: WindowSet) -> list[str]:
    """Names of the feature columns of ``windows`` (in column order), without computing them."""
    names = []
    for modality in windows.modalities:
        kind = signal_kind(modality)
        keys = _GENERIC + _SPECIFIC.get(kind, ())
        n_channels = windows.inputs[modality].shape[1]
        prefixes = [_prefix(modality, n_channels, ch) for ch in range(n_channels)]
        if kind == "acc" and n_channels > 1:
            prefixes.append(f"{modality}[{_MAGNITUDE}]")
        names += [f"{prefix}.{key}" for prefix in prefixes for key in keys]
    return names


def extract_features(windows: WindowSet) -> tuple[np.ndarray, list[str]]:
    """Feature matrix ``(n_windows, n_features)`` (NaN where undefined) and the feature names."""
    columns: dict[str, np.ndarray] = {}
    n = len(windows)
    for modality in windows.modalities:
        data = windows.inputs[modality]
        fs = float(windows.rates[modality])
        kind = signal_kind(modality)
        if kind == "acc":
            for prefix, x in _acc_channels(modality, data.astype(np.float64)):
                for key, value in {**_generic(x, fs), **_motion(x, fs)}.items():
                    columns[f"{prefix}.{key}"] = value
            continue
        for ch in range(data.shape[1]):
            x = data[:, ch, :].astype(np.float64)
            prefix = _prefix(modality, data.shape[1], ch)
            for key, value in _generic(x, fs).items():
                columns[f"{prefix}.{key}"] = value
            if kind not in ("ecg", "bvp", "eda"):
                continue
            import neurokit2 as nk  # here: it takes seconds to import

            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # neurokit2's and numpy's per-window warnings
                if kind == "eda":
                    keys, rows = _EDA, [_eda(nk, x[i], fs) for i in range(n)]
                else:
                    keys, rows = _CARDIAC, _cardiac(nk, x, fs, kind)
            for key in keys:
                columns[f"{prefix}.{key}"] = np.array([r[key] for r in rows], dtype=np.float64)
    names = feature_names(windows)
    matrix = np.column_stack([columns[k] for k in names]) if names else np.zeros((n, 0))
    return matrix.astype(np.float64), names


def features_of(windows: WindowSet) -> tuple[np.ndarray, list[str]]:
    """:func:`extract_features`, computed once per window set: kept in
    ``windows.extras["features"]``, which subsets and concatenations of it carry along. Windows
    cut with a longer context (:func:`~xmodal.signals.windows.make_windows`) are described by
    their contexts."""
    if FEATURES_EXTRA not in windows.extras:
        windows.extras[FEATURES_EXTRA] = extract_features(context_windows(windows))[0]
    return windows.extras[FEATURES_EXTRA], feature_names(windows)


def make_estimator(name: str, seed: int = 0):
    """Median imputation + the named classifier (Schmidt et al.'s choices; scikit-learn's, the
    LDA as :class:`~xmodal.models.shrinkage_lda.ImputedShrinkageLDA`)."""
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier

    impute = SimpleImputer(strategy="median", keep_empty_features=True)
    if name == "rf":
        clf = RandomForestClassifier(
            n_estimators=100,
            min_samples_split=20,
            class_weight="balanced",
            random_state=seed,
            n_jobs=1,
        )
    elif name == "lda":  # equal class priors: set by fit_classifier on the classes it sees
        # Ledoit-Wolf shrinkage: plain LDA is erratic when windows barely outnumber features
        # (a few subjects); with many windows per feature the shrinkage tends to 0. The same
        # steps as make_pipeline(impute, StandardScaler(), ShrinkageLDA()), in numpy
        return ImputedShrinkageLDA()
    elif name == "adaboost":
        clf = AdaBoostClassifier(
            DecisionTreeClassifier(min_samples_split=20, max_depth=3),
            n_estimators=100,
            random_state=seed,
        )
    else:
        raise ConfigError(f"unknown features model {name!r}; valid: rf, lda, adaboost")
    return make_pipeline(impute, clf)


def fit_classifier(
    name: str, x_train: np.ndarray, y_train: np.ndarray, n_classes: int, seed: int = 0
):
    """Fit the named classifier on the training windows' features; return the fitted pipeline,
    a JSON-able description of it and the fit time in seconds.

    Classes are balanced as in the deep models' weighted loss (sample weights ``n / (k n_c)``
    for AdaBoost, ``class_weight="balanced"`` for the forest); LDA gets equal priors on the
    classes present in ``y_train``, as in Schmidt et al.
    """
    start = time.perf_counter()
    est = make_estimator(name, seed)
    if name == "lda":
        seen = len(np.unique(y_train))
        est.priors = np.full(seen, 1.0 / max(seen, 1))
    counts = np.bincount(y_train, minlength=n_classes).astype(float)
    present = counts > 0  # a class absent from the training windows gets no weight
    per_class = np.zeros(n_classes)
    per_class[present] = counts.sum() / (present.sum() * counts[present])
    weights = per_class[y_train]
    if name == "adaboost":
        est.fit(x_train, y_train, **{f"{est.steps[-1][0]}__sample_weight": weights})
    else:
        est.fit(x_train, y_train)
    fit_s = time.perf_counter() - start
    clf = est.lda_ if name == "lda" else est.steps[-1][1]
    info: dict = {
        "estimator": type(clf).__name__,
        "classes_seen": est.classes_.tolist(),
        "params": {
            k: v
            for k, v in clf.get_params().items()
            if isinstance(v, (int, float, str, bool, type(None)))
        },
    }
    if hasattr(clf, "feature_importances_"):
        info["feature_importances"] = np.asarray(clf.feature_importances_).round(6).tolist()
    if getattr(clf, "priors", None) is not None:
        info["priors"] = np.asarray(clf.priors).round(6).tolist()
    if hasattr(clf, "coef_"):
        info["coef"] = np.asarray(clf.coef_).round(6).tolist()
    return est, info, fit_s


def predict_classifier(est, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` of a fitted pipeline (0 for classes it never saw;
    a pipeline that saw one class gives it probability 1, which LDA cannot compute)."""
    proba = np.zeros((len(x), n_classes))
    if len(est.classes_) == 1:
        proba[:, est.classes_[0]] = 1.0
    elif len(x):
        proba[:, est.classes_] = est.predict_proba(x)
    return proba


def fit_predict(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    n_classes: int,
    seed: int = 0,
) -> tuple[np.ndarray, dict, float]:
    """:func:`fit_classifier`, then :func:`predict_classifier` on ``x_test``: test
    probabilities, the description of the fitted model and the fit time in seconds."""
    est, info, fit_s = fit_classifier(name, x_train, y_train, n_classes, seed)
    return predict_classifier(est, x_test, n_classes), info, fit_s


class FeaturesEstimator:
    """The classical baseline as a fold estimator (``--model features``).

    It selects nothing on validation windows, so the fold runner adds them to the training
    windows (``uses_validation`` False). The fitted classifier is not persisted (no pickle):
    :meth:`save` writes ``features_model.json``, its parameters and feature importances.

    Parameters
    ----------
    classifier : str
        ``rf``, ``lda`` or ``adaboost`` (see :func:`make_estimator`).
    """

    uses_validation = False
    reads_features = True
    parallel_folds = False  # a fold fits in well under a second: not worth a worker process
    final_model = False
    state_files = ("features_model.json",)
    epochs = 1

    def __init__(self, classifier: str = "rf") -> None:
        self.classifier = classifier
        self.label = f"features/{classifier}"
        self._pipeline = None
        self._info: dict = {}

    def check_modalities(self, modalities: Sequence[str]) -> None:
        """Any number of modalities: each adds its own features."""

    def prepare(self, windows: WindowSet) -> WindowSet:
        """Extract the features of every window once (before the folds select from them)."""
        features_of(windows)
        return windows

    def complexity(self, input_shapes: dict, n_classes: int) -> dict:
        """No network: parameters and FLOPs do not apply (None)."""
        return {"n_parameters": None, "flops_per_window": None}

    def fit(
        self,
        train: WindowSet,
        validation: WindowSet | None = None,
        *,
        seed: int = 0,
        on_epoch=None,
        unlabelled: WindowSet | None = None,
        recordings: WindowSet | None = None,
    ) -> dict:
        """Fit on ``train`` (``validation``, ``unlabelled`` and ``recordings`` are not used);
        return the fold record's training fields."""
        start = time.perf_counter()
        x, names = features_of(train)
        self._pipeline, info, fit_s = fit_classifier(
            self.classifier, x, train.labels, len(train.classes), seed=seed
        )
        self._info = {**info, "feature_names": names}
        train_s = time.perf_counter() - start
        if on_epoch is not None:
            on_epoch({"epoch": 1})
        return {
            "best_epoch": 0,
            "epochs_run": 0,
            "train_s": train_s,
            "fit_s": fit_s,
            "windows_per_s": len(train) / max(train_s, 1e-9),
            "history": [],
        }

    def predict_proba(self, windows: WindowSet) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` of ``windows``."""
        return predict_classifier(self._pipeline, features_of(windows)[0], len(windows.classes))

    def save(self, folder: Path) -> None:
        """Write ``folder/features_model.json``."""
        atomic_write_json(Path(folder) / "features_model.json", self._info)

    def fold_record(self, test: WindowSet) -> dict:
        """Extra fields of the fold record: no attention."""
        return {"attention": {}}

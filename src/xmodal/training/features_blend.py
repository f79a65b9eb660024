"""The hybrid of a network and the classical pipeline (``--features-blend``).

A fold's network and Schmidt et al.'s features classifier (:mod:`xmodal.models.features`) are
trained on the same fold. The two fail on different people: the network learns from the raw
waveforms of the sensors it reads, the features summarise every sensor of the window (TEMP and
ACC included, which hurt the networks when fused as streams). The features may read more
sensors than the network (``--network-modalities``).

``equal``
    ``w * p_network + (1 - w) * p_features`` with ``w = 0.5``, nothing selected.
``val``
    ``w`` from :data:`BLEND_WEIGHTS`, the one with the lowest log-loss on the fold's inner
    validation subjects (the network's validation probabilities before any test-time
    adaptation; the features classifier fitted on the training subjects only). Ties go to
    the weight nearest 0.5. Without validation subjects (``--final``) ``w = 0.5``.
``experts-mi``
    Which sensor to trust for this person. One features classifier per sensor (the features
    of that sensor only) stands beside the network; for each person the experts' class
    probabilities are mixed with weights proportional to each expert's mutual information
    between window and class over the person's unlabelled windows, ``H(mean p) - mean H(p)``
    (:func:`~xmodal.training.adaptation.mutual_information`). A sensor that does not respond
    in this person gives about the same prediction for every window and so little weight; one
    that follows the person's states gets much. Like ``--adapt adabn`` this reads the whole
    recording of the person being scored (never a label): in a LOSO fold every window of the
    test subject's recording, in ``xmodal predict`` the recording predicted. Fewer than
    :data:`~xmodal.training.adaptation.MIN_WINDOWS` windows, or no expert with any
    information, give equal weights. With ``smoothing`` (``--experts-smoothing``, seconds)
    each expert's probabilities are first averaged over that span around every window
    (:func:`smoothed_over_time`), so that predictions that change from one window to the next
    do not count as information. With ``disagreement`` (``--experts-disagreement``) an expert
    whose probabilities run against the other experts' loses weight (:func:`mixture_weights`).
    With ``network_streams`` (``--network-experts streams``) the network enters the mix as its
    fused output and each of its streams alone
    (:func:`~xmodal.training.adaptation.expert_probabilities`), each one expert.
``experts-gate``
    The experts of ``experts-mi``; the network keeps its mutual-information share, and the
    sensors' experts split the rest by a gate learned on the fold's own people
    (:mod:`xmodal.training.expert_gate`): cross-fitted on the training people (each person's
    experts fitted on the others), it predicts from label-free statistics of an expert's
    predictions over a recording how well that expert does on that person. It reads the
    person's recording as ``experts-mi`` does; the training people's recordings (labels unread)
    give the gate its statistics. With fewer than
    :data:`~xmodal.training.expert_gate.MIN_GATE_PEOPLE` training people (or one sensor) the
    sensors' experts are weighted as in ``experts-mi``.

The features classifiers are then fitted on the training and validation subjects together, as
the ``features`` model is. With ``refit`` (``--person-refit recording``, the default for the
``experts-*`` blends) each sensor's classifier is also refitted on the person being scored,
with the blend's labels as teacher (:mod:`xmodal.training.person_refit`). With ``detrend``
(``--features-detrend person|auto|soft``, ``experts-mi`` only) every person's features lose that
person's linear trend over the recording first (:mod:`xmodal.training.person_trend`); with
``soft`` the blends of the experts with and without the trends are mixed by the fold's evidence
for removing them (:func:`~xmodal.training.person_trend.detrend_share`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from xmodal.config import PERSON_BLENDS
from xmodal.errors import DataError
from xmodal.files import atomic_write_json, atomic_write_stream, read_json
from xmodal.models.features import features_of, fit_classifier, predict_classifier
from xmodal.models.features_arrays import (
    load_classifier,
    load_classifiers,
    save_classifier,
    save_classifiers,
)
from xmodal.signals.windows import WindowSet
from xmodal.training.adaptation import MIN_WINDOWS, information_shares
from xmodal.training.expert_gate import MIN_GATE_PEOPLE, ExpertGate, expert_statistics
from xmodal.training.person_refit import refined, refit_person
from xmodal.training.person_trend import PersonTrend, detrend_gain, detrend_share

#: network shares ``w`` that ``val`` chooses from
BLEND_WEIGHTS = tuple(round(0.1 * k, 1) for k in range(11))
#: a hybrid fold's features half: weight, parameters and importances (JSON) ...
BLEND_FILE = "features_blend.json"
#: ... and the fitted classifier as arrays (:mod:`xmodal.models.features_arrays`)
CLASSIFIER_FILE = "features_classifier.npz"
#: ``soft`` between 0 and 1: the experts fitted on the features with the trends kept
RAW_CLASSIFIER_FILE = "features_classifier_with_trends.npz"
#: ``experts-*`` in a LOSO fold: what each expert said about the test person's recording, per
#: subject ``<subject>.<key>``: ``t_start`` and ``labels`` (-1: unlabelled) of its windows in
#: time order, each blend variant's ``shares`` ``(v,)``, the experts' class ``probabilities``
#: ``(v, n, experts, k)`` and ``weights`` ``(v, experts)``, the final ``blend`` ``(n, k)``
#: (the refit included); ``experts``: the experts' names
PERSON_EXPERTS_FILE = "person_experts.npz"


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


def sensor_columns(names: list[str], modalities: list[str]) -> dict[str, np.ndarray]:
    """The feature columns of each modality (names ``<modality>.<feature>`` or
    ``<modality>[<axis>].<feature>``), for the modalities that have any."""
    out = {}
    for modality in modalities:
        cols = [i for i, n in enumerate(names) if n.startswith((f"{modality}.", f"{modality}["))]
        if cols:
            out[modality] = np.asarray(cols, dtype=np.int64)
    return out


def smoothed_over_time(proba: np.ndarray, t_start: np.ndarray, seconds: float) -> np.ndarray:
    """Each window's class probabilities ``(n, k)`` averaged with those of the windows that
    start within ``seconds / 2`` of it (``t_start`` in seconds, any order); ``seconds <= 0``:
    unchanged."""
    if seconds <= 0 or len(proba) < 2:
        return proba
    order = np.argsort(t_start, kind="stable")
    t = np.asarray(t_start, dtype=np.float64)[order]
    cumulative = np.concatenate([np.zeros((1, proba.shape[1])), np.cumsum(proba[order], 0)])
    lo = np.searchsorted(t, t - seconds / 2, side="left")
    hi = np.searchsorted(t, t + seconds / 2, side="right")
    out = np.empty_like(proba, dtype=np.float64)
    out[order] = (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]
    return out


def agreement_with_others(probas: list[np.ndarray]) -> np.ndarray:
    """Each expert's correlation with each of the other experts, over one person's windows and
    the classes of their class probabilities ``(n, k)``, averaged with weights proportional to
    how much each other expert's probabilities vary (their standard deviation): near 1 where it
    follows them, 0 where it is unrelated to them, below 0 where it predicts the opposite. An
    expert that predicts about the same for every window has no say (its correlations are
    noise), and a sure expert's say grows with its spread, not its information, so one sure
    expert that is wrong cannot outvote several that agree with one another."""
    centred = np.stack([(p - p.mean(axis=0)).ravel() for p in probas])
    spread = np.sqrt((centred * centred).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = (centred @ centred.T) / np.outer(spread, spread)
    correlation = np.nan_to_num(correlation, nan=0.0, posinf=0.0, neginf=0.0)
    say = np.tile(spread, (len(probas), 1))
    np.fill_diagonal(say, 0.0)
    total = say.sum(axis=1)
    return np.where(total > 1e-12, (correlation * say).sum(axis=1) / np.maximum(total, 1e-12), 0.0)


def mixture_weights(
    probas: list[np.ndarray],
    t_start: np.ndarray | None = None,
    smoothing: float = 0.0,
    disagreement: float = 0.0,
) -> np.ndarray:
    """Weights of experts from their class probabilities ``(n, k)`` over one person's windows
    (starting at ``t_start`` s): proportional to each one's mutual information
    (:func:`~xmodal.training.adaptation.information_shares`) of its probabilities averaged over
    ``smoothing`` seconds around each window (:func:`smoothed_over_time`; 0 or no times: window
    by window); equal with fewer than ``MIN_WINDOWS`` windows or when none carries any.

    The average keeps what lasts as long as a state does and drops what changes from one window
    to the next: a sensor that does not respond in this person can still make predictions that
    vary window by window, not ones that follow the person's states for minutes.

    With ``disagreement`` ``R > 0`` and at least three experts, an expert whose (averaged)
    probabilities correlate negatively with the other experts' (:func:`agreement_with_others`)
    keeps ``1 + r / R`` of its weight, none at ``r <= -R``: a sensor that drifts in step with
    the session's fixed order of conditions reads the person's states the wrong way round,
    confidently, which mutual information rewards. With two experts nothing tells which one
    is wrong."""
    n = len(probas[0]) if probas else 0
    equal = np.full(len(probas), 1.0 / max(len(probas), 1))
    if n < MIN_WINDOWS:
        return equal
    if t_start is not None and smoothing > 0:
        probas = [smoothed_over_time(p, t_start, smoothing) for p in probas]
    shares = information_shares(probas)
    if shares is None:
        return equal
    if disagreement > 0 and len(probas) >= 3:
        kept = shares * np.clip(1.0 + agreement_with_others(probas) / disagreement, 0, 1)
        if kept.sum() > 1e-9:
            return kept / kept.sum()
    return shares


def _weighted(probas: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The experts' probabilities mixed with ``weights``."""
    return sum(w * p for w, p in zip(weights, probas))


def _people_rows(
    x: np.ndarray, subjects: np.ndarray, starts: np.ndarray, recordings: WindowSet | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each labelled person's recording rows and window times, in time order (their labelled
    rows where no recording is given): what the person's trend is fitted on."""
    if recordings is not None:
        rows, owners, times = features_of(recordings)[0], recordings.subjects, recordings.t_start
    else:
        rows, owners, times = x, subjects, starts
    out = {}
    for person in np.unique(subjects):
        theirs = np.flatnonzero(owners == person)
        if not len(theirs):  # no recording of this person: its labelled rows
            rows_p, times_p = x[subjects == person], starts[subjects == person]
        else:
            theirs = theirs[np.argsort(times[theirs], kind="stable")]
            rows_p, times_p = rows[theirs], times[theirs]
        out[person] = (rows_p, times_p)
    return out


def _without_trends(
    x: np.ndarray, subjects: np.ndarray, starts: np.ndarray, trends: dict[str, PersonTrend]
) -> np.ndarray:
    """The labelled rows ``x`` with each person's trend removed."""
    out = np.array(x, dtype=np.float64, copy=True)
    for person, trend in trends.items():
        mine = subjects == person
        out[mine] = trend.remove(x[mine], starts[mine])
    return out


def _macro_f1(labels: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    """Macro-F1 of the most probable classes (every class counted, absent ones as 0)."""
    return f1_score(
        labels, proba.argmax(1), average="macro", labels=range(n_classes), zero_division=0
    )


class FeaturesBlend:
    """The features half of a hybrid fold model.

    Parameters
    ----------
    mode : str
        ``equal``, ``val``, ``experts-mi`` or ``experts-gate`` (see the module).
    classifier : str
        The features classifier (``rf`` or ``lda``: those saved as arrays).
    refit : bool
        ``experts-*``: refit the sensors' classifiers on each person scored
        (:mod:`xmodal.training.person_refit`).
    detrend : str
        ``experts-mi``: remove each person's trend from the features: ``none``, ``person``,
        ``auto`` or ``soft`` (decided in :meth:`fit`; :attr:`detrend_share` holds the
        decision).
    smoothing : float
        ``experts-*``: seconds over which each expert's probabilities are averaged before
        their mutual information weighs the experts (:func:`mixture_weights`; 0: window by
        window).
    disagreement : float
        ``experts-*``: the negative correlation with the other experts at which an expert
        loses all its weight (:func:`mixture_weights`; 0: none lose any).
    """

    def __init__(
        self,
        mode: str,
        classifier: str = "rf",
        refit: bool = False,
        detrend: str = "none",
        smoothing: float = 0.0,
        disagreement: float = 0.0,
    ) -> None:
        if refit and mode not in PERSON_BLENDS:
            raise ValueError(f"refit needs a blend of {PERSON_BLENDS}, not {mode!r}")
        if detrend != "none" and mode != "experts-mi":
            raise ValueError(f"detrend needs the experts-mi blend, not {mode!r}")
        self.mode = mode
        self.classifier = classifier
        self.refit = refit
        self.detrend = detrend
        self.smoothing = float(smoothing)
        self.disagreement = float(disagreement)
        #: ``experts-*``: the network's streams when it enters the mix as its fused output and
        #: each stream alone (probabilities ``(n, 1 + streams, k)``); empty: as one expert
        self.network_streams: list[str] = []
        #: the share of the experts that read the features without each person's trend (the
        #: rest read them with it; ``auto`` and ``soft``: set in fit)
        self.detrend_share = 1.0 if detrend == "person" else 0.0
        self.weight = 0.5
        self._pipeline = None
        #: ``experts-*``: each expert's sensor and feature columns, and its classifier
        self.sensors: dict[str, np.ndarray] = {}
        self._experts: list = []
        #: ``soft`` with a share below 1: the experts fitted on the features with the trends
        self._raw_experts: list = []
        #: ``experts-gate``: the gate over the sensors' experts (None: weighted as experts-mi)
        self.gate: ExpertGate | None = None
        #: ``experts-*``: the weights of the last :meth:`blend`, per subject
        self.person_weights: dict[str, dict[str, float]] = {}
        #: ``refit``: the sensors' weights in the refit of the last :meth:`blend`, per subject
        self.refit_weights: dict[str, dict[str, float]] = {}
        #: ``experts-*``: what each expert said about each subject's recording in the last
        #: :meth:`blend` given one (written by :meth:`save` as :data:`PERSON_EXPERTS_FILE`)
        self.person_experts: dict[str, dict[str, np.ndarray]] = {}
        self.info: dict = {}

    @property
    def reads_recording(self) -> bool:
        """Whether the blend weighs its experts on the person's unlabelled windows."""
        return self.mode in PERSON_BLENDS

    def fit(
        self,
        train: WindowSet,
        validation: WindowSet | None,
        network_proba: Callable[[WindowSet], np.ndarray],
        seed: int = 0,
        recordings: WindowSet | None = None,
    ) -> dict:
        """Choose the weight (``val``), then fit the classifier (one per sensor for
        ``experts-*``) on every labelled window of the fold; return the record (``weight``
        and ``validation_log_loss``; ``experts`` for ``experts-*``, and ``gate`` for
        ``experts-gate``).

        ``recordings``: every window of the training and validation people's recordings,
        which ``experts-gate`` reads (no label) for its statistics; without it the gate reads
        their labelled windows."""
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
        if self.reads_recording:
            self.sensors = sensor_columns(names, list(train.modalities))
            self.info = {"feature_names": names}
            record = {"mode": self.mode, "experts": self.expert_names}
            subjects = np.concatenate([part.subjects for part in parts])
            starts = np.concatenate([part.t_start for part in parts])
            if self.detrend != "none":
                people = _people_rows(x, subjects, starts, recordings)
                trends = {p: PersonTrend.fit(rows, t) for p, (rows, t) in people.items()}
                flat = _without_trends(x, subjects, starts, trends)
                if self.detrend in ("auto", "soft"):
                    decision = self._choose_detrend(
                        x, flat, labels, subjects, people, trends, n_classes, seed
                    )
                    if self.detrend == "soft":
                        decision["share"] = round(
                            detrend_share(decision["gain"], decision["standard_error"]), 4
                        )
                    self.detrend_share = float(decision.get("share", decision["detrend"]))
                    record["detrend"] = decision
                if 0.0 < self.detrend_share < 1.0:
                    self._raw_experts = self._fit_experts(x, labels, n_classes, seed)
                x = flat if self.detrend_share > 0 else x
            self._experts = self._fit_experts(x, labels, n_classes, seed)
            if self.mode == "experts-gate":
                self.gate = self._fit_gate(x, labels, subjects, starts, recordings, n_classes, seed)
                record["gate"] = None if self.gate is None else self.gate.to_dict()
            return record
        self._pipeline, info, _ = fit_classifier(self.classifier, x, labels, n_classes, seed)
        self.info = {**info, "feature_names": names}
        return {
            "weight": self.weight,
            "mode": self.mode,
            "validation_log_loss": {str(w): round(s, 4) for w, s in scores.items()},
        }

    def _fit_experts(self, x: np.ndarray, labels: np.ndarray, n_classes: int, seed: int) -> list:
        return [
            fit_classifier(self.classifier, x[:, cols], labels, n_classes, seed)[0]
            for cols in self.sensors.values()
        ]

    def _choose_detrend(
        self,
        x: np.ndarray,
        flat: np.ndarray,
        labels: np.ndarray,
        subjects: np.ndarray,
        people: dict,
        trends: dict[str, PersonTrend],
        n_classes: int,
        seed: int,
    ) -> dict:
        """``auto``: each training person held out in turn, scored by the experts of the
        others as :meth:`blend` would (mutual-information weights over the person's recording,
        the refit if on), with and without the trends; see
        :func:`~xmodal.training.person_trend.detrend_gain`. Fewer than three people: no."""
        names = np.unique(subjects)
        if len(names) < 3:
            return {"detrend": False, "gain": 0.0, "standard_error": float("nan")}
        gains = []
        for person in names:
            mine = subjects == person
            pool, pool_t = people[person]
            trend = trends[person]
            scores = []
            for rows, pool_rows in ((x, pool), (flat, trend.remove(pool, pool_t))):
                experts = self._fit_experts(rows[~mine], labels[~mine], n_classes, seed)
                probas = self._sensor_probas(experts, pool_rows, n_classes)
                weights = mixture_weights(probas, pool_t, self.smoothing, self.disagreement)
                proba = _weighted(self._sensor_probas(experts, rows[mine], n_classes), weights)
                if self.refit:
                    refit = refit_person(pool_rows, _weighted(probas, weights), self.sensors)
                    proba = refined(refit, rows[mine], proba)
                scores.append(_macro_f1(labels[mine], proba, n_classes))
            gains.append(scores[1] - scores[0])
        return {
            key: round(value, 4) if isinstance(value, float) else value
            for key, value in detrend_gain(np.asarray(gains)).items()
        }

    def _fit_gate(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        subjects: np.ndarray,
        starts: np.ndarray,
        recordings: WindowSet | None,
        n_classes: int,
        seed: int,
    ) -> ExpertGate | None:
        """The gate, cross-fitted over the people of the labelled feature rows ``x`` (their
        ``subjects`` and window ``starts``); its statistics read ``recordings`` (else the
        labelled rows). None with fewer than MIN_GATE_PEOPLE people or one sensor."""
        people = np.unique(subjects)
        if len(people) < MIN_GATE_PEOPLE or len(self.sensors) < 2:
            return None
        if recordings is not None:
            pool_rows, pool_subjects, pool_starts = (
                features_of(recordings)[0],
                recordings.subjects,
                recordings.t_start,
            )
        else:
            pool_rows, pool_subjects, pool_starts = x, subjects, starts
        statistics, scores = [], []
        for person in people:
            mine = subjects == person
            experts = self._fit_experts(x[~mine], labels[~mine], n_classes, seed)
            theirs = np.flatnonzero(pool_subjects == person)
            theirs = theirs[np.argsort(pool_starts[theirs], kind="stable")]
            probas = self._sensor_probas(experts, pool_rows[theirs], n_classes)
            statistics.append(expert_statistics(probas))
            scores.append(
                np.array(
                    [
                        _macro_f1(labels[mine], proba, n_classes)
                        for proba in self._sensor_probas(experts, x[mine], n_classes)
                    ]
                )
            )
        return ExpertGate.fit(statistics, scores)

    def _sensor_probas(self, experts: list, rows: np.ndarray, n_classes: int) -> list[np.ndarray]:
        """Each sensor's expert's class probabilities of the feature ``rows``."""
        return [
            predict_classifier(est, rows[:, cols], n_classes)
            for est, cols in zip(experts, self.sensors.values())
        ]

    @property
    def expert_names(self) -> list[str]:
        """``experts-*``: the experts in mixing order, the network's first."""
        streams = [f"network.{m}" for m in self.network_streams]
        return ["network", *streams, *self.sensors]

    def _expert_probas(
        self, features: np.ndarray, network: np.ndarray, experts: list | None = None
    ) -> list[np.ndarray]:
        """The network's experts (``network`` ``(n, k)``, or ``(n, 1 + streams, k)`` by
        stream), then each sensor's (``experts``, default the fold's)."""
        nets = list(np.moveaxis(network, 1, 0)) if network.ndim == 3 else [network]
        experts = self._experts if experts is None else experts
        return [*nets, *self._sensor_probas(experts, features, network.shape[-1])]

    def _variants(self) -> list[tuple[float, bool, list]]:
        """``(share, detrended, experts)`` of each blend in the person's mix: one, or with
        ``soft`` between 0 and 1 the experts without the trends and those with them."""
        share = self.detrend_share
        if 0.0 < share < 1.0:
            return [(share, True, self._experts), (1.0 - share, False, self._raw_experts)]
        return [(1.0, share > 0, self._experts)]

    def _weights_of(self, probas: list[np.ndarray], t_start: np.ndarray | None) -> np.ndarray:
        """``experts-*``: the experts' weights (network first, then each sensor) from their
        probabilities over one person's unlabelled windows in time order (starting at
        ``t_start`` s; None: not averaged over time)."""
        shares = mixture_weights(probas, t_start, self.smoothing, self.disagreement)
        if self.gate is None or len(probas[0]) < MIN_WINDOWS:
            return shares
        nets = 1 + len(self.network_streams)
        sensors = self.gate.weights(expert_statistics(probas[nets:]))
        return np.concatenate([shares[:nets], (1.0 - shares[:nets].sum()) * sensors])

    def _person_blend(
        self, recording: tuple, scored: tuple | None, t_weights: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, float], dict[str, np.ndarray]]:
        """One person's blend: ``recording`` and ``scored`` are ``(feature rows, network
        probabilities, window times)`` of the person's whole recording in time order (which
        the trend, the weights and the refit are taken from) and of the windows scored (None:
        the recording itself); ``t_weights``: the times for the experts' average over time
        (None: none). Returns the scored windows' probabilities, the experts' weights and the
        refit's sensor weights, each mixed over :meth:`_variants` by its share, and what each
        expert said about the recording (:data:`PERSON_EXPERTS_FILE`)."""
        out, weights, refit_weights = 0.0, 0.0, {}
        said: dict[str, list] = {"shares": [], "probabilities": [], "weights": []}
        recording_blend = 0.0
        for share, detrended, experts in self._variants():
            pool_rows, pool_network, t_pool = recording
            rows, network, t_rows = recording if scored is None else scored
            if detrended:  # the person's trend, from the person's recording
                trend = PersonTrend.fit(pool_rows, t_pool)
                pool_rows = trend.remove(pool_rows, t_pool)
                rows = pool_rows if scored is None else trend.remove(rows, t_rows)
            probas = self._expert_probas(pool_rows, pool_network, experts)
            mix = self._weights_of(probas, t_weights)
            taught = _weighted(probas, mix)
            proba = (
                taught
                if scored is None
                else _weighted(self._expert_probas(rows, network, experts), mix)
            )
            if self.refit:  # taught by the blend of the person's whole recording
                refit = refit_person(pool_rows, taught, self.sensors)
                for m, w in ({} if refit is None else refit.weights).items():
                    refit_weights[m] = refit_weights.get(m, 0.0) + share * w
                proba = refined(refit, rows, proba)
                taught = proba if scored is None else refined(refit, pool_rows, taught)
            out = out + share * proba
            weights = weights + share * mix
            recording_blend = recording_blend + share * taught
            said["shares"].append(share)
            said["probabilities"].append(np.stack(probas, axis=1))
            said["weights"].append(mix)
        experts_said = {key: np.asarray(value, dtype=np.float64) for key, value in said.items()}
        experts_said["blend"] = np.asarray(recording_blend, dtype=np.float64)
        return out, weights, refit_weights, experts_said

    def blend(
        self,
        windows: WindowSet,
        network: np.ndarray,
        recording: WindowSet | None = None,
        recording_network: np.ndarray | None = None,
    ) -> np.ndarray:
        """The hybrid's probabilities of ``windows`` (all modalities) from the network's.

        ``experts-mi`` weighs the experts per subject on that subject's windows of
        ``recording`` (every window, labelled or not, with the network's probabilities
        ``recording_network``), or on its windows of ``windows`` when no recording is given;
        the weights are kept in :attr:`person_weights`, and with a recording what each expert
        said about it in :attr:`person_experts`.
        """
        if len(windows) == 0:
            return network[:, 0] if network.ndim == 3 else network
        features = features_of(windows)[0]
        if not self.reads_recording:
            return self.blend_rows(features, network)
        whole_recording = recording is not None
        if recording is None:
            recording, recording_network = windows, network
        pool = features_of(recording)[0]
        # the scored windows' labels at their places in the recording (-1 elsewhere)
        recording_labels = np.full(len(recording), -1, dtype=np.int64)
        if whole_recording:
            at = recording.matching_rows(windows)
            recording_labels[at[at >= 0]] = windows.labels[at >= 0]
        out = np.zeros((len(windows), network.shape[-1]))
        for subject in np.unique(windows.subjects):
            mine = windows.subjects == subject
            theirs = np.flatnonzero(recording.subjects == subject)
            if not len(theirs):
                raise DataError(f"{subject}: no recording windows to weigh the experts on")
            theirs = theirs[np.argsort(recording.t_start[theirs], kind="stable")]
            t_pool = recording.t_start[theirs]
            out[mine], weights, refit_weights, said = self._person_blend(
                (pool[theirs], recording_network[theirs], t_pool),
                (features[mine], network[mine], windows.t_start[mine]),
                t_pool,
            )
            if whole_recording:
                self.person_experts[str(subject)] = {
                    **said,
                    "t_start": t_pool,
                    "labels": recording_labels[theirs],
                }
            self.person_weights[str(subject)] = {
                name: round(float(w), 4) for name, w in zip(self.expert_names, weights)
            }
            if self.refit:
                self.refit_weights[str(subject)] = {
                    m: round(w, 4) for m, w in refit_weights.items()
                }
        return out

    def blend_rows(
        self, features: np.ndarray, network: np.ndarray, t_start: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`blend` from the windows' feature rows (``experts-*``: the rows are one
        person's recording in time order, which the weights are taken from; ``t_start``: their
        start times, for a blend that removes the person's trend or averages the experts'
        probabilities over time; None: equally spaced for the trend, no average)."""
        if self.reads_recording:
            t = np.arange(len(features), dtype=np.float64) if t_start is None else t_start
            return self._person_blend((features, network, t), None, t_start)[0]
        proba = predict_classifier(self._pipeline, features, network.shape[1])
        return self.weight * network + (1.0 - self.weight) * proba

    def save(self, folder: Path) -> None:
        """Write :data:`BLEND_FILE` (weight, parameters, importances, the experts' sensors
        and columns) and :data:`CLASSIFIER_FILE` (the classifiers as arrays, no pickle) into
        ``folder``."""
        record = {**self.info, "weight": self.weight, "mode": self.mode}
        record["classifier"] = self.classifier
        record["person_refit"] = self.refit
        record["features_detrend"] = self.detrend
        record["detrends"] = self.detrend_share > 0
        record["detrend_share"] = self.detrend_share
        record["experts_smoothing"] = self.smoothing
        record["experts_disagreement"] = self.disagreement
        record["network_streams"] = list(self.network_streams)
        if self.reads_recording:
            record["experts"] = {m: cols.tolist() for m, cols in self.sensors.items()}
            record["gate"] = None if self.gate is None else self.gate.to_dict()
            save_classifiers(Path(folder) / CLASSIFIER_FILE, self._experts)
            if self._raw_experts:
                save_classifiers(Path(folder) / RAW_CLASSIFIER_FILE, self._raw_experts)
        else:
            save_classifier(Path(folder) / CLASSIFIER_FILE, self._pipeline)
        if self.person_experts:
            arrays = {
                f"{subject}.{key}": value
                for subject, said in self.person_experts.items()
                for key, value in said.items()
            }
            arrays["experts"] = np.asarray(self.expert_names)
            atomic_write_stream(
                Path(folder) / PERSON_EXPERTS_FILE,
                lambda fh: np.savez_compressed(fh, **arrays),
            )
        atomic_write_json(Path(folder) / BLEND_FILE, record)

    @classmethod
    def load(cls, folder: Path) -> FeaturesBlend:
        """The features half saved in ``folder`` by :meth:`save`; DataError if absent or
        damaged."""
        path = Path(folder) / BLEND_FILE
        try:
            record = read_json(path)
            blend = cls(
                str(record["mode"]),
                str(record["classifier"]),
                refit=bool(record.get("person_refit", False)),
                detrend=str(record.get("features_detrend", "none")),
                smoothing=float(record.get("experts_smoothing", 0.0)),
                disagreement=float(record.get("experts_disagreement", 0.0)),
            )
            # folds saved before soft: detrends (bool) alone
            blend.detrend_share = float(
                record.get("detrend_share", float(bool(record.get("detrends", False))))
            )
            blend.network_streams = [str(m) for m in record.get("network_streams", [])]
            blend.weight = float(record["weight"])
            if blend.reads_recording:
                blend.sensors = {
                    str(m): np.asarray(cols, dtype=np.int64)
                    for m, cols in record["experts"].items()
                }
                gate = record.get("gate")
                blend.gate = None if gate is None else ExpertGate.from_dict(gate)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}: cannot read the hybrid's features half ({exc})") from None
        blend.info = record
        if blend.reads_recording:
            blend._experts = load_classifiers(Path(folder) / CLASSIFIER_FILE, len(blend.sensors))
            if 0.0 < blend.detrend_share < 1.0:
                blend._raw_experts = load_classifiers(
                    Path(folder) / RAW_CLASSIFIER_FILE, len(blend.sensors)
                )
        else:
            blend._pipeline = load_classifier(Path(folder) / CLASSIFIER_FILE)
        return blend

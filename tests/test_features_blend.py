"""The hybrid of a network and the classical features (``--features-blend``): context windows,
the classifier saved as arrays, the weight chosen on validation windows only, a tiny run that
saves, loads, predicts (equal to its fold's test predictions) and refuses export and streams."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xmodal.api import person_experts
from xmodal.cli import main
from xmodal.config import ModelConfig, RunConfig
from xmodal.errors import ConfigError, DataError
from xmodal.models.features import fit_classifier
from xmodal.models.features_arrays import (
    ArrayClassifier,
    classifier_arrays,
    load_classifier,
    load_classifiers,
    save_classifiers,
)
from xmodal.signals.preprocess import PreprocessedRecording
from xmodal.signals.windows import WindowSet, context_extra, context_windows, make_windows
from xmodal.training.adaptation import MIN_WINDOWS
from xmodal.training.features_blend import (
    BLEND_WEIGHTS,
    FeaturesBlend,
    choose_weight,
    mixture_weights,
    sensor_columns,
)

WRIST = ["wrist.BVP", "wrist.EDA", "wrist.TEMP", "wrist.ACC"]


# ---------------------------------------------------------------------------- context windows


def _ramp_recording(seconds: float = 200.0, rate: float = 4.0) -> PreprocessedRecording:
    n = int(seconds * rate)
    ramp = np.arange(n, dtype=np.float32)[None, :]  # sample index: positions are readable
    return PreprocessedRecording("S1", {"x.EDA": ramp}, {"x.EDA": rate}, None, None)


def test_context_ends_where_its_window_ends_and_clamps_at_the_start():
    rec = _ramp_recording()
    ws = make_windows(rec, None, 10.0, 10.0, keep_unlabelled=True, context=60.0)
    ctx = ws.extras[context_extra("x.EDA")]
    assert ctx.shape == (len(ws), 1, 240)
    for i, t in enumerate(ws.t_start):
        end = int((t + 10.0) * 4)  # sample after the window's last
        assert ws.inputs["x.EDA"][i, 0, -1] == end - 1
        if end >= 240:
            assert ctx[i, 0, -1] == end - 1 and ctx[i, 0, 0] == end - 240
        else:  # the first 50 s: the recording's first minute
            assert ctx[i, 0, 0] == 0 and ctx[i, 0, -1] == 239
    view = context_windows(ws)
    assert view.window == 60.0 and view.inputs["x.EDA"] is ctx
    # subsets carry the contexts along; windows without contexts are their own
    assert context_extra("x.EDA") in ws.subset(np.arange(3)).extras
    plain = make_windows(rec, None, 10.0, 10.0, keep_unlabelled=True)
    assert context_windows(plain) is plain


def test_a_recording_shorter_than_the_context_is_refused():
    with pytest.raises(DataError, match="S1.*shorter than the 60-s context of the features blend"):
        make_windows(_ramp_recording(40.0), None, 10.0, 10.0, True, context=60.0)


# ---------------------------------------------------------------------------- saved classifier


@pytest.mark.parametrize("name", ["rf", "lda"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_array_classifier_predicts_as_the_fitted_pipeline(name, n_classes, tmp_path):
    rng = np.random.default_rng(n_classes)
    x = rng.normal(size=(300, 8))
    y = rng.integers(0, n_classes, 300)
    x[:, 2] += y
    x[rng.random(x.shape) < 0.05] = np.nan
    pipeline, _, _ = fit_classifier(name, x, y, n_classes, seed=3)
    test = rng.normal(size=(120, 8))
    test[rng.random(test.shape) < 0.1] = np.nan
    loaded = ArrayClassifier(classifier_arrays(pipeline))
    np.testing.assert_array_equal(loaded.classes_, pipeline.classes_)
    np.testing.assert_allclose(loaded.predict_proba(test), pipeline.predict_proba(test), atol=1e-12)


@pytest.mark.parametrize("name", ["rf", "lda"])
def test_a_classifier_that_saw_one_class_predicts_it(name):
    """A fold whose training windows hold one class (short records, subject-dependent pieces)."""
    from xmodal.models.features import predict_classifier

    rng = np.random.default_rng(0)
    pipeline, _, _ = fit_classifier(name, rng.normal(size=(40, 5)), np.full(40, 1), 3)
    for est in (pipeline, ArrayClassifier(classifier_arrays(pipeline))):
        proba = predict_classifier(est, rng.normal(size=(7, 5)), 3)
        np.testing.assert_array_equal(proba, np.tile([0.0, 1.0, 0.0], (7, 1)))


def test_load_classifier_refuses_other_files(tmp_path):
    junk = tmp_path / "c.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="c.npz: not a saved features classifier"):
        load_classifier(junk)
    objects = tmp_path / "o.npz"
    np.savez(objects, kind=np.array(["rf", None], dtype=object))  # would need pickle to read
    with pytest.raises(DataError, match="o.npz: not a saved features classifier"):
        load_classifier(objects)
    # several classifiers in one file: each read back, and a file with fewer refused
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)), np.repeat([0, 1], 30)
    fitted = [fit_classifier(name, x, y, 2, 0)[0] for name in ("lda", "rf")]
    both = tmp_path / "both.npz"
    save_classifiers(both, fitted)
    for pipeline, loaded in zip(fitted, load_classifiers(both, 2)):
        np.testing.assert_allclose(loaded.predict_proba(x), pipeline.predict_proba(x), atol=1e-9)
    with pytest.raises(DataError, match="both.npz: not a saved features classifier"):
        load_classifiers(both, 3)


# ---------------------------------------------------------------------------- the weight


def test_choose_weight_takes_the_best_share_and_ties_go_to_equal():
    labels = np.array([0, 0, 1, 1])
    right = np.eye(2)[labels]
    wrong = np.eye(2)[1 - labels]
    unsure = 0.4 + 0.2 * right  # right at 0.6, the features certain and wrong: w = 1
    weight, scores = choose_weight(labels, unsure, wrong)
    assert weight == 1.0 and set(scores) == set(BLEND_WEIGHTS)
    weight, _ = choose_weight(labels, right, right)  # every share ties: the equal blend
    assert weight == 0.5


def _windows(subjects: list[str], n: int = 40, seed: int = 0) -> WindowSet:
    rng = np.random.default_rng(seed)
    k = n * len(subjects)
    labels = np.tile(np.repeat([0, 1], n // 2), len(subjects))
    x = rng.normal(size=(k, 1, 40)).astype(np.float32) + labels[:, None, None]
    return WindowSet(
        {"x.EDA": x},
        np.repeat(subjects, n),
        labels,
        np.tile(np.arange(n) * 10.0, len(subjects)),
        {"x.EDA": 4.0},
        ("a", "b"),
    )


def test_val_blend_reads_only_the_validation_windows():
    train, val = _windows(["S1", "S2"]), _windows(["S3"], seed=1)
    seen = []

    def network(windows):
        seen.append(set(windows.subjects))
        return np.full((len(windows), 2), 0.5)

    blend = FeaturesBlend("val")
    record = blend.fit(train, val, network, seed=0)
    assert seen == [{"S3"}]  # the network's probabilities of the validation subjects only
    assert record["mode"] == "val" and set(record["validation_log_loss"]) == {
        str(w) for w in BLEND_WEIGHTS
    }
    equal = FeaturesBlend("equal")
    assert equal.fit(train, val, network)["weight"] == 0.5 and equal.weight == 0.5
    # deterministic for a seed
    again = FeaturesBlend("val")
    again.fit(train, val, network, seed=0)
    test = _windows(["S4"], seed=2)
    proba = np.full((len(test), 2), 0.5)
    np.testing.assert_array_equal(blend.blend(test, proba), again.blend(test, proba))


# ---------------------------------------------------------------------------- experts-mi


def test_sensor_columns_group_the_features_of_each_modality():
    names = ["w.BVP.hr", "w.EDA.scl", "w.ACC[0].mean", "w.ACC[mag].std", "w.BVP.std"]
    cols = sensor_columns(names, ["w.BVP", "w.EDA", "w.ACC", "w.TEMP"])
    assert {m: c.tolist() for m, c in cols.items()} == {
        "w.BVP": [0, 4],
        "w.EDA": [1],
        "w.ACC": [2, 3],
    }


def test_mixture_weights_follow_the_information_of_each_expert():
    n = 2 * MIN_WINDOWS
    states = np.repeat([0, 1], n // 2)
    follows = np.eye(2)[states] * 0.8 + 0.1  # confident and varies with the window
    flat = np.tile([0.9, 0.1], (n, 1))  # the same for every window: no information
    weights = mixture_weights([flat, follows, flat])
    assert weights[1] > 0.99 and np.isclose(weights.sum(), 1.0)
    # too few windows, or no expert informative: equal weights
    np.testing.assert_allclose(mixture_weights([flat[:3], follows[:3]]), [0.5, 0.5])
    np.testing.assert_allclose(mixture_weights([flat, flat]), [0.5, 0.5])


def _two_sensor_windows(subjects, silent=None, n=40, seed=0) -> WindowSet:
    """Two sensors that both follow the label, except ``silent``'s in the last subject."""
    rng = np.random.default_rng(seed)
    k = n * len(subjects)
    labels = np.tile(np.repeat([0, 1], n // 2), len(subjects))
    x = {}
    for m in ("x.EDA", "x.BVP"):
        signal = rng.normal(size=(k, 1, 40)).astype(np.float32)
        signal += 2.0 * labels[:, None, None]
        if m == silent:
            last = slice(k - n, k)
            signal[last] = rng.normal(size=(n, 1, 40)).astype(np.float32)
        x[m] = signal
    return WindowSet(
        x,
        np.repeat(subjects, n),
        labels,
        np.tile(np.arange(n) * 10.0, len(subjects)),
        {"x.EDA": 4.0, "x.BVP": 4.0},
        ("a", "b"),
    )


def test_experts_mi_trusts_the_sensor_that_responds_and_reads_no_label(tmp_path):
    train = _two_sensor_windows(["S1", "S2", "S3"])
    blend = FeaturesBlend("experts-mi", "lda")
    record = blend.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    assert record["experts"] == ["network", "x.EDA", "x.BVP"]
    test = _two_sensor_windows(["S1", "S4"], silent="x.EDA", seed=1).of_subjects(["S4"])
    network = np.full((len(test), 2), 0.5)  # a network that knows nothing
    proba = blend.blend(test, network)
    weights = blend.person_weights["S4"]
    assert weights["x.BVP"] > 0.6 and weights["x.EDA"] < 0.25 and weights["network"] < 1e-6
    assert (proba.argmax(1) == test.labels).mean() > 0.9
    # instrumented: the same windows without labels blend to the same probabilities
    unlabelled = _two_sensor_windows(["S1", "S4"], silent="x.EDA", seed=1).of_subjects(["S4"])
    unlabelled.labels[:] = -1
    np.testing.assert_array_equal(blend.blend(unlabelled, network), proba)
    # the weights come from the recording when one is given, every window of it
    half = test.of_subjects(["S4"])
    first = np.flatnonzero(half.t_start < 200.0)
    part = WindowSet(
        {m: v[first] for m, v in half.inputs.items()},
        half.subjects[first],
        half.labels[first],
        half.t_start[first],
        half.rates,
        half.classes,
    )
    np.testing.assert_allclose(
        blend.blend(part, network[first], test, network), proba[first], atol=1e-12
    )
    # saved as arrays, loaded without pickle: the same mixture
    blend.save(tmp_path)
    loaded = FeaturesBlend.load(tmp_path)
    from xmodal.models.features import features_of

    rows = features_of(test)[0]
    np.testing.assert_allclose(loaded.blend_rows(rows, network), proba, atol=1e-12)
    # deterministic for a seed
    again = FeaturesBlend("experts-mi", "lda")
    again.fit(train, None, lambda w: np.full((len(w), 2), 0.5), seed=0)
    np.testing.assert_array_equal(again.blend(test, network), proba)


# ---------------------------------------------------------------------------- settings


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="network_modalities.*features_blend"):
        ModelConfig(network_modalities=("wrist.EDA",)).resolved()
    with pytest.raises(ConfigError, match="rf and lda, not 'adaboost'"):
        ModelConfig(features_blend="equal", features_model="adaboost").resolved()
    with pytest.raises(ConfigError, match="unknown features blend"):
        ModelConfig(features_blend="sometimes").resolved()
    from xmodal.training.estimators import estimator_for

    config = RunConfig()
    config.model.features_blend = "equal"
    config.model.network_modalities = ("wrist.BVP",)
    with pytest.raises(ConfigError, match="wrist.BVP are not among the run's modalities"):
        estimator_for(config).check_modalities(["chest.ECG", "chest.EDA"])


# ---------------------------------------------------------------------------- a tiny hybrid run


def _train(data: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "train",
            str(data),
            "--out",
            str(out),
            "--cache-dir",
            str(out.parent / "cache"),
            "--modalities",
            *WRIST,
            "--network-modalities",
            "wrist.BVP",
            "wrist.EDA",
            "--task",
            "binary",
            "--epochs",
            "1",
            "--val-subjects",
            "1",
            "--train-stride",
            "10",
            "--ensemble",
            "1",
            "--quiet",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def hybrid_run(tiny_wesad, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hybrid") / "run"
    assert (
        _train(tiny_wesad, out, "--model", "attentive", "--features-blend", "val", "--final") == 0
    )
    return out


def test_hybrid_run_saves_its_halves_and_is_deterministic(hybrid_run, tiny_wesad, tmp_path):
    folds = sorted((hybrid_run / "folds").iterdir())
    for fold in folds:
        for name in ("model.pt", "features_blend.json", "features_classifier.npz"):
            assert (fold / name).is_file(), (fold, name)
        record = json.loads((fold / "fold.json").read_text())
        assert record["features_blend"]["weight"] in BLEND_WEIGHTS
        assert record["features_blend"]["mode"] == "val"
    for name in ("model.pt", "features_blend.json", "features_classifier.npz"):
        assert (hybrid_run / "final" / name).is_file(), name  # --final: no validation, w = 0.5
    final = json.loads((hybrid_run / "final" / "features_blend.json").read_text())
    assert final["weight"] == 0.5
    assert final["classifier"] == "lda"  # auto: a shrinkage LDA in a hybrid
    again = tmp_path / "again"
    assert (
        _train(tiny_wesad, again, "--model", "attentive", "--features-blend", "val", "--final") == 0
    )
    a = pd.read_csv(hybrid_run / "predictions.csv")
    b = pd.read_csv(again / "predictions.csv")
    pd.testing.assert_frame_equal(a, b)


def test_hybrid_predict_equals_its_fold_and_export_refuses(
    hybrid_run, tiny_wesad, tmp_path, capsys
):
    fold = sorted((hybrid_run / "folds").iterdir())[0]
    record = json.loads((fold / "fold.json").read_text())
    subject = record["test_subjects"][0]
    out = tmp_path / "pred.csv"
    code = main(
        [
            "predict",
            str(hybrid_run),
            str(tiny_wesad / subject),
            "--fold",
            fold.name,
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out)
    expected = dict(
        zip(np.round(record["predictions"]["t_start"], 3), record["predictions"]["proba"])
    )
    columns = [c for c in table.columns if c.startswith("p_")]
    matched = 0
    for _, row in table.iterrows():
        t = round(float(row["t_start"]), 3)
        if t in expected:
            np.testing.assert_allclose(row[columns].to_numpy(float), expected[t], atol=2e-6)
            matched += 1
    assert matched == len(expected)
    # explain: the network's attention, the hybrid's probabilities
    assert (
        main(["explain", str(hybrid_run), str(tiny_wesad / subject), "--out", str(tmp_path / "x")])
        == 0
    )
    assert (tmp_path / "x" / "attention.json").is_file()
    capsys.readouterr()
    assert main(["export", str(hybrid_run), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "hybrid run" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
    from xmodal.inference.predictor import Predictor

    predictor = Predictor.from_run(hybrid_run)  # the final model and its features half
    assert predictor.source == "final" and len(predictor.features) == 1
    assert predictor.input_modalities == WRIST  # the features read TEMP and ACC too
    with pytest.raises(ConfigError, match="cannot stream"):
        predictor.stream({m: 64.0 for m in WRIST})
    with pytest.raises(ConfigError, match="describes whole recordings"):
        predictor.windows({}, {}, normalization="running")


@pytest.mark.parametrize(
    ("blend", "adapt", "detrend", "smoothing", "network_experts", "disagreement"),
    [
        ("experts-mi", "none", "none", 0.0, "fused", 0.0),
        ("experts-mi", "adabn", "soft", 60.0, "fused", 0.0),
        ("experts-mi", "none", "person", 60.0, "streams", 0.3),
        ("experts-gate", "adabn", "none", 60.0, "streams", 0.0),
    ],
)
def test_experts_run_records_its_weights_and_predict_equals_its_fold(
    blend, adapt, detrend, smoothing, network_experts, disagreement, tiny_wesad, tmp_path
):
    run = tmp_path / "run"
    args = ["--features-blend", blend, "--adapt", adapt, "--features-detrend", detrend]
    args += ["--experts-smoothing", f"{smoothing:g}", "--network-experts", network_experts]
    args += ["--experts-disagreement", f"{disagreement:g}"]
    assert _train(tiny_wesad, run, *args) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["config"]["model"]["features_blend"] == blend
    assert results["config"]["model"]["features_detrend"] == detrend
    fold = sorted((run / "folds").iterdir())[0]
    record = json.loads((fold / "fold.json").read_text())
    subject = record["test_subjects"][0]
    weights = results["folds"][0]["expert_weights"][subject]
    # the network as one expert, or its fused output and each of its two streams alone
    streams = ["network.wrist.BVP", "network.wrist.EDA"] if network_experts == "streams" else []
    assert list(weights) == ["network", *streams, *WRIST]
    assert np.isclose(sum(weights.values()), 1.0, 1e-3)
    saved = json.loads((fold / "features_blend.json").read_text())
    assert list(saved["experts"]) == WRIST
    assert saved["network_streams"] == [s.removeprefix("network.") for s in streams]
    assert saved["experts_disagreement"] == disagreement
    # the refit (auto: on for the person blends) is recorded, its sensors' weights too
    assert results["config"]["model"]["person_refit"] == "recording" and saved["person_refit"]
    refit = results["folds"][0]["refit_weights"][subject]
    assert not refit or np.isclose(sum(refit.values()), 1.0, 1e-3)
    card = (run / "MODEL_CARD.md").read_text()
    assert "person refit" in card
    assert ("each of its streams alone" in card) == (network_experts == "streams")
    assert ("keeps 1 + r/0.3 of its weight" in card) == (disagreement > 0)
    # the experts' probabilities averaged over time before they are weighed (0: not)
    assert saved["experts_smoothing"] == smoothing
    assert ("averaged over 60 s" in card) == (smoothing > 0)
    # the gate: fitted on the fold's three labelled people (four subjects, one tested)
    assert (saved["gate"] is not None) == (blend == "experts-gate")
    # the person's trend: removed always (person), or as the fold's three labelled people,
    # each held out in turn, decided (soft: recorded with its gain and the detrended share)
    assert saved["features_detrend"] == detrend
    assert saved["detrend_share"] == float(detrend == "person") or detrend == "soft"
    if detrend == "soft":
        decision = record["features_blend"]["detrend"]
        assert decision["share"] == saved["detrend_share"] and "standard_error" in decision
        assert (fold / "features_classifier_with_trends.npz").exists() == (
            0 < saved["detrend_share"] < 1
        )
    expected = dict(
        zip(np.round(record["predictions"]["t_start"], 3), record["predictions"]["proba"])
    )
    # what each expert said about the test person's recording: the same experts and weights,
    # mixed by the variants' shares; the final blend at the test windows is the fold's
    said = person_experts(run)[subject]
    assert said["experts"] == list(weights)
    n, k = len(said["t_start"]), len(results["classes"])
    assert np.all(np.diff(said["t_start"]) > 0) and said["labels"].shape == (n,)
    assert said["probabilities"].shape == (len(said["shares"]), n, len(weights), k)
    assert np.isclose(said["shares"].sum(), 1.0)
    mixed = said["shares"] @ said["weights"]
    np.testing.assert_allclose(mixed, list(weights.values()), atol=1e-4)
    at = {round(float(t), 3): i for i, t in enumerate(said["t_start"])}
    for t, proba in expected.items():
        np.testing.assert_allclose(said["blend"][at[t]], proba, atol=2e-6)
        assert said["labels"][at[t]] in range(k)
    out = tmp_path / "pred.csv"
    code = main(
        ["predict", str(run), str(tiny_wesad / subject), "--fold", fold.name, "--out", str(out)]
    )
    assert code == 0
    table = pd.read_csv(out)
    columns = [c for c in table.columns if c.startswith("p_")]
    rows = table[np.round(table["t_start"], 3).isin(list(expected))]
    assert len(rows) == len(expected)
    for _, row in rows.iterrows():
        t = round(float(row["t_start"]), 3)
        np.testing.assert_allclose(row[columns].to_numpy(float), expected[t], atol=2e-6)


def test_hybrid_refuses_running_normalisation(tiny_wesad, tmp_path, capsys):
    code = _train(
        tiny_wesad, tmp_path / "run", "--features-blend", "equal", "--normalize", "running"
    )
    assert code == 2
    assert "features context longer than the window" in capsys.readouterr().err


# ---------------------------------------------------------------------------- defaults


def test_auto_blend_is_experts_mi_for_fusion_networks_only():
    from xmodal.models.registry import features_blend_of

    assert features_blend_of(ModelConfig(name="attentive")) == "experts-mi"
    assert features_blend_of(ModelConfig(name="late-fusion")) == "experts-mi"
    assert features_blend_of(ModelConfig(name="single")) == "none"
    assert features_blend_of(ModelConfig(name="features")) == "none"
    assert features_blend_of(ModelConfig(name="single", features_blend="val")) == "val"
    assert features_blend_of(ModelConfig(name="attentive", features_blend="none")) == "none"


def test_auto_features_model_is_lda_in_a_hybrid_and_rf_alone(tiny_wesad):
    from xmodal.models.registry import features_model_of
    from xmodal.training.experiment import validate_config

    assert features_model_of(ModelConfig(name="attentive")) == "lda"
    assert features_model_of(ModelConfig(name="late-fusion", features_blend="val")) == "lda"
    assert features_model_of(ModelConfig(name="attentive", features_blend="none")) == "rf"
    assert features_model_of(ModelConfig(name="features")) == "rf"
    assert features_model_of(ModelConfig(name="attentive", features_model="rf")) == "rf"
    assert features_model_of(ModelConfig(name="features", features_model="lda")) == "lda"
    config = RunConfig()
    config.data.path = str(tiny_wesad)
    config.data.modalities = ("wrist.BVP", "wrist.EDA")
    resolved = validate_config(config).model  # the run records the concrete settings
    assert (resolved.features_blend, resolved.features_model) == ("experts-mi", "lda")
    config.model.name = "features"
    assert validate_config(config).model.features_model == "rf"


def test_device_sensors_add_the_wrists_temp_and_acc(tiny_wesad):
    from xmodal.config import DataConfig
    from xmodal.data.datasets import resolve_features_sensors

    wrist = DataConfig(path=str(tiny_wesad), modalities=("wrist.BVP", "wrist.EDA"))
    data, model = resolve_features_sensors(wrist, ModelConfig(features_blend="equal"))
    assert data.modalities == ("wrist.BVP", "wrist.EDA", "wrist.TEMP", "wrist.ACC")
    assert model.network_modalities == ("wrist.BVP", "wrist.EDA")
    chest = DataConfig(path=str(tiny_wesad), modalities=("chest.ECG", "chest.EDA"))
    assert resolve_features_sensors(chest, ModelConfig(features_blend="equal"))[0] == chest
    for model in (
        ModelConfig(features_blend="equal", features_sensors="same"),
        ModelConfig(features_blend="none"),
        ModelConfig(features_blend="equal", network_modalities=("wrist.EDA",)),
    ):
        assert resolve_features_sensors(wrist, model) == (wrist, model)


def test_person_experts_refuses_a_damaged_file_and_is_empty_without_one(tmp_path):
    assert person_experts(tmp_path) == {}
    fold = tmp_path / "folds" / "fold-00-S2"
    fold.mkdir(parents=True)
    (fold / "person_experts.npz").write_bytes(b"not an npz")
    with pytest.raises(DataError, match="fold-00-S2/person_experts.npz"):
        person_experts(tmp_path)

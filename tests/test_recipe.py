"""The fusion recipe: per-stream heads, blending, modality dropout, OGM-GE, augmentation, warm
start, weight averaging, seed ensembles and contrastive pretraining."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from xmodal.cli import main
from xmodal.config import ModelConfig, RunConfig, TrainConfig
from xmodal.errors import ConfigError
from xmodal.models.ensemble import SeedEnsemble
from xmodal.models.registry import build_model
from xmodal.signals.windows import WindowSet
from xmodal.training import recipe, remedies
from xmodal.training.augment import augment_windows
from xmodal.training.recipe import choose_mix, fit_network
from xmodal.training.trainer import head_logits, predict_logits

RATES = {"chest.ECG": 64.0, "chest.EDA": 4.0}


def _windows(n: int = 48, seed: int = 0, informative: str = "chest.EDA") -> WindowSet:
    """Two modalities, 10-s windows; only ``informative`` carries the class (a level shift)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    inputs = {}
    for m, fs in RATES.items():
        x = rng.standard_normal((n, 1, int(10 * fs))).astype(np.float32)
        if m == informative:
            x += 1.5 * labels[:, None, None].astype(np.float32)
        inputs[m] = x
    subjects = np.array([f"S{2 + i % 3}" for i in range(n)])
    return WindowSet(
        inputs,
        subjects,
        labels.astype(np.int64),
        np.arange(n) * 10.0,
        dict(RATES),
        ("a", "b"),
        10.0,
    )


def _config(model: dict | None = None, training: dict | None = None) -> RunConfig:
    base = RunConfig(
        model=ModelConfig(name="attentive", widths=(4, 4, 4), ensemble=1),
        training=TrainConfig(epochs=3, min_epochs=1, batch_size=16),
    )
    raw = {}
    if model:
        raw["model"] = model
    if training:
        raw["training"] = training
    return base.updated(raw)


REMEDIES = {
    "aux-fused": ({"aux_heads": True}, {"aux_weight": 0.5}),
    "aux-val": ({"aux_heads": True, "output": "val"}, {"aux_weight": 0.5}),
    "aux-mean": ({"aux_heads": True, "output": "mean"}, {"aux_weight": 0.5}),
    "gblend": ({"aux_heads": True, "output": "blend"}, {"gblend": True}),
    "aux-detach-val": (
        {"aux_heads": True, "output": "val"},
        {"aux_weight": 1.0, "aux_detach": True},
    ),
    "modality-dropout": ({}, {"modality_dropout": 0.5}),
    "ogm-ge": ({"aux_heads": True}, {"aux_weight": 0.5, "ogm_alpha": 0.5}),
    "augment": ({}, {"augment": 1.0}),
    "warm-start": ({}, {"warm_start": True}),
    "swa": ({}, {"swa": True}),
    "ensemble": ({"ensemble": 2}, {}),
    "pretrain": ({}, {"pretrain_epochs": 1}),
}


def _fit(config: RunConfig, train: WindowSet, val: WindowSet):
    torch.manual_seed(5)
    model, info = fit_network(config, train, val, 2, train.input_shapes, seed=5, unlabelled=train)
    return model, info


@pytest.mark.parametrize("name", sorted(REMEDIES))
def test_each_remedy_runs_and_is_deterministic(name):
    model_cfg, train_cfg = REMEDIES[name]
    config = _config(model_cfg, train_cfg)
    train, val = _windows(48, 0), _windows(24, 1)
    a, info_a = _fit(config, train, val)
    b, info_b = _fit(config, train, val)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert info_a["best_epoch"] == info_b["best_epoch"]
    proba = torch.softmax(torch.from_numpy(predict_logits(a, val)), 1).numpy()
    assert proba.shape == (24, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    if name == "ensemble":
        assert isinstance(a, SeedEnsemble) and len(a.members) == 2
    if name == "pretrain":
        assert info_a["pretraining"]["n_windows"] == 48
    if model_cfg.get("aux_heads"):
        weights = info_a["output_weights"][0]
        assert len(weights) == 3 and abs(sum(weights) - 1) < 1e-3


def test_output_mix_chosen_on_validation_prefers_the_informative_head():
    probs_good = np.log(np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.2], [0.1, 0.9]]))
    probs_bad = np.log(np.array([[0.1, 0.9], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]))
    labels = np.array([0, 1, 0, 1])
    w = choose_mix([probs_bad, probs_bad, probs_good], labels, ("a", "b"))
    assert w[2] == pytest.approx(1.0)
    # ties keep the fused head alone
    w = choose_mix([probs_good, probs_good, probs_good], labels, ("a", "b"))
    assert w.tolist() == [1.0, 0.0, 0.0]


def test_output_weights_mix_head_probabilities():
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(widths=(4, 4, 4), aux_heads=True, ensemble=1),
        {m: (1, int(10 * fs)) for m, fs in RATES.items()},
        3,
    ).eval()
    xs = model.example_inputs(5)
    xs = tuple(torch.randn_like(x) for x in xs)
    with torch.no_grad():
        heads = [torch.softmax(z, 1) for z in model.head_logits(*xs)]
        assert torch.allclose(torch.softmax(model(*xs), 1), heads[0], atol=1e-6)
        model.output_weights.copy_(torch.tensor([0.5, 0.25, 0.25]))
        mixed = 0.5 * heads[0] + 0.25 * heads[1] + 0.25 * heads[2]
        assert torch.allclose(torch.softmax(model(*xs), 1), mixed, atol=1e-6)


def test_modality_dropout_masks_whole_streams():
    mask = remedies.drop_mask(1000, 2, 0.3, torch.Generator().manual_seed(0))
    assert set(mask.sum(1).tolist()) <= {1.0, 2.0}  # never both streams dropped
    assert 0.25 < (mask.sum(1) == 1).float().mean().item() < 0.35
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(widths=(4, 4, 4), ensemble=1),
        {m: (1, int(10 * fs)) for m, fs in RATES.items()},
        2,
    ).eval()
    xs = [torch.randn(3, *s) for s in model.input_shapes.values()]
    keep = torch.tensor([[1.0, 0.0]] * 3)
    changed = [xs[0], torch.randn(3, *model.input_shapes["chest.EDA"])]
    with torch.no_grad():  # a dropped stream does not reach the fused head at all
        assert torch.allclose(
            model.head_logits(*xs, keep=keep)[0], model.head_logits(*changed, keep=keep)[0]
        )


def test_gblend_weights_follow_generalisation():
    # head 0 generalises (val falls, small gap), head 1 overfits (val rises)
    history = [[(1.0, 1.0), (1.0, 1.0)], [(0.5, 0.6), (0.2, 1.2)]]
    w = remedies.gblend_weights(history)
    assert w[0] == pytest.approx(1.0) and w[1] == pytest.approx(0.0)
    assert remedies.gblend_weights(history[:1]) == [0.5, 0.5]


def test_ogm_slows_only_the_dominant_stream():
    y = torch.tensor([0, 1])
    strong = torch.tensor([[5.0, -5.0], [-5.0, 5.0]])
    weak = torch.zeros(2, 2)
    coeffs = remedies.ogm_coefficients([strong, weak], y, alpha=1.0)
    assert coeffs[0] < 1.0 and coeffs[1] == 1.0


def test_augmentation_keeps_shape_and_sync_and_is_seeded():
    w = _windows(8)
    xs = [torch.from_numpy(w.inputs[m]) for m in w.modalities]
    a = augment_windows(xs, list(RATES.values()), 1.0, torch.Generator().manual_seed(3))
    b = augment_windows(xs, list(RATES.values()), 1.0, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert [x.shape for x in a] == [x.shape for x in xs]
    assert not torch.equal(a[0], xs[0])
    assert augment_windows(xs, list(RATES.values()), 0.0, torch.Generator())[0] is xs[0]


def test_augmentation_is_never_applied_in_evaluation(monkeypatch):
    calls = []
    real = remedies.augment_windows
    monkeypatch.setattr(
        remedies, "augment_windows", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    config = _config(training={"augment": 1.0})
    train, val = _windows(32, 0), _windows(16, 1)
    model, _ = _fit(config, train, val)
    assert calls, "augmentation did not run in training"
    calls.clear()
    first = predict_logits(model, val)
    second = predict_logits(model, val)
    head_logits(model, val)
    assert not calls and np.array_equal(first, second)


def test_pretraining_reads_no_test_subject_unless_transductive(tiny_wesad, tmp_path, monkeypatch):
    seen: list[set] = []
    real = recipe.contrastive_pretrain

    def spy(windows, *args, **kwargs):
        seen.append(set(windows.subjects.tolist()))
        return real(windows, *args, **kwargs)

    monkeypatch.setattr(recipe, "contrastive_pretrain", spy)
    args = [
        "train",
        str(tiny_wesad),
        "--epochs",
        "1",
        "--val-subjects",
        "1",
        "--quiet",
        "--pretrain-epochs",
        "1",
        "--train-stride",
        "10",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "1",
    ]
    assert main([*args, "--out", str(tmp_path / "inductive")]) == 0
    results = json.loads((tmp_path / "inductive" / "results.json").read_text())
    assert len(seen) == len(results["folds"]) == 4 and results["transductive"] is False
    for fold, subjects in zip(results["folds"], seen):
        assert not subjects & set(fold["test_subjects"])
        assert not subjects & set(fold["val_subjects"])
    seen.clear()
    assert main([*args, "--out", str(tmp_path / "transductive"), "--transductive"]) == 0
    results = json.loads((tmp_path / "transductive" / "results.json").read_text())
    assert results["transductive"] is True
    for fold, subjects in zip(results["folds"], seen):
        assert set(fold["test_subjects"]) <= subjects


def test_pretrain_command_and_init(tiny_wesad, tmp_path, capsys):
    pre = tmp_path / "pre"
    assert (
        main(
            [
                "pretrain",
                str(tiny_wesad),
                "--out",
                str(pre),
                "--pretrain-epochs",
                "1",
                "--subjects",
                "S2",
                "S3",
                "--cache-dir",
                str(tmp_path / "c"),
                "--quiet",
            ]
        )
        == 0
    )
    record = json.loads((pre / "pretrain.json").read_text())
    assert record["subjects"] == ["S2", "S3"] and len(record["losses"]) == 1
    state = torch.load(pre / "encoders.pt", weights_only=True)
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(tiny_wesad),
                "--out",
                str(run),
                "--init",
                str(pre),
                "--epochs",
                "1",
                "--val-subjects",
                "1",
                "--quiet",
                "--train-stride",
                "10",
                "--cache-dir",
                str(tmp_path / "c"),
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    fold = json.loads(next((run / "folds").glob("*/fold.json")).read_text())
    assert fold["pretraining"]["source"] == str(pre)
    assert any(k.startswith("chest.ECG/") for k in state)
    # S2 and S3 are test subjects of this LOSO run: marked transductive, the subjects named
    results = json.loads((run / "results.json").read_text())
    assert results["transductive"] is True
    assert set(results["transductive_subjects"]) == {"S2", "S3"}
    capsys.readouterr()
    # a file that is not an encoder state: one line, exit 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "encoders.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "bad" / "pretrain.json").write_text((pre / "pretrain.json").read_text())
    code = main(
        [
            "train",
            str(tiny_wesad),
            "--out",
            str(tmp_path / "r2"),
            "--init",
            str(tmp_path / "bad"),
            "--epochs",
            "1",
            "--val-subjects",
            "1",
            "--quiet",
            "--cache-dir",
            str(tmp_path / "c"),
            "--jobs",
            "1",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "encoders.pt" in err, err


TRAIN_FAST = ["--epochs", "1", "--quiet", "--train-stride", "10", "--jobs", "1"]


def test_pretraining_on_every_subject_marks_the_run_transductive(tiny_wesad, tmp_path, capsys):
    cache = ["--cache-dir", str(tmp_path / "c")]
    pre = tmp_path / "pre-all"
    assert (
        main(
            [
                "pretrain",
                str(tiny_wesad),
                "--out",
                str(pre),
                "--pretrain-epochs",
                "1",
                *cache,
                "--quiet",
            ]
        )
        == 0
    )
    run = tmp_path / "run"
    train = ["train", str(tiny_wesad), "--val-subjects", "1", *TRAIN_FAST, *cache]
    assert main([*train, "--out", str(run), "--init", str(pre)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["transductive"] is True
    assert results["transductive_subjects"] == ["S2", "S3", "S4", "S5"]
    assert results["precision"]["test"] == "fp32"
    assert results["precision"]["validation"] == results["precision"]["resolved"]
    from xmodal.evaluation.benchmark_rows import collect
    from xmodal.evaluation.model_card import model_card
    from xmodal.evaluation.report_tables import markdown_tables

    assert "**transductive**" in model_card(results) and "S2, S3, S4, S5" in model_card(results)
    table = markdown_tables(collect(run)[0])
    assert "transductive" in table and "S2, S3, S4, S5" in table
    # the clean protocol: pretraining leaves out the held-out subject, no inner validation
    clean = tmp_path / "pre-clean"
    assert (
        main(
            [
                "pretrain",
                str(tiny_wesad),
                "--out",
                str(clean),
                "--pretrain-epochs",
                "1",
                "--exclude",
                "S5",
                *cache,
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((clean / "pretrain.json").read_text())["subjects"] == ["S2", "S3", "S4"]
    held = tmp_path / "held-out"
    assert (
        main(
            [
                *train[:2],
                "--protocol",
                "holdout",
                "--test",
                "S5",
                "--val-subjects",
                "0",
                *TRAIN_FAST,
                *cache,
                "--out",
                str(held),
                "--init",
                str(clean),
            ]
        )
        == 0
    )
    results = json.loads((held / "results.json").read_text())
    assert results["transductive"] is False and results["transductive_subjects"] == []
    capsys.readouterr()
    # an unknown subject to exclude, and a folder without pretrain.json: one line, exit 2
    assert (
        main(
            [
                "pretrain",
                str(tiny_wesad),
                "--out",
                str(tmp_path / "x"),
                "--exclude",
                "S9",
                *cache,
                "--quiet",
            ]
        )
        == 2
    )
    assert "--exclude" in capsys.readouterr().err
    (tmp_path / "nojson").mkdir()
    (tmp_path / "nojson" / "encoders.pt").write_bytes((pre / "encoders.pt").read_bytes())
    assert main([*train, "--out", str(tmp_path / "r3"), "--init", str(tmp_path / "nojson")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pretrain.json" in err, err


def test_recipe_run_saves_loads_predicts_and_exports(tiny_wesad, tmp_path):
    from xmodal import Predictor

    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(tiny_wesad),
                "--out",
                str(run),
                "--epochs",
                "2",
                "--val-subjects",
                "1",
                "--quiet",
                "--train-stride",
                "10",
                "--aux-heads",
                "--aux-weight",
                "0.5",
                "--output",
                "val",
                "--modality-dropout",
                "0.3",
                "--augment",
                "0.5",
                "--ensemble",
                "2",
                "--cache-dir",
                str(tmp_path / "c"),
                "--jobs",
                "1",
                "--protocol",
                "kfold",
                "--folds",
                "2",
                "--features-blend",  # the network's recipe alone: it exports
                "none",
            ]
        )
        == 0
    )
    predictor = Predictor.from_run(run)
    fold_probs = json.loads(next((run / "folds").glob("*/fold.json")).read_text())
    assert len(fold_probs["output_weights"]) == 2
    shapes = predictor.models[0].input_shapes
    inputs = {
        m: np.random.default_rng(0).standard_normal((3, *s)).astype(np.float32)
        for m, s in shapes.items()
    }
    proba = predictor.predict_proba(inputs)
    assert proba.shape == (3, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    out = tmp_path / "m.onnx"
    assert main(["export", str(run), "--out", str(out)]) == 0
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, inputs)[:1]
    exported = np.exp(logits - logits.max(1, keepdims=True))
    exported /= exported.sum(1, keepdims=True)
    assert np.abs(exported - proba).max() < 1e-4


def test_recipe_config_errors():
    with pytest.raises(ConfigError, match="aux_heads"):
        ModelConfig(output="val").resolved()
    with pytest.raises(ConfigError, match="ensemble"):
        ModelConfig(ensemble=0).resolved()
    with pytest.raises(ConfigError, match="output"):
        ModelConfig(aux_heads=True, output="vote").resolved()
    assert dataclasses.replace(ModelConfig(), aux_heads=True, output="val").resolved()


def test_features_model_defaults_to_schmidt_window(tmp_path):
    from xmodal.cli import build_parser, config_from_args

    parser = build_parser()

    def window(*extra: str) -> float:
        args = parser.parse_args(["train", str(tmp_path), "--out", str(tmp_path / "o"), *extra])
        return config_from_args(args).data.window

    assert window("--model", "features") == 60.0
    assert window("--model", "features", "--window", "10") == 10.0
    assert window() == 10.0
    toml = tmp_path / "c.toml"
    toml.write_text("[data]\nwindow = 20.0\n")
    assert window("--model", "features", "--config", str(toml)) == 20.0


def test_old_run_config_keeps_its_architecture(tmp_path):
    from xmodal.config import load_run_config

    path = tmp_path / "config.toml"
    path.write_text('[model]\nname = "attentive"\n[training]\nepochs = 3\n')
    config = load_run_config(path)
    assert config.model.aux_heads is False and config.model.ensemble == 1
    assert config.training.augment == 0.0 and config.training.modality_dropout == 0.0

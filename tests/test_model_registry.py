"""Models added from outside the package: an entry point and register_model, run by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import xmodal
from xmodal.cli import main
from xmodal.config import ModelConfig
from xmodal.errors import ConfigError
from xmodal.models import CrossModalNet, EarlyFusionNet, build_model
from xmodal.models.registry import ModelRegistry, get_model, model_names

#: a model a package could ship: per modality the mean and spread over time, a linear layer
TOY = '''
import torch
from torch import nn

from xmodal.models import XModalModel


class MeanStdNet(XModalModel):
    """Mean and standard deviation of every channel over the window, then a linear layer."""

    def __init__(self, input_shapes, n_outputs):
        super().__init__(input_shapes, n_outputs)
        n_features = sum(2 * channels for channels, _ in self.input_shapes.values())
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, *xs):
        self.check_inputs(*xs)
        return self.linear(torch.cat([torch.cat([x.mean(-1), x.std(-1)], 1) for x in xs], 1))


def build(config, input_shapes, n_outputs):
    return MeanStdNet(input_shapes, n_outputs)
'''

FAST = ["--epochs", "1", "--val-subjects", "1", "--ensemble", "1", "--train-stride", "10"]


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    """A package outside xmodal, installed on sys.path with an ``xmodal.models`` entry point."""
    site = tmp_path / "site"
    (site / "toy_models.py").parent.mkdir()
    (site / "toy_models.py").write_text(textwrap.dedent(TOY))
    info = site / "toy_models-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-models\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[xmodal.models]\ntoy = toy_models:build\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    xmodal.unregister_model("toy")
    sys.modules.pop("toy_models", None)


def test_entry_point_model_runs_by_name(toy_package, tiny_wesad, tmp_path, capsys):
    assert "toy" in model_names() and get_model("toy").is_network
    run, cache = tmp_path / "run", ["--cache-dir", str(tmp_path / "cache")]
    argv = ["train", str(tiny_wesad), "--out", str(run), "--model", "toy", *FAST, *cache]
    assert main([*argv, "--quiet"]) == 0, capsys.readouterr().err
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "toy" and len(results["folds"]) == 4
    assert "toy" in (run / "MODEL_CARD.md").read_text()
    # predict in a new process: the command line finds the model through the entry point
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(toy_package), *sys.path])}
    subject = next(p for p in sorted(tiny_wesad.iterdir()) if p.is_dir())
    out = tmp_path / "pred.csv"
    done = subprocess.run(
        [sys.executable, "-m", "xmodal", "predict", str(run), str(subject), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    header, *rows = out.read_text().splitlines()
    assert header.endswith("p_baseline,p_stress,p_amusement") and rows
    onnx = tmp_path / "toy.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(onnx)]) == 0
    assert onnx.stat().st_size > 0
    study = tmp_path / "study.toml"
    study.write_text('[[configuration]]\nname = "toy"\nmodel = { name = "toy" }\n')
    bench = tmp_path / "bench"
    argv = ["benchmark", str(tiny_wesad), "--out", str(bench), "--study", str(study)]
    assert main([*argv, *FAST, *cache, "--quiet"]) == 0, capsys.readouterr().err
    state = json.loads((bench / "benchmark.json").read_text())
    assert [e["status"] for e in state["entries"]] == ["done"]


def test_register_model_from_python(tiny_wesad, tmp_path):
    namespace: dict = {}
    exec(compile(textwrap.dedent(TOY), "toy", "exec"), namespace)
    xmodal.register_model("toy-py", namespace["build"], description="mean and spread")
    try:
        with pytest.raises(ValueError, match="already registered"):
            xmodal.register_model("toy-py", namespace["build"])
        config = {
            "data": {"path": str(tiny_wesad), "cache_dir": str(tmp_path / "cache")},
            "model": {"name": "toy-py", "ensemble": 1},
            "training": {"epochs": 1, "val_subjects": 1},
            "evaluation": {"protocol": "kfold", "folds": 2},
        }
        results = xmodal.run_experiment(config, tmp_path / "run")
        assert results["model"] == "toy-py" and len(results["folds"]) == 2
        data = xmodal.load_dataset(tiny_wesad, config={"data": config["data"]})
        clf = xmodal.XModalClassifier("toy-py", epochs=1, ensemble=1, val_subjects=1).fit(data)
        assert type(clf.estimator_.model).__name__ == "MeanStdNet"
        assert clf.predict(data).shape == (len(data),)
    finally:
        xmodal.unregister_model("toy-py")
    with pytest.raises(ConfigError, match="unknown model 'toy-py'; valid: attentive"):
        get_model("toy-py")


def test_registry_checks_entries_and_modality_counts():
    registry = ModelRegistry()
    with pytest.raises(ValueError, match="builder or an estimator"):
        registry.register("empty")
    entry = registry.register("pair", lambda c, s, n: None, min_modalities=2, max_modalities=2)
    assert registry.names() == ("pair",) and registry.get("pair") is entry
    with pytest.raises(ConfigError, match="at least two"):
        entry.check_modalities(["a"])
    with pytest.raises(ConfigError, match="at most 2"):
        entry.check_modalities(["a", "b", "c"])
    with pytest.raises(ConfigError, match="not a network"):
        build_model(ModelConfig(name="features"), {"a": (1, 10)}, 2)


def test_python_models_have_the_command_lines_defaults():
    shapes = {"chest.ECG": (1, 2560), "chest.EDA": (1, 160)}
    for name, cls in (("attentive", CrossModalNet), ("early-fusion", EarlyFusionNet)):
        cli = build_model(ModelConfig(name=name, ensemble=1), shapes, 3)
        mine = cls(shapes, 3)
        assert {k: v.shape for k, v in cli.state_dict().items()} == {
            k: v.shape for k, v in mine.state_dict().items()
        }
        assert repr(cli) == repr(mine)

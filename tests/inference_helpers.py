"""Tiny trained runs shared by the inference tests (trained once per session)."""

from __future__ import annotations

import json
from pathlib import Path

from xmodal.cli import main

#: one network per fold (the default seed ensemble is covered by test_recipe.py), without the
#: features blend (streams and export need the network alone; test_features_blend.py covers it)
FAST = [
    "--adapt",  # streams do not adapt: these runs compare them with predict
    "none",
    "--features-blend",
    "none",
    "--epochs",
    "1",
    "--val-subjects",
    "1",
    "--train-stride",
    "10",
    "--quiet",
    "--ensemble",
    "1",
]


def train_tiny(data: Path, out: Path, *extra: str) -> Path:
    """Train an attentive run (``extra`` may name another model) on ``data`` into ``out`` and
    return ``out`` (asserts success)."""
    code = main(
        [
            "train",
            str(data),
            "--out",
            str(out),
            "--cache-dir",
            str(out.parent / "cache"),
            *FAST,
            "--model",
            "attentive",
            *extra,
        ]
    )
    assert code == 0
    return out


def fabricate_run(root: Path, config, shapes: dict, rates: dict, classes: list) -> Path:
    """A run folder as ``xmodal train --final`` writes it, with untrained weights (no training)."""
    import tomli_w
    import torch

    from xmodal import __version__
    from xmodal.models.registry import build_model

    (root / "final").mkdir(parents=True)
    config.model.features_blend = "none"  # the network alone: no features half is fabricated
    (root / "config.toml").write_text(tomli_w.dumps(config.to_dict()))
    windows = {"rates": rates, "input_shapes": shapes}
    (root / "results.json").write_text(
        json.dumps({"classes": classes, "xmodal_version": __version__, "windows": windows})
    )
    model = build_model(config.model, {m: tuple(s) for m, s in shapes.items()}, len(classes))
    torch.save(model.state_dict(), root / "final" / "model.pt")
    return root

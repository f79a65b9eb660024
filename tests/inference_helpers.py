"""Tiny trained runs shared by the inference tests (trained once per session)."""

from __future__ import annotations

from pathlib import Path

from xmodal.cli import main

#: one network per fold (the default seed ensemble is covered by test_recipe.py)
FAST = [
    "--adapt",  # streams do not adapt: these runs compare them with predict
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
    """Train a run on ``data`` into ``out`` and return ``out`` (asserts success)."""
    code = main(
        [
            "train",
            str(data),
            "--out",
            str(out),
            "--cache-dir",
            str(out.parent / "cache"),
            *FAST,
            *extra,
        ]
    )
    assert code == 0
    return out

"""The Python walk-throughs of the documentation run as written."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import xmodal

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILE = re.compile(r"^# file: (\S+)\n")


def run_page(page: Path, folder: Path) -> dict:
    """Write the page's ``# file: NAME`` blocks into ``folder`` and run the other Python blocks
    there, in order, in one namespace (as a notebook would)."""
    namespace: dict = {"__name__": "__docs__"}
    for code in BLOCK.findall(page.read_text()):
        named = FILE.match(code)
        if named:
            (folder / named.group(1)).write_text(code)
        else:
            exec(compile(code, str(page), "exec"), namespace)
    return namespace


@pytest.fixture
def in_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_from_python_walk_through(in_folder):
    ns = run_page(DOCS / "python.md", in_folder)
    assert len(ns["scores"]) == 4 and ((ns["scores"] >= 0) & (ns["scores"] <= 1)).all()
    assert ns["proba"].shape[1] == 3 and (in_folder / "runs" / "demo" / "results.json").is_file()
    # what the person blend's experts said: one accuracy per expert, the network's first
    assert list(ns["accuracy"])[0] == "network" and len(ns["accuracy"]) >= 3


def test_adding_a_model_example(in_folder):
    try:
        ns = run_page(DOCS / "adding-a-model.md", in_folder)
        assert ns["results"]["model"] == "meanstd"
        assert type(ns["clf"].estimator_.model).__name__ == "MeanStdNet"
    finally:
        xmodal.unregister_model("meanstd")
        sys.modules.pop("my_models", None)

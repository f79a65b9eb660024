"""What a finished run folder gets from its saved files: plots and ``MODEL_CARD.md``."""

from __future__ import annotations

from pathlib import Path

from xmodal.evaluation.model_card import write_model_card
from xmodal.evaluation.plots import write_run_plots
from xmodal.files import read_json


def fold_records(run: Path) -> list[dict]:
    """The ``folds/*/fold.json`` records of a run folder, by fold index."""
    records = [read_json(p) for p in sorted(Path(run).glob("folds/*/fold.json"))]
    return sorted(records, key=lambda r: r["index"])


def write_run_outputs(run: Path) -> list[Path]:
    """Write the plots and the model card of a run folder from its ``results.json`` and fold
    records (as ``xmodal train`` leaves them); return the files written."""
    run = Path(run)
    written = write_run_plots(run, read_json(run / "results.json"), fold_records(run))
    written.append(write_model_card(run))
    return written

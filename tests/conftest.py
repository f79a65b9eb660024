"""Shared fixtures: small synthetic WESAD sets, hand-made pickles, the real data in ../shared."""

from __future__ import annotations

import pickle
import signal
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_children():
    """A test session started in the background of a shell has SIGINT ignored, and the
    processes the tests start would inherit that (a Ctrl-C sent to them would never arrive):
    give this process Python's own handler, so that children start with the default."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests needing it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real recordings not available: {SHARED} is absent")
    return SHARED


def write_wesad_pickle(
    path: Path,
    seconds: float = 60.0,
    chest=("ECG", "EDA"),
    wrist=(),
    labels=None,
    subject: str = "S2",
    seed: int = 0,
    **overrides,
) -> Path:
    """Write a small WESAD-layout protocol-2 pickle; ``overrides`` replace top-level entries."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 700)
    rates = {"ACC": 32, "BVP": 64, "EDA": 4, "TEMP": 4}
    data = {
        "subject": subject,
        "signal": {},
        "label": labels if labels is not None else np.repeat([1, 2, 3], n // 3 + 1)[:n],
    }
    if chest:
        data["signal"]["chest"] = {k: rng.normal(size=(n, 3 if k == "ACC" else 1)) for k in chest}
    if wrist:
        data["signal"]["wrist"] = {
            k: rng.normal(size=(int(seconds * rates[k]), 3 if k == "ACC" else 1)) for k in wrist
        }
    data.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    return path


@pytest.fixture(scope="session")
def tiny_wesad(tmp_path_factory) -> Path:
    """Four synthetic subjects of 6 minutes in the WESAD layout."""
    from xmodal.data.synthetic import simulate_wesad

    root = tmp_path_factory.mktemp("tiny_wesad")
    simulate_wesad(root, subjects=4, minutes=6.0, seed=1)
    return root


def _build_real(shared_data: Path, tmp_path_factory, script: str, *sources: Path) -> Path:
    """Run a build script of ``../shared/data/wesad_wrist`` into a fresh temporary folder
    (``sources``: folders of subjects to build instead of the script's own S2-S4)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp(Path(script).stem)
    subprocess.run(
        [sys.executable, str(shared_data / "wesad_wrist" / script), str(out), *map(str, sources)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def wesad_wrist(shared_data, tmp_path_factory) -> Path:
    """The three real WESAD wrist subjects, built into the WESAD layout."""
    return _build_real(shared_data, tmp_path_factory, "build_wesad.py")


@pytest.fixture(scope="session")
def e4_wrist(shared_data, tmp_path_factory) -> Path:
    """The real subject S2 as an Empatica E4 export folder (``build_e4.py``)."""
    source = tmp_path_factory.mktemp("e4_source")
    (source / "S2").symlink_to(shared_data / "wesad_wrist" / "S2", target_is_directory=True)
    return _build_real(shared_data, tmp_path_factory, "build_e4.py", source)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread and no fold workers per test process: the suite runs one process
    per core (pytest -n 2). Tests of ``--jobs`` pass it explicitly."""
    import os

    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    jobs = os.environ.get("XMODAL_JOBS")
    os.environ["XMODAL_JOBS"] = "1"
    yield
    torch.set_num_threads(previous)
    if jobs is None:
        os.environ.pop("XMODAL_JOBS", None)
    else:
        os.environ["XMODAL_JOBS"] = jobs


@pytest.fixture(scope="session")
def chest_run(tiny_wesad, tmp_path_factory) -> Path:
    """A tiny attentive chest ECG + EDA run with a final model (``--final``)."""
    from inference_helpers import train_tiny

    return train_tiny(tiny_wesad, tmp_path_factory.mktemp("runs") / "chest", "--final")


@pytest.fixture(scope="session")
def wrist_run(tiny_wesad, tmp_path_factory) -> Path:
    """A tiny attentive wrist BVP + EDA run without final model (2-fold ensemble)."""
    from inference_helpers import train_tiny

    return train_tiny(
        tiny_wesad,
        tmp_path_factory.mktemp("runs") / "wrist",
        "--modalities",
        "wrist.BVP",
        "wrist.EDA",
        "--protocol",
        "kfold",
        "--folds",
        "2",
    )

"""Dataset adapters: registry, detection of each folder kind, and a new dataset as one module."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import write_wesad_pickle

from xmodal.cli import main
from xmodal.config import DataConfig
from xmodal.data.adapter import DatasetAdapter
from xmodal.data.datasets import get_task, resolve_data_defaults
from xmodal.data.recording import Recording, Signal
from xmodal.data.registry import (
    Registry,
    adapter_names,
    builtin_registry,
    detect_adapter,
    get_adapter,
    register,
    unregister,
)
from xmodal.data.tasks import Task
from xmodal.errors import ConfigError, DataError
from xmodal.signals.pipeline import prepare_subjects, windows_of

SRC = Path(__file__).resolve().parents[1] / "src" / "xmodal"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_recordings"


# --- registry ---------------------------------------------------------------------------------


def test_builtin_names_and_lookup():
    assert adapter_names()[:4] == ("wesad", "drivedb", "csv", "e4")
    for name in ("wesad", "drivedb", "csv", "e4"):
        adapter = get_adapter(name)
        assert isinstance(adapter, DatasetAdapter) and adapter.name == name
    assert get_adapter("drivedb").unit == "record" and get_adapter("wesad").unit == "subject"
    assert get_adapter("wesad").default_task() == "3class"
    assert get_adapter("drivedb").default_task() == "drive3"
    assert get_adapter("wesad").default_modalities() == ("chest.ECG", "chest.EDA")


def test_unknown_name_is_one_line_config_error(capsys):
    with pytest.raises(ConfigError) as err:
        get_adapter("nope")
    assert str(err.value) == "unknown dataset 'nope'; valid: wesad, drivedb, csv, e4"
    assert main(["datasets", str(EXAMPLE), "--dataset", "nope"]) == 2
    assert capsys.readouterr().err == (
        "xmodal: error: unknown dataset 'nope'; valid: wesad, drivedb, csv, e4\n"
    )


def test_register_twice_is_refused_and_registries_are_separate():
    registry = builtin_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(get_adapter("csv"))
    registry.register(get_adapter("csv"), replace=True)
    registry.unregister("csv")
    assert registry.names() == ("wesad", "drivedb", "e4")
    assert "csv" in adapter_names()  # the package's registry is untouched
    assert Registry().names() == ()
    with pytest.raises(TypeError):
        registry.register(object())  # type: ignore[arg-type]


# --- detection of each folder kind -------------------------------------------------------------


def test_detect_wesad(tmp_path):
    pkl = write_wesad_pickle(tmp_path / "S2" / "S2.pkl", seconds=5.0)
    for path in (tmp_path, tmp_path / "S2", pkl):
        assert detect_adapter(path).name == "wesad"
        assert get_adapter("wesad").detects(path)
    assert list(detect_adapter(tmp_path).find_subjects(tmp_path)) == ["S2"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not any(get_adapter(n).detects(empty) for n in ("wesad", "drivedb", "csv"))
    assert detect_adapter(empty).name == "wesad"  # the fallback: its loader explains
    with pytest.raises(DataError, match="no WESAD subject found"):
        detect_adapter(empty).find_subjects(empty)


def test_detect_drivedb(shared_data):
    folder = shared_data / "drivedb"
    for path in (folder, folder / "drive05.hea", folder / "drive05.dat"):
        assert detect_adapter(path).name == "drivedb"
    adapter = detect_adapter(folder)
    assert list(adapter.find_subjects(folder)) == ["drive05"]
    assert adapter.default_modalities(folder) == ("ecg", "hand_gsr")
    assert not get_adapter("csv").detects(folder) and not get_adapter("wesad").detects(folder)


def test_detect_csv(tmp_path):
    (tmp_path / "dataset.toml").write_text('rate = 4\n[signals]\neda = "EDA"\n')
    (tmp_path / "a.csv").write_text("EDA\n" + "".join(f"{np.sin(i):.3f}\n" for i in range(40)))
    for path in (tmp_path, tmp_path / "dataset.toml", tmp_path / "a.csv", EXAMPLE):
        assert detect_adapter(path).name == "csv"
    adapter = detect_adapter(tmp_path)
    assert adapter.modalities(tmp_path) == ("eda",)
    with pytest.raises(ConfigError, match="no \\[labels\\] table"):
        adapter.tasks(tmp_path)
    assert adapter.label_names(tmp_path) == {0: "unlabelled"}
    assert adapter.load(tmp_path / "a.csv", ["eda"], "a", root=tmp_path).signals["eda"].rate == 4.0


# --- a new dataset is one module ----------------------------------------------------------------

MARKER = "fake-dataset.txt"
RATE = {"resp": 32.0, "temp": 4.0}


class FakeAdapter(DatasetAdapter):
    """Two subjects of synthetic respiration and temperature in ``.npz`` files."""

    name = "fake"

    def detects(self, path: Path) -> bool:
        return (Path(path) / MARKER).is_file()

    def find_subjects(self, path: Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
        found = {p.stem: p for p in sorted(Path(path).glob("*.npz"))}
        if not found:
            raise DataError(f"{path}: no .npz file")
        return {s: found[s] for s in (subjects or found)}

    def load(
        self,
        file: Path,
        modalities: Sequence[str],
        subject: str,
        root: Path | None = None,
        labels: Path | None = None,
    ) -> Recording:
        arrays = np.load(file)
        signals = {m: Signal(arrays[m].astype(np.float32)[:, None], RATE[m]) for m in modalities}
        return Recording(
            subject, signals, arrays["labels"], 1.0, source=Path(file), dataset=self.name
        )

    def modalities(self, path: Path | None = None) -> tuple[str, ...]:
        return tuple(RATE)

    def tasks(self, path: Path | None = None) -> dict[str, Task]:
        return {"calm-busy": Task("calm-busy", ("calm", "busy"), {1: 0, 2: 1})}


def _write_fake(folder: Path, minutes: float = 2.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("fake\n")
    rng = np.random.default_rng(0)
    seconds = int(minutes * 60)
    for k, subject in enumerate(("A", "B")):
        labels = np.where(np.arange(seconds) < seconds // 2, 1, 2).astype(np.int8)
        t = {m: np.arange(int(seconds * rate)) / rate for m, rate in RATE.items()}
        np.savez(
            folder / f"{subject}.npz",
            labels=labels,
            resp=np.sin(2 * np.pi * 0.25 * t["resp"]) + 0.1 * rng.normal(size=t["resp"].size),
            temp=33 + 0.01 * k + 0.05 * np.sin(t["temp"] / 30),
        )
    return folder


@pytest.fixture
def fake_dataset(tmp_path):
    register(FakeAdapter())
    try:
        yield _write_fake(tmp_path / "fake")
    finally:
        unregister("fake")


def test_new_adapter_is_found_loaded_and_windowed(fake_dataset, capsys):
    assert "fake" in adapter_names()
    assert detect_adapter(fake_dataset).name == "fake"
    config = resolve_data_defaults(
        DataConfig(path=str(fake_dataset), dataset="fake", use_cache=False)
    )
    assert config.modalities == ("resp", "temp") and config.task == "calm-busy"
    prepared = prepare_subjects(config)
    assert list(prepared) == ["A", "B"]
    assert prepared["A"].rates == {"resp": 16.0, "temp": 4.0}  # preprocessing defaults
    task = get_task(config.task, config.dataset, config.path)
    windows = windows_of(prepared, task, window=10.0, stride=10.0)
    assert windows.classes == ("calm", "busy")
    assert windows.inputs["resp"].shape == (24, 1, 160) and windows.inputs["temp"].shape[2] == 40
    assert sorted(set(windows.subjects)) == ["A", "B"] and set(windows.labels) == {0, 1}

    assert main(["datasets", str(fake_dataset)]) == 0  # detected and surveyed
    out = capsys.readouterr().out
    assert out.startswith("fake dataset at") and "2 subjects (A, B)" in out
    assert "tasks: calm-busy (calm, busy) [default: calm-busy]" in out
    assert "labels (1 Hz): calm 60.0 s (50 %), busy 60.0 s (50 %)" in out
    with pytest.raises(ConfigError, match="unknown modality 'ecg' for dataset 'fake'"):
        get_adapter("fake").validate_modalities(["ecg"])


# --- no dataset-name branching outside the adapters ---------------------------------------------


def _names_in(node: ast.AST, names: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in names
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_in(e, names) for e in node.elts)
    return False


def test_no_module_compares_a_dataset_name_to_a_literal():
    names = set(adapter_names())
    found = []
    for file in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                operands = (node.left, *node.comparators)
            elif isinstance(node, ast.MatchValue):
                operands = (node.value,)
            else:
                continue
            if any(_names_in(n, names) for n in operands):
                found.append(f"{file.relative_to(SRC)}:{node.lineno}")
    assert not found, f"dataset names compared to literals (use the adapter): {found}"


def test_tasks_module_imports_no_dataset():
    tree = ast.parse((SRC / "data" / "tasks.py").read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    assert all(not m.startswith("xmodal.data") for m in imported), imported

"""Dataset adapters by name: find subjects, load one recording, names, defaults and tasks."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Sequence

from xmodal.data.modalities import WESAD_MODALITIES, validate_wesad_modalities
from xmodal.data.recording import Recording
from xmodal.errors import ConfigError

DATASET_NAMES = ("wesad", "drivedb", "csv")

#: modalities and task of a DataConfig left at its defaults (the WESAD ones)
WESAD_DEFAULT_MODALITIES = ("chest.ECG", "chest.EDA")
WESAD_DEFAULT_TASK = "3class"


def _check(dataset: str) -> None:
    if dataset not in DATASET_NAMES:
        raise ConfigError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASET_NAMES)}")


def detect_dataset(path: str | Path) -> str:
    """Guess the adapter of a data folder: ``csv`` (dataset.toml), ``drivedb`` (.hea), else ``wesad``."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if path.name == "dataset.toml" or (folder / "dataset.toml").is_file():
        return "csv"
    if path.suffix in (".hea", ".dat") or (path.is_dir() and any(path.glob("*.hea"))):
        return "drivedb"
    return "wesad"


def available_modalities(dataset: str, path: str | Path | None = None) -> tuple[str, ...]:
    """Modality names the dataset offers (drivedb: from the records' headers when ``path`` is given)."""
    _check(dataset)
    if dataset == "wesad":
        return tuple(WESAD_MODALITIES)
    if dataset == "drivedb":
        from xmodal.data.drivedb import DRIVEDB_MODALITIES, drivedb_signals, find_drivedb_records

        if not path or not Path(path).exists():
            return DRIVEDB_MODALITIES
        names: dict[str, None] = {}
        for header in find_drivedb_records(path).values():
            names.update(dict.fromkeys(drivedb_signals(header)))
        return tuple(names)
    from xmodal.data.csv_dataset import load_spec

    if not path:
        raise ConfigError("the modalities of a csv dataset come from its dataset.toml: give the data path")
    return tuple(load_spec(path).signals)


def validate_modalities(dataset: str, modalities: Sequence[str],
                        path: str | Path | None = None) -> None:
    """Raise ConfigError for modality names the dataset does not have (listing the valid ones)."""
    _check(dataset)
    if dataset == "wesad":
        validate_wesad_modalities(tuple(modalities))
        return
    if not modalities:
        raise ConfigError("no modality given")
    if len(set(modalities)) != len(modalities):
        raise ConfigError(f"modality listed twice in {list(modalities)}")
    valid = available_modalities(dataset, path)
    unknown = [m for m in modalities if m not in valid]
    if unknown:
        raise ConfigError(f"unknown modality {unknown[0]!r} for dataset {dataset!r}; valid: "
                          f"{', '.join(valid)}")


def default_modalities(dataset: str, path: str | Path | None = None) -> tuple[str, ...]:
    """Modalities used when none are given: wesad chest ECG + EDA, drivedb ECG + hand GSR, csv all."""
    _check(dataset)
    if dataset == "wesad":
        return WESAD_DEFAULT_MODALITIES
    valid = available_modalities(dataset, path)
    if dataset == "drivedb":
        preferred = [m for m in ("ecg", "hand_gsr", "foot_gsr") if m in valid][:2]
        return tuple(preferred) if len(preferred) == 2 else tuple(valid[:2])
    return tuple(valid)


def default_task(dataset: str, path: str | Path | None = None) -> str:
    """Task used when none is given: wesad 3class, drivedb drive3, csv the dataset.toml's first."""
    from xmodal.data.tasks import dataset_tasks

    _check(dataset)
    return next(iter(dataset_tasks(dataset, path)))


def resolve_data_defaults(data, explicit_modalities: bool = False, explicit_task: bool = False):
    """Return a DataConfig whose WESAD-default modalities/task are replaced by the dataset's own.

    For a dataset other than ``wesad``, modalities (task) still equal to the WESAD defaults and
    not given explicitly are replaced by :func:`default_modalities` (:func:`default_task`); when
    the defaults happen to be valid for that dataset (a csv dataset with such columns) they stay.
    """
    if data.dataset == "wesad":
        return data
    _check(data.dataset)
    changes = {}
    if not explicit_modalities and tuple(data.modalities) == WESAD_DEFAULT_MODALITIES:
        valid = available_modalities(data.dataset, data.path)
        if not set(data.modalities) <= set(valid):
            changes["modalities"] = default_modalities(data.dataset, data.path)
    if not explicit_task and data.task == WESAD_DEFAULT_TASK:
        from xmodal.data.tasks import dataset_tasks

        try:
            tasks = dataset_tasks(data.dataset, data.path)
        except ConfigError:
            tasks = {}              # an unlabelled csv dataset: no task to choose
        if tasks and data.task not in tasks:
            changes["task"] = next(iter(tasks))
    return dataclasses.replace(data, **changes) if changes else data


def find_subjects(dataset: str, path: str | Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
    """Subject (record) id to file, in natural order; DataError when nothing usable is there."""
    _check(dataset)
    if dataset == "drivedb":
        from xmodal.data.drivedb import find_drivedb_records
        return find_drivedb_records(Path(path), tuple(subjects))
    if dataset == "csv":
        from xmodal.data.csv_dataset import find_csv_subjects
        return find_csv_subjects(Path(path), tuple(subjects))
    from xmodal.data.wesad import find_wesad_subjects
    return find_wesad_subjects(Path(path), tuple(subjects))


def load_recording(dataset: str, path: Path, modalities: Sequence[str], subject: str,
                   root: str | Path | None = None, labels: str | Path | None = None) -> Recording:
    """Load the requested modalities of one subject's file.

    Parameters
    ----------
    root : Path, optional
        The dataset folder (csv: where dataset.toml is; default: beside ``path``).
    labels : Path, optional
        A segments file (drivedb, csv) replacing the one found beside the data.
    """
    _check(dataset)
    if dataset == "drivedb":
        from xmodal.data.drivedb import load_drivedb_record
        return load_drivedb_record(Path(path), tuple(modalities), subject, labels or None)
    if dataset == "csv":
        from xmodal.data.csv_dataset import load_csv_subject, load_spec
        spec = load_spec(root if root else path)
        return load_csv_subject(Path(path), tuple(modalities), subject, spec, labels or None)
    from xmodal.data.wesad import load_wesad_subject
    return load_wesad_subject(Path(path), tuple(modalities), subject)


def _identity(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def label_sources(dataset: str, path: str | Path, labels: str | Path | None = None) -> dict:
    """Identity of the files besides the data files that shape a recording (for the cache key).

    drivedb: the segments CSVs (and ``--labels``); csv: dataset.toml and its segments file.
    """
    _check(dataset)
    files: list[Path] = []
    if labels:
        files.append(Path(labels))
    root = Path(path)
    if dataset == "drivedb":
        folder = root if root.is_dir() else root.parent
        files += sorted(folder.glob("*segments*.csv"))
        files += sorted(folder.glob("*.dat"))
    elif dataset == "csv":
        from xmodal.data.csv_dataset import load_spec
        spec = load_spec(root)
        files.append(spec.path)
        if spec.segments is not None:
            files.append(spec.segments)
    ident = "|".join(_identity(f) if f.is_file() else f"{f}:absent" for f in files)
    return {"labels": hashlib.sha256(ident.encode()).hexdigest()[:16]} if ident else {}

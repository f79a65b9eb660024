"""Dataset operations by ``--dataset`` name, through the adapter registry.

Each function looks the adapter up in :mod:`xmodal.data.registry` and asks it; what is
dataset-specific lives in the adapters (:class:`~xmodal.data.adapter.DatasetAdapter`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

from xmodal.config import DataConfig, ModelConfig
from xmodal.data.modalities import signal_kind
from xmodal.data.recording import Recording
from xmodal.data.registry import DEFAULT_DATASET, detect_adapter, get_adapter
from xmodal.data.tasks import Task
from xmodal.errors import ConfigError


def detect_dataset(path: str | Path) -> str:
    """Name of the adapter recognising a data folder (``wesad`` when none does)."""
    return detect_adapter(path).name


def available_modalities(dataset: str, path: str | Path | None = None) -> tuple[str, ...]:
    """Modality names the dataset offers (some adapters read them from the data at ``path``)."""
    return get_adapter(dataset).modalities(Path(path) if path else None)


def validate_modalities(
    dataset: str, modalities: Sequence[str], path: str | Path | None = None
) -> None:
    """Raise ConfigError for modality names the dataset does not have (listing the valid ones)."""
    get_adapter(dataset).validate_modalities(modalities, Path(path) if path else None)


def default_modalities(dataset: str, path: str | Path | None = None) -> tuple[str, ...]:
    """Modalities used when none are given (wesad chest ECG + EDA, drivedb ECG + hand GSR, csv all)."""
    return get_adapter(dataset).default_modalities(Path(path) if path else None)


def dataset_tasks(
    dataset: str = DEFAULT_DATASET, path: str | Path | None = None
) -> dict[str, Task]:
    """Tasks of ``dataset`` by name (a ``csv`` dataset's come from its dataset.toml)."""
    return get_adapter(dataset).tasks(Path(path) if path else None)


def default_task(dataset: str, path: str | Path | None = None) -> str:
    """Task used when none is given: wesad 3class, drivedb drive3, csv the dataset.toml's first."""
    return get_adapter(dataset).default_task(Path(path) if path else None)


def get_task(name: str, dataset: str = DEFAULT_DATASET, path: str | Path | None = None) -> Task:
    """Return the task ``name`` of ``dataset``; raise a ConfigError listing valid names.

    Parameters
    ----------
    name : str
        Task name (``"3class"``, ``"drive3"``, or a task of a csv dataset's dataset.toml).
    dataset : str
        Dataset adapter name.
    path : str or Path, optional
        The data folder; needed for ``csv``, whose tasks are defined in its dataset.toml.
    """
    tasks = dataset_tasks(dataset, path)
    if name not in tasks:
        raise ConfigError(
            f"unknown task {name!r} for dataset {dataset!r}; valid: {', '.join(tasks)}"
        )
    return tasks[name]


def resolve_data_defaults(
    data: DataConfig, explicit_modalities: bool = False, explicit_task: bool = False
) -> DataConfig:
    """Return a DataConfig whose default modalities/task are replaced by the dataset's own.

    Modalities (task) still equal to the DataConfig defaults (the WESAD ones), not given
    explicitly and not valid for the dataset are replaced by :func:`default_modalities`
    (:func:`default_task`); defaults that are valid for the dataset (WESAD itself, a csv
    dataset with such columns) stay.
    """
    adapter = get_adapter(data.dataset)
    path = Path(data.path) if data.path else None
    config_defaults = DataConfig()
    changes = {}
    if not explicit_modalities and tuple(data.modalities) == tuple(config_defaults.modalities):
        valid = adapter.modalities(path)
        if not set(data.modalities) <= set(valid):
            changes["modalities"] = adapter.default_modalities(path)
    if not explicit_task and data.task == config_defaults.task:
        try:
            tasks = adapter.tasks(path)
        except ConfigError:
            tasks = {}  # an unlabelled dataset: no task to choose
        if tasks and data.task not in tasks:
            changes["task"] = adapter.default_task(path)
    return dataclasses.replace(data, **changes) if changes else data


#: placement to the signal kinds a fusion network learns little from as streams but whose
#: features a hybrid reads (measured on the wrist: Empatica E4 TEMP and ACC)
FEATURES_ONLY_KINDS = {"wrist": ("temp", "acc")}


def resolve_features_sensors(
    data: DataConfig, model: ModelConfig
) -> tuple[DataConfig, ModelConfig]:
    """A hybrid's sensors: with ``features_sensors = "device"`` the features also read the
    signals of :data:`FEATURES_ONLY_KINDS` (the wrist's TEMP and ACC) that the dataset offers
    at the placement of the network's modalities; ``data.modalities`` then lists them too, and
    ``model.network_modalities`` the network's. Unchanged for ``same``, a configuration that
    names ``network_modalities`` and a model without a blend (``model.features_blend`` must
    be resolved, not ``auto``)."""
    if (
        model.features_blend in ("none", "auto")
        or model.features_sensors != "device"
        or model.network_modalities
    ):
        return data, model
    placements = {m.split(".")[0] for m in data.modalities}
    offered = get_adapter(data.dataset).modalities(Path(data.path) if data.path else None)
    extra = tuple(
        m
        for m in offered
        if m not in data.modalities
        and m.split(".")[0] in placements
        and signal_kind(m) in FEATURES_ONLY_KINDS.get(m.split(".")[0], ())
    )
    if not extra:
        return data, model
    return (
        dataclasses.replace(data, modalities=tuple(data.modalities) + extra),
        dataclasses.replace(model, network_modalities=tuple(data.modalities)),
    )


def find_subjects(dataset: str, path: str | Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
    """Subject (record) id to file, in natural order; DataError when nothing usable is there."""
    return get_adapter(dataset).find_subjects(Path(path), tuple(subjects))


def load_recording(
    dataset: str,
    path: str | Path,
    modalities: Sequence[str],
    subject: str,
    root: str | Path | None = None,
    labels: str | Path | None = None,
) -> Recording:
    """Load the requested modalities of one subject's file.

    Parameters
    ----------
    root : Path, optional
        The dataset folder (csv: where dataset.toml is; default: beside ``path``).
    labels : Path, optional
        A segments file (drivedb, csv) replacing the one found beside the data.
    """
    return get_adapter(dataset).load(
        Path(path),
        tuple(modalities),
        subject,
        root=Path(root) if root else None,
        labels=Path(labels) if labels else None,
    )


def _identity(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def label_sources(dataset: str, path: str | Path, labels: str | Path | None = None) -> dict:
    """Identity of the files besides the data files that shape a recording (for the cache key).

    ``{}`` when the adapter names none (wesad); else ``{"labels": hash}`` over the files of
    :meth:`~xmodal.data.adapter.DatasetAdapter.label_files` (drivedb: the segments CSVs and
    ``--labels``; csv: dataset.toml and its segments file).
    """
    files = get_adapter(dataset).label_files(Path(path), Path(labels) if labels else None)
    ident = "|".join(_identity(f) if f.is_file() else f"{f}:absent" for f in files)
    return {"labels": hashlib.sha256(ident.encode()).hexdigest()[:16]} if ident else {}

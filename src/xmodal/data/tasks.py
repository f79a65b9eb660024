"""Classification tasks: which raw label codes form which class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xmodal.errors import ConfigError


@dataclass(frozen=True)
class Task:
    """A mapping from a dataset's raw label codes to class indices.

    Parameters
    ----------
    name : str
        Task name, e.g. ``"3class"``.
    classes : tuple of str
        Class names in index order.
    code_to_class : dict of int to int
        Raw label code to class index; codes not listed are excluded (mapped to -1).
    """

    name: str
    classes: tuple[str, ...]
    code_to_class: dict[int, int]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def map_labels(self, codes: np.ndarray) -> np.ndarray:
        """Return class indices (int8) for raw codes, -1 where a code is not in the task."""
        lookup = np.full(max(256, int(codes.max(initial=0)) + 1), -1, dtype=np.int8)
        for code, cls in self.code_to_class.items():
            lookup[code] = cls
        codes = np.asarray(codes)
        if codes.size and codes.min() < 0:
            raise ConfigError(f"negative label codes are not allowed in task {self.name!r}")
        return lookup[codes.astype(np.int64)]


WESAD_TASKS: dict[str, Task] = {
    "binary": Task("binary", ("non-stress", "stress"), {1: 0, 3: 0, 2: 1}),
    "3class": Task("3class", ("baseline", "stress", "amusement"), {1: 0, 2: 1, 3: 2}),
    "4class": Task("4class", ("baseline", "stress", "amusement", "meditation"),
                   {1: 0, 2: 1, 3: 2, 4: 3}),
}


#: drivedb raw codes (see :mod:`xmodal.data.drivedb`): 0 unlabelled, 1 rest, 2 highway, 3 city
DRIVEDB_TASKS: dict[str, Task] = {
    "drive3": Task("drive3", ("rest", "highway", "city"), {1: 0, 2: 1, 3: 2}),
    "drive2": Task("drive2", ("rest", "city"), {1: 0, 3: 1}),
}


def dataset_tasks(dataset: str = "wesad", path=None) -> dict[str, Task]:
    """Tasks of ``dataset``, first the default; a ``csv`` dataset's come from its dataset.toml."""
    if dataset == "csv":
        if not path:
            raise ConfigError("the tasks of a csv dataset come from its dataset.toml: give the data path")
        from xmodal.data.csv_dataset import load_spec

        spec = load_spec(path)
        if not spec.tasks:
            raise ConfigError(f"{spec.path}: no [labels] table, so no task: the dataset can be "
                              "inspected and predicted on, not trained on")
        return spec.tasks
    if dataset == "drivedb":
        return DRIVEDB_TASKS
    return WESAD_TASKS


def get_task(name: str, dataset: str = "wesad", path=None) -> Task:
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
        raise ConfigError(f"unknown task {name!r} for dataset {dataset!r}; valid: {', '.join(tasks)}")
    return tasks[name]

"""Classification tasks: which raw label codes form which class.

Each dataset adapter lists its own tasks (:meth:`~xmodal.data.adapter.DatasetAdapter.tasks`);
look one up by dataset name with :func:`xmodal.data.datasets.get_task`.
"""

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

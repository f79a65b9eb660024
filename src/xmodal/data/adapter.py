"""What a dataset must provide: the :class:`DatasetAdapter` interface.

Every dataset (WESAD, drivedb, a folder of CSV files, your own) is one adapter: it recognises
its folders, lists their subjects, loads one subject as a :class:`~xmodal.data.recording.Recording`
and names its modalities, tasks and label codes. Everything after loading (preprocessing,
windows, training, prediction, ``xmodal datasets``) is shared. Adapters are looked up by name in
:mod:`xmodal.data.registry`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from xmodal.data.recording import Recording
from xmodal.data.tasks import Task
from xmodal.errors import ConfigError


class DatasetAdapter(ABC):
    """A dataset format: detection, subjects, loading, modalities, tasks and label names.

    Subclasses set :attr:`name` and implement the five abstract methods; the others have
    defaults that fit most datasets. An adapter holds no state: one instance serves every
    folder of its format (it is also sent to worker processes, so keep it picklable).

    Attributes
    ----------
    name : str
        The ``--dataset`` name, e.g. ``"wesad"``.
    unit : str
        What one subject's recording is called in reports (``"subject"``, ``"record"``).
    """

    name: ClassVar[str]
    unit: ClassVar[str] = "subject"

    @abstractmethod
    def detects(self, path: Path) -> bool:
        """True when ``path`` (a folder or file given on the command line) is of this format."""

    @abstractmethod
    def find_subjects(self, path: Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
        """Subject id -> file, in natural order (all found, or only ``subjects``).

        Raises
        ------
        DataError
            Nothing usable under ``path``, or a requested subject is absent.
        """

    @abstractmethod
    def load(
        self,
        file: Path,
        modalities: Sequence[str],
        subject: str,
        root: Path | None = None,
        labels: Path | None = None,
    ) -> Recording:
        """Load the requested modalities of one subject's file (see :meth:`find_subjects`).

        Parameters
        ----------
        root : Path, optional
            The dataset folder given by the user (default: beside ``file``).
        labels : Path, optional
            A labels file replacing the one found with the data (``--labels``), if the
            dataset has such files.
        """

    @abstractmethod
    def modalities(self, path: Path | None = None) -> tuple[str, ...]:
        """Modality names the dataset offers (``path``: the data folder, when they depend on it).

        Raises
        ------
        ConfigError
            The names cannot be known without ``path``.
        """

    @abstractmethod
    def tasks(self, path: Path | None = None) -> dict[str, Task]:
        """Classification tasks by name (over the raw label codes of :meth:`load`'s recordings).

        Raises
        ------
        ConfigError
            The dataset (folder) has no labels, or its tasks cannot be known without ``path``.
        """

    def default_modalities(self, path: Path | None = None) -> tuple[str, ...]:
        """Modalities used when none are given (default: all of :meth:`modalities`)."""
        return self.modalities(path)

    def default_task(self, path: Path | None = None) -> str:
        """Task used when none is given (default: the first of :meth:`tasks`)."""
        return next(iter(self.tasks(path)))

    def validate_modalities(self, modalities: Sequence[str], path: Path | None = None) -> None:
        """Raise a ConfigError for no, repeated or unknown modality names (listing the valid)."""
        if not modalities:
            raise ConfigError("no modality given")
        if len(set(modalities)) != len(modalities):
            raise ConfigError(f"modality listed twice in {list(modalities)}")
        valid = self.modalities(path)
        unknown = [m for m in modalities if m not in valid]
        if unknown:
            raise ConfigError(
                f"unknown modality {unknown[0]!r} for dataset {self.name!r}; valid: "
                f"{', '.join(valid)}"
            )

    def load_present(
        self, file: Path, subject: str, root: Path | None = None, labels: Path | None = None
    ) -> Recording:
        """Load every modality the file holds (for ``xmodal datasets``; default: all offered)."""
        return self.load(
            file,
            self.modalities(root if root is not None else file),
            subject,
            root=root,
            labels=labels,
        )

    def label_names(self, path: Path | None = None) -> dict[int, str]:
        """Raw label code -> name, for reports (default: the classes of the default task)."""
        try:
            task = self.tasks(path)[self.default_task(path)]
        except ConfigError:
            return {}
        return {code: task.classes[index] for code, index in task.code_to_class.items()}

    def label_files(self, path: Path, labels: Path | None = None) -> list[Path]:
        """Files besides the subjects' data files that shape a recording (part of the cache key).

        Default: the ``--labels`` file when given.
        """
        return [Path(labels)] if labels else []

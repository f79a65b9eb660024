"""Dataset adapters by name: the built-in ones (wesad, drivedb, csv, e4) and any registered later.

``--dataset NAME`` is looked up with :func:`get_adapter`; a data folder given without it is
recognised with :func:`detect_adapter`. A new dataset is one module with a
:class:`~xmodal.data.adapter.DatasetAdapter` subclass, passed to :func:`register`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from xmodal.data.adapter import DatasetAdapter
from xmodal.data.csv_dataset import CsvAdapter
from xmodal.data.drivedb import DrivedbAdapter
from xmodal.data.e4 import E4Adapter
from xmodal.data.wesad import WesadAdapter
from xmodal.errors import ConfigError

#: the adapter of a folder no adapter recognises (its loader then says what is missing)
DEFAULT_DATASET = "wesad"


class Registry:
    """Adapters by name, in registration order.

    Detection asks the most recently registered adapter first, so a later (more specific)
    adapter wins over an earlier one; a path no adapter recognises gets :data:`DEFAULT_DATASET`.
    """

    def __init__(self, adapters: Iterable[DatasetAdapter] = ()) -> None:
        self._adapters: dict[str, DatasetAdapter] = {}
        for adapter in adapters:
            self.register(adapter)

    def register(self, adapter: DatasetAdapter, replace: bool = False) -> None:
        """Add ``adapter`` under its name; ValueError if the name is taken (unless ``replace``)."""
        if not isinstance(adapter, DatasetAdapter):
            raise TypeError(f"expected a DatasetAdapter, got {type(adapter).__name__}")
        if adapter.name in self._adapters and not replace:
            raise ValueError(f"a dataset adapter named {adapter.name!r} is already registered")
        self._adapters[adapter.name] = adapter

    def unregister(self, name: str) -> None:
        """Remove the adapter ``name`` (nothing if absent)."""
        self._adapters.pop(name, None)

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._adapters)

    def get(self, name: str) -> DatasetAdapter:
        """The adapter ``name``; a one-line ConfigError listing the valid names otherwise."""
        try:
            return self._adapters[name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"unknown dataset {name!r}; valid: {', '.join(self._adapters)}"
            ) from None

    def detect(self, path: str | Path) -> DatasetAdapter:
        """The adapter recognising ``path`` (see the class docstring for the order)."""
        path = Path(path)
        for adapter in reversed(self._adapters.values()):
            if adapter.detects(path):
                return adapter
        return self.get(DEFAULT_DATASET)


def builtin_registry() -> Registry:
    """A registry of the built-in adapters: wesad, drivedb, csv, e4."""
    return Registry((WesadAdapter(), DrivedbAdapter(), CsvAdapter(), E4Adapter()))


#: the registry the package uses (``register`` adds to it)
REGISTRY = builtin_registry()


def register(adapter: DatasetAdapter, replace: bool = False) -> None:
    """Make ``adapter`` available as ``--dataset NAME`` (see :meth:`Registry.register`)."""
    REGISTRY.register(adapter, replace)


def unregister(name: str) -> None:
    """Remove a registered adapter (see :meth:`Registry.unregister`)."""
    REGISTRY.unregister(name)


def get_adapter(name: str) -> DatasetAdapter:
    """The adapter called ``name``; ConfigError ``unknown dataset ...; valid: ...`` otherwise."""
    return REGISTRY.get(name)


def detect_adapter(path: str | Path) -> DatasetAdapter:
    """The adapter of a data folder or file (``wesad`` when none recognises it)."""
    return REGISTRY.detect(path)


def adapter_names() -> tuple[str, ...]:
    """Names of the registered adapters."""
    return REGISTRY.names()

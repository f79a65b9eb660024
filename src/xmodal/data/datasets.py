"""Dataset adapters by name: find subjects, load one recording."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from xmodal.data.modalities import validate_wesad_modalities
from xmodal.data.recording import Recording
from xmodal.errors import ConfigError

DATASET_NAMES = ("wesad",)


def _check(dataset: str) -> None:
    if dataset not in DATASET_NAMES:
        raise ConfigError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASET_NAMES)}")


def validate_modalities(dataset: str, modalities: Sequence[str]) -> None:
    """Raise ConfigError for modality names the dataset does not have."""
    _check(dataset)
    validate_wesad_modalities(tuple(modalities))


def find_subjects(dataset: str, path: str | Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
    """Subject id to file, in natural order; DataError when nothing usable is there."""
    _check(dataset)
    from xmodal.data.wesad import find_wesad_subjects
    return find_wesad_subjects(Path(path), tuple(subjects))


def load_recording(dataset: str, path: Path, modalities: Sequence[str], subject: str) -> Recording:
    """Load the requested modalities of one subject's file."""
    _check(dataset)
    from xmodal.data.wesad import load_wesad_subject
    return load_wesad_subject(Path(path), tuple(modalities), subject)

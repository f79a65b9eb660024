"""Files on disk to windows: load, preprocess (cached) and cut every subject of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from xmodal.config import DataConfig
from xmodal.data.datasets import find_subjects, label_sources, load_recording
from xmodal.data.tasks import Task
from xmodal.signals.cache import cached, default_cache_dir
from xmodal.signals.preprocess import PreprocessedRecording, preprocess_recording
from xmodal.signals.windows import WindowSet, make_windows


def preprocess_params(config: DataConfig) -> dict:
    """Everything that affects a preprocessed recording (the cache key's parameters)."""
    params = {"dataset": config.dataset, "modalities": list(config.modalities),
              "rates": dict(sorted(config.rates.items())), "max_gap": config.max_gap}
    if config.dataset != "wesad":      # label files and dataset.toml shape the recording too
        params.update(label_sources(config.dataset, config.path, config.labels))
    return params


def prepare_subjects(config: DataConfig,
                     on_subject: Callable[[str, bool], None] | None = None,
                     ) -> dict[str, PreprocessedRecording]:
    """Load and preprocess every selected subject, one at a time, through the cache.

    Parameters
    ----------
    config : DataConfig
        Path, dataset, modalities, subjects, rates, cache settings.
    on_subject : callable, optional
        Called with ``(subject, cache_hit)`` after each subject (progress reporting).
    """
    files = find_subjects(config.dataset, config.path, config.subjects)
    cache_dir = None
    if config.use_cache:
        cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    params = preprocess_params(config)
    out = {}
    for subject, path in files.items():
        def compute(path: Path = path, subject: str = subject) -> PreprocessedRecording:
            rec = load_recording(config.dataset, path, config.modalities, subject,
                                 root=config.path, labels=config.labels or None)
            return preprocess_recording(rec, config.rates, config.max_gap)
        out[subject], hit = cached(path, params, cache_dir, compute)
        if on_subject is not None:
            on_subject(subject, hit)
    return out


def windows_of(prepared: dict[str, PreprocessedRecording], task: Task, window: float,
               stride: float) -> WindowSet:
    """Labelled windows of every prepared subject, concatenated in subject order."""
    return WindowSet.concat([make_windows(rec, task, window, stride) for rec in prepared.values()])

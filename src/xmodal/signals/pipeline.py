"""Files on disk to windows: load, preprocess (cached) and cut every subject of a dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xmodal.config import DataConfig
from xmodal.data.adapter import DatasetAdapter
from xmodal.data.datasets import label_sources
from xmodal.data.registry import get_adapter
from xmodal.data.tasks import Task
from xmodal.signals.cache import cached, default_cache_dir, entry_path
from xmodal.signals.preprocess import PreprocessedRecording
from xmodal.signals.preprocessor import Preprocessor, recording_windows
from xmodal.signals.windows import WindowSet
from xmodal.version import __version__


def preprocess_params(config: DataConfig) -> dict:
    """Everything that affects a cleaned, resampled recording (the cache key's parameters);
    normalisation is applied after the cache and is not part of it."""
    params = {
        "dataset": config.dataset,
        "modalities": list(config.modalities),
        **Preprocessor(rates=dict(config.rates), max_gap=config.max_gap).cache_params(),
        "xmodal_version": __version__,
    }
    # label files (drivedb segments, a csv dataset.toml) shape the recording too
    params.update(label_sources(config.dataset, config.path, config.labels))
    return params


def _load(adapter: DatasetAdapter, config: DataConfig, subject: str, path: Path):
    return adapter.load(
        path,
        tuple(config.modalities),
        subject,
        root=Path(config.path) if config.path else None,
        labels=Path(config.labels) if config.labels else None,
    )


def cache_dir_of(config: DataConfig) -> Path | None:
    """The cache folder of ``config`` (``cache_dir``, else :func:`default_cache_dir`); None
    without ``use_cache``."""
    if not config.use_cache:
        return None
    return Path(config.cache_dir) if config.cache_dir else default_cache_dir()


def ignore_interrupts() -> None:
    """In a worker process: leave Ctrl-C to the parent (a terminal sends it to the whole
    process group), which stops the run in one line; the work in progress finishes first."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _prepare_one(
    adapter: DatasetAdapter,
    config: DataConfig,
    params: dict,
    cache_dir: Path | None,
    subject: str,
    path: Path,
) -> tuple[PreprocessedRecording, bool]:
    """Load and preprocess one subject through the cache: ``(recording, cache_hit)``, the
    recording ready for :func:`windows_of` in the configured normalisation mode."""
    preprocessor = Preprocessor.of(config)
    if preprocessor.normalize == "running":  # cleaned window by window from raw samples
        return preprocessor.raw(_load(adapter, config, subject, path)), False
    cleaned, hit = cached(
        path, params, cache_dir, lambda: preprocessor.clean(_load(adapter, config, subject, path))
    )
    return preprocessor.normalized(cleaned), hit


def prepare_subjects(
    config: DataConfig, on_subject: Callable[[str, bool], None] | None = None, jobs: int = 1
) -> dict[str, PreprocessedRecording]:
    """Load and preprocess every selected subject through the cache.

    The cache holds cleaned, resampled signals; the configured normalisation
    (``config.normalize``, see :class:`~xmodal.signals.preprocessor.Preprocessor`) is applied
    after it. In the ``running`` mode the raw recordings are kept instead (no cache), and
    :func:`windows_of` processes them window by window.

    Parameters
    ----------
    config : DataConfig
        Path, dataset, modalities, subjects, rates, cache settings.
    on_subject : callable, optional
        Called with ``(subject, cache_hit)`` after each subject (progress reporting).
    jobs : int
        Worker processes for the subjects that are not cached yet (each holds one raw
        recording at a time, about twice the file size at its peak); 1 preprocesses them one
        at a time in this process. Cached subjects are always read here.

    Returns
    -------
    dict
        Subject -> preprocessed recording, in the dataset's subject order.
    """
    adapter = get_adapter(config.dataset)
    files = adapter.find_subjects(Path(config.path), tuple(config.subjects))
    cache_dir = cache_dir_of(config)
    params = preprocess_params(config)
    report = on_subject or (lambda subject, hit: None)
    out: dict[str, PreprocessedRecording] = {}
    Preprocessor.of(config)  # a bad calibration label fails before any data is read
    missing = [
        s
        for s, path in files.items()
        if cache_dir is None or not entry_path(path, params, cache_dir).exists()
    ]
    if jobs > 1 and len(missing) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(missing)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=ignore_interrupts,
        )
        try:
            futures = {
                pool.submit(_prepare_one, adapter, config, params, cache_dir, s, files[s]): s
                for s in missing
            }
            for future in as_completed(futures):
                subject = futures[future]
                out[subject], hit = future.result()
                report(subject, hit)
        finally:  # on an error, do not preprocess the remaining subjects first
            pool.shutdown(wait=True, cancel_futures=True)
    for subject, path in files.items():
        if subject not in out:
            out[subject], hit = _prepare_one(adapter, config, params, cache_dir, subject, path)
            report(subject, hit)
    return {subject: out[subject] for subject in files}


def windows_of(
    prepared: dict[str, PreprocessedRecording],
    task: Task | None,
    window: float,
    stride: float,
    keep_unlabelled: bool = False,
    context: float = 0.0,
) -> WindowSet:
    """Windows of every prepared subject, concatenated in subject order: the labelled ones, or
    with ``keep_unlabelled`` every window (``task`` None: all labelled -1, for pretraining).
    Each subject's windows are made in its normalisation mode (:func:`recording_windows`);
    ``context`` as in :func:`~xmodal.signals.windows.make_windows`."""
    return WindowSet.concat(
        [
            recording_windows(rec, task, window, stride, keep_unlabelled, context)
            for rec in prepared.values()
        ]
    )

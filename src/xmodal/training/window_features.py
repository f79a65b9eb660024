"""The classical features of a run's windows, computed once: per subject, in parallel, on disk.

A hybrid reads Schmidt et al.'s features of every window it sees (:mod:`xmodal.models.features`):
of each recording, of the labelled windows and of the training windows at their shorter stride.
Computed window by window (neurokit2's peak detection), they cost more than the preprocessing.
:func:`attach_features` computes them as :func:`~xmodal.models.features.features_of` would, and

* reads the rows it already has from another window set of the same run (the same subject and
  start: the same signal), so the training windows compute only those between the recording's;
* computes each subject's remaining rows in its own worker process (``jobs`` at a time);
* keeps each subject's rows in the cache folder, named by a hash of the signal they describe,
  so fold workers, further configurations of a study and later runs on the same data read them
  instead of computing them again.

Features are a function of each window's signal alone, so none of this changes a number.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from xmodal.files import atomic_write_stream
from xmodal.models.features import FEATURES_EXTRA, extract_features, feature_names
from xmodal.signals.pipeline import ignore_interrupts
from xmodal.signals.windows import WindowSet, context_windows

#: bump when a feature's definition changes, so that stored features are not reused
FEATURES_VERSION = 1


def features_key(windows: WindowSet) -> str:
    """Hash of everything the features of ``windows`` depend on: their signals (contexts
    included), rates, modality names, the feature version and neurokit2's version."""
    from importlib.metadata import version

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{FEATURES_VERSION}|{version('neurokit2')}|".encode())
    for modality, x in context_windows(windows).inputs.items():
        rate = windows.rates[modality]
        digest.update(f"{modality}|{rate!r}|{x.shape}|{x.dtype.str}|".encode())
        digest.update(np.ascontiguousarray(x).data)
    return digest.hexdigest()


def _load(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """A stored feature matrix of this shape, or None (absent or damaged: computed again)."""
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return matrix if matrix.shape == shape and matrix.dtype == np.float64 else None


def _store(path: Path, matrix: np.ndarray) -> None:
    try:
        atomic_write_stream(path, lambda fh: np.save(fh, matrix, allow_pickle=False))
    except OSError:  # a read-only or full cache folder: the features are simply not kept
        pass


def _same_windows(windows: WindowSet, other: WindowSet) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``windows`` and of ``other`` with the same subject, start and signal.

    The signal is compared, not assumed: under ``running`` normalisation a window's values
    depend on the windows cut before it, so the same start at another stride may differ
    (there the features read the window itself: no longer context is allowed)."""
    if list(windows.inputs) != list(other.inputs):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    theirs = other.matching_rows(windows)
    mine = np.flatnonzero(theirs >= 0)
    theirs = theirs[mine]
    same = np.ones(len(mine), dtype=bool)
    for modality, x in windows.inputs.items():
        a, b = x[mine], other.inputs[modality][theirs]
        same &= ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=(1, 2))
    return mine[same], theirs[same]


def _compute(contexts: WindowSet) -> np.ndarray:
    return extract_features(contexts)[0]


def attach_features(
    windows: WindowSet,
    *,
    reuse: WindowSet | None = None,
    cache_dir: Path | None = None,
    jobs: int = 1,
) -> WindowSet:
    """Set ``windows.extras["features"]`` (see the module docstring) and return ``windows``.

    Parameters
    ----------
    windows : WindowSet
        Windows with their feature contexts (as cut for a hybrid).
    reuse : WindowSet, optional
        A set of the same run whose features are attached: its rows of the same subject and
        start are copied.
    cache_dir : Path, optional
        Where each subject's features are kept (``<cache_dir>/features/``); None: not kept.
    jobs : int
        Subjects computed at once, in worker processes (1: in this process).
    """
    if FEATURES_EXTRA in windows.extras:
        return windows
    n_features = len(feature_names(windows))
    matrix = np.full((len(windows), n_features), np.nan)
    todo = np.ones(len(windows), dtype=bool)
    if reuse is not None and FEATURES_EXTRA in reuse.extras:
        mine, theirs = _same_windows(windows, reuse)
        matrix[mine] = reuse.extras[FEATURES_EXTRA][theirs]
        todo[mine] = False
    pending: dict[str, tuple[np.ndarray, WindowSet, Path | None]] = {}
    for subject in dict.fromkeys(windows.subjects[todo].tolist()):
        rows = np.flatnonzero(todo & (windows.subjects == subject))
        part = windows.subset(rows)
        path = None
        if cache_dir is not None:
            path = Path(cache_dir) / "features" / f"{subject}-{features_key(part)}.npy"
            stored = _load(path, (len(rows), n_features))
            if stored is not None:
                matrix[rows] = stored
                continue
        pending[subject] = (rows, part, path)
    for (rows, _, path), computed in zip(pending.values(), _computed(pending, jobs)):
        matrix[rows] = computed
        if path is not None:
            _store(path, computed)
    windows.extras[FEATURES_EXTRA] = matrix
    return windows


def _computed(pending: dict, jobs: int):
    """The feature matrix of each pending subject, in order (a process pool for ``jobs > 1``)."""
    parts = [context_windows(part) for _, part, _ in pending.values()]
    if jobs <= 1 or len(parts) <= 1:
        yield from map(_compute, parts)
        return
    import multiprocessing

    with ProcessPoolExecutor(
        max_workers=min(jobs, len(parts)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=ignore_interrupts,
    ) as pool:
        yield from pool.map(_compute, parts)

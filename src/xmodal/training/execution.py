"""Executing folds: an :class:`Executor` runs fold tasks and yields their records as they finish.

:class:`LocalExecutor` runs them in this process, or with ``jobs > 1`` in spawned worker
processes (one torch thread each) that read the windows from the preprocessing cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

import torch

from xmodal.config import RunConfig
from xmodal.data.datasets import get_task
from xmodal.signals.pipeline import cache_dir_of, ignore_interrupts, prepare_subjects
from xmodal.training.estimators import estimator_for
from xmodal.training.folds import FoldTask, RunWindows, run_fold, run_windows
from xmodal.training.progress import Progress
from xmodal.training.trainer import resolve_device

T = TypeVar("T")


class Executor(Protocol):
    """Runs fold tasks somewhere and reports each one's record when it is done."""

    def submit(self, tasks: Sequence[FoldTask]) -> Iterator[tuple[FoldTask, dict]]:
        """Run ``tasks``; yield ``(task, record)`` in the order they finish. An error of one
        task is raised from the iterator (the tasks not started yet are cancelled)."""

    def cancel(self) -> None:
        """Start no further task; tasks already running finish."""


class ExecutionBackend(Protocol):
    """Where a run's folds are executed: this machine (:class:`LocalBackend`) or a cluster
    (:class:`~xmodal.training.ray_backend.RayBackend`). The backend never changes results."""

    name: str

    def executor(
        self,
        config: RunConfig,
        windows: RunWindows,
        progress: Progress,
        worker_config: RunConfig | None = None,
    ) -> Executor:
        """An executor for one run's folds."""

    def describe(self) -> dict:
        """What ``results.json`` records about the execution (``{"backend": name, ...}``)."""

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` run as one task of this backend (e.g. pretraining)."""


class LocalBackend:
    """Folds on this machine, in this process or in ``jobs`` worker processes.

    Used as a context manager (as ``xmodal train``, ``xmodal benchmark`` and ``xmodal demo``
    use it), its worker processes start once and serve every run until the ``with`` block
    ends, so a study of many runs pays for starting them (importing torch in each) once; a
    worker rebuilds the windows when the first task of another run reaches it. Outside a
    ``with`` block every run starts and stops its own workers.
    """

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs
        self._entered = 0
        self._pool = None

    def __enter__(self) -> LocalBackend:
        self._entered += 1
        return self

    def __exit__(self, *exc) -> None:
        self._entered -= 1
        if self._entered == 0:
            self.discard_workers()

    def workers(self):
        """The worker processes the runs share while the backend is entered (None outside)."""
        if not self._entered:
            return None
        if self._pool is None:
            self._pool = _new_pool(self.jobs)
        return self._pool

    def discard_workers(self) -> None:
        """Stop the shared workers (when the ``with`` block ends, or after one died)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def executor(
        self,
        config: RunConfig,
        windows: RunWindows,
        progress: Progress,
        worker_config: RunConfig | None = None,
    ) -> LocalExecutor:
        """A :class:`LocalExecutor` with this backend's worker processes."""
        return LocalExecutor(
            config, windows, progress, jobs=self.jobs, worker_config=worker_config, backend=self
        )

    def describe(self) -> dict:
        """``{"backend": "local", "jobs": N}``."""
        return {"backend": self.name, "jobs": self.jobs}

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` in this process."""
        return fn(*args, **kwargs)


def _new_pool(workers: int):
    """Spawned fold workers (one torch thread each, Ctrl-C left to this process)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
    )


class LocalExecutor:
    """Folds on this machine: one after another in this process, or side by side in worker
    processes.

    Parameters
    ----------
    config : RunConfig
        The run's configuration.
    windows : RunWindows
        The windows of the run (folds in this process select from them).
    progress : Progress
        Progress display of folds run in this process (workers are quiet).
    jobs : int
        Worker processes; with ``jobs > 1``, more than one task, an estimator whose folds may
        run in parallel and a CPU device, folds run in spawned processes, else here.
    worker_config : RunConfig, optional
        The configuration workers rebuild the windows from (its data section names the cache
        they read); default ``config``.
    backend : LocalBackend, optional
        Whose shared workers to use while it is entered (else this run starts its own).
    """

    def __init__(
        self,
        config: RunConfig,
        windows: RunWindows,
        progress: Progress | None = None,
        jobs: int = 1,
        worker_config: RunConfig | None = None,
        backend: LocalBackend | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.windows = windows
        self.progress = progress or Progress(quiet=True)
        self.jobs = jobs
        self.worker_config = worker_config or config
        self._cancelled = False
        self._pending: list = []

    def _in_processes(self, n_tasks: int) -> bool:
        return (
            self.jobs > 1
            and n_tasks > 1
            and estimator_for(self.config).parallel_folds
            and resolve_device(self.config.training.device).type == "cpu"
        )

    def submit(self, tasks: Sequence[FoldTask]) -> Iterator[tuple[FoldTask, dict]]:
        """Run ``tasks`` (see :class:`Executor`)."""
        self._cancelled = False
        if self._in_processes(len(tasks)):
            yield from self._in_pool(tasks)
            return
        for task in tasks:
            if self._cancelled:
                return
            yield task, run_fold(task, self.config, self.windows, self.progress)

    def _in_pool(self, tasks: Sequence[FoldTask]) -> Iterator[tuple[FoldTask, dict]]:
        from concurrent.futures import as_completed, wait
        from concurrent.futures.process import BrokenProcessPool

        shared = self.backend.workers() if self.backend is not None else None
        pool = shared if shared is not None else _new_pool(min(self.jobs, len(tasks)))
        config_dict = self.worker_config.to_dict()
        futures: dict = {}
        broken = False
        try:
            futures = {pool.submit(_worker_fold, config_dict, task): task for task in tasks}
            self._pending = list(futures)
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BrokenProcessPool:
            broken = True
            raise
        finally:
            self._pending = []
            if shared is None:
                pool.shutdown(wait=True, cancel_futures=True)
            elif broken:  # a worker died: the next run starts new ones
                self.backend.discard_workers()
            else:  # on an error the rest is cancelled; the folds running finish first
                for future in futures:
                    future.cancel()
                wait(futures)

    def cancel(self) -> None:
        """Start no further fold (queued worker tasks are cancelled)."""
        self._cancelled = True
        for future in self._pending:
            future.cancel()


# ---- worker processes: the windows are rebuilt from the (shared) cache once per run ----
_WORKER: dict = {}


def _worker_start() -> None:
    ignore_interrupts()
    torch.set_num_threads(1)


def _worker_fold(config_dict: dict, task: FoldTask) -> dict:
    if _WORKER.get("config_dict") != config_dict:  # the first task of a run in this worker
        _WORKER.clear()  # the previous run's windows go first
        config = RunConfig.from_dict(config_dict)
        run_task = get_task(config.data.task, config.data.dataset, config.data.path)
        prepared = prepare_subjects(config.data)
        # the features the run's process computed are read from the (shared) cache
        windows = run_windows(prepared, run_task, config, cache_dir=cache_dir_of(config.data))
        _WORKER.update(config_dict=config_dict, config=config, windows=windows)
    return run_fold(task, _WORKER["config"], _WORKER["windows"], Progress(quiet=True))

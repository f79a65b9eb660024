"""Folds as Ray tasks: the same study on a Ray cluster (``--backend ray``).

Every fold of every configuration and seed is one Ray task with declared resources
(``num_cpus``, ``num_gpus``). The run's windows travel through Ray's object store: the driver
puts them there once per run and every task of that run reads the same copy (zero-copy on a
node), so workers need neither the dataset nor the preprocessing cache on their disks. A task
writes its fold's files into a scratch folder of its own and returns their bytes; the driver
writes them into the run folder, ``fold.json`` last. The run folders therefore live where the
command runs, resuming works exactly as with the local backend (also when the backend changes
between two invocations), and a task whose worker dies can simply run again: Ray retries it
(``max_retries``).

Ray is an optional dependency (``pip install 'xmodal[ray]'``); it is imported only here.
"""

from __future__ import annotations

import math
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from xmodal.config import RunConfig
from xmodal.errors import ConfigError, XmodalError
from xmodal.files import atomic_write_bytes
from xmodal.training.folds import FoldTask, RunWindows, run_fold
from xmodal.training.progress import Progress

#: name of the Ray task of one fold (also the worker's process title while it runs one)
FOLD_TASK_NAME = "xmodal_fold"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'xmodal[ray]'") from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """One-line error when nothing listens at a ``host:port`` or ``ray://host:port`` address
    (Ray itself would retry for minutes)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms: left to Ray
    import socket

    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise XmodalError(
            f"Ray: no cluster reachable at {address} "
            f"({exc.strerror or exc}); check --address or RAY_ADDRESS"
        ) from None


def _fold_task(config_dict: dict, windows: RunWindows, task: FoldTask, threads: int) -> dict:
    """Body of a fold's Ray task: run the fold in a scratch folder; return its files' bytes."""
    import torch

    torch.set_num_threads(max(1, threads))
    config = RunConfig.from_dict(config_dict)
    with tempfile.TemporaryDirectory(prefix="xmodal-fold-") as scratch:
        record = run_fold(FoldTask(task.fold, Path(scratch)), config, windows, Progress(quiet=True))
        files = {p.name: p.read_bytes() for p in Path(scratch).iterdir() if p.is_file()}
    return {"record": record, "files": files}


class RayBackend:
    """Connects to a Ray cluster (or starts a local one) for the duration of a ``with`` block.

    Parameters
    ----------
    address : str, optional
        A running cluster's address (``ray://host:10001`` or ``host:6379``); default
        ``$RAY_ADDRESS``; neither: a local Ray instance is started and shut down at the end.
    cpus_per_task : float
        CPUs a fold task declares (and the torch threads it uses).
    gpus_per_task : float
        GPUs a fold task declares (``--device cuda``: 1 unless given).
    max_retries : int
        Times a task whose worker process dies is run again.
    num_cpus : int, optional
        CPUs of a local instance (default: all of this machine).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        cpus_per_task: float = 1.0,
        gpus_per_task: float = 0.0,
        max_retries: int = 3,
        num_cpus: int | None = None,
    ) -> None:
        if not (math.isfinite(cpus_per_task) and cpus_per_task > 0):
            raise ConfigError(f"--cpus-per-task must be a finite number > 0, got {cpus_per_task}")
        if not (math.isfinite(gpus_per_task) and gpus_per_task >= 0):
            raise ConfigError(f"--gpus-per-task must be a finite number >= 0, got {gpus_per_task}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.cpus_per_task = float(cpus_per_task)
        self.gpus_per_task = float(gpus_per_task)
        self.max_retries = int(max_retries)
        self.num_cpus = num_cpus
        self._ray = None
        self._started = False

    def __enter__(self) -> RayBackend:
        ray = _import_ray()
        if not ray.is_initialized():
            import logging

            kwargs: dict[str, Any] = {
                "log_to_driver": False,
                "logging_level": logging.ERROR,
                "configure_logging": True,
            }
            if self.address:
                _check_reachable(self.address)
                kwargs["address"] = self.address
            else:
                kwargs.update(num_cpus=self.num_cpus, include_dashboard=False)
            # ray.init replaces the SIGTERM handler by a silent sys.exit; the caller's (the
            # command line's: one line, resumable) is put back
            main_thread = threading.current_thread() is threading.main_thread()
            sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local instance"
                raise XmodalError(
                    f"Ray: cannot connect to {where}: {str(exc).strip().splitlines()[0]}"
                ) from None
            finally:
                if sigterm is not None:
                    signal.signal(signal.SIGTERM, sigterm)
            self._started = True
        self._ray = ray
        return self

    def __exit__(self, *exc) -> None:
        self._stop_own_instance()

    def _stop_own_instance(self) -> bool:
        """Shut down the local instance this backend started, which stops every task and
        worker on it; False where the backend joined a cluster it does not own."""
        if not self._started:
            return False
        self._ray.shutdown()
        self._started = False
        return True

    def stop_tasks(self, refs: Sequence) -> None:
        """Stop the given tasks, finished or not.

        On a local instance of its own the backend shuts the instance down: Ray's per-task
        ``cancel(force=True)`` races with a task that is finishing at that moment (an internal
        check then ends the driver with exit code 1). On a cluster it joined, each task is
        force-cancelled, since shutting down would leave them running there.
        """
        if not refs or self._stop_own_instance():
            return
        for ref in refs:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # already finished or gone: nothing left to cancel
                pass

    def describe(self) -> dict:
        """What ``results.json`` records about the execution."""
        return {
            "backend": self.name,
            "address": self.address or "local",
            "cpus_per_task": self.cpus_per_task,
            "gpus_per_task": self.gpus_per_task,
        }

    def call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` as one Ray task with this backend's resources; Ctrl-C
        cancels it."""
        self._connected()
        ref = self._remote(fn).remote(*args, **kwargs)
        try:
            return self._result(ref, "")
        except BaseException:
            self.stop_tasks([ref])
            raise

    def _remote(self, fn, **options):
        """``fn`` as a Ray remote function with this backend's resources and retries."""
        return self._ray.remote(fn).options(
            num_cpus=self.cpus_per_task,
            num_gpus=self.gpus_per_task,
            max_retries=self.max_retries,
            retry_exceptions=False,
            **options,
        )

    def _result(self, ref, where: str):
        """The value of a finished task; its XmodalError, or a worker that died every retry,
        as a one-line XmodalError (``where``: what the task was, e.g. the fold)."""
        ray = self._ray
        prefix = f"{where}: " if where else ""
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, XmodalError):
                raise XmodalError(f"{prefix}{cause}") from None
            raise
        except ray.exceptions.WorkerCrashedError as exc:
            raise XmodalError(
                f"{prefix}its Ray worker died {self.max_retries + 1} times ({exc})"
            ) from None

    def _connected(self):
        if self._ray is None:
            raise RuntimeError("RayBackend is used outside its 'with' block")
        return self._ray

    def executor(
        self,
        config: RunConfig,
        windows: RunWindows,
        progress: Progress,
        worker_config: RunConfig | None = None,
    ) -> RayExecutor:
        """An executor of one run's folds on the connected cluster."""
        self._connected()
        return RayExecutor(self, config, windows, progress)


class RayExecutor:
    """Runs a run's fold tasks as Ray tasks (see :class:`~xmodal.training.execution.Executor`)."""

    def __init__(
        self, backend: RayBackend, config: RunConfig, windows: RunWindows, progress: Progress
    ) -> None:
        self.backend = backend
        self.config = config
        self.windows = windows
        self.progress = progress
        self._pending: list = []

    def submit(self, tasks: Sequence[FoldTask]) -> Iterator[tuple[FoldTask, dict]]:
        """Submit every task at once; yield ``(task, record)`` as each finishes, after writing
        its files into its fold folder. Ctrl-C or an error cancels the tasks still pending."""
        if not tasks:
            return
        ray, b = self.backend._ray, self.backend
        remote = b._remote(_fold_task, name=FOLD_TASK_NAME)
        windows_ref = ray.put(self.windows)
        config_dict = self.config.to_dict()
        threads = max(1, int(b.cpus_per_task))
        by_ref = {remote.remote(config_dict, windows_ref, task, threads): task for task in tasks}
        self._pending = list(by_ref)
        self.progress.tasks_start(f"{len(tasks)} folds on Ray", len(tasks))
        try:
            while self._pending:
                done, self._pending = ray.wait(self._pending, num_returns=1)
                task = by_ref[done[0]]
                out = b._result(done[0], task.fold.name)
                _write_fold_files(task.folder, out["files"])
                self.progress.task_done()
                yield task, out["record"]
        finally:
            self.cancel()
            self.progress.tasks_end()

    def cancel(self) -> None:
        """Cancel every task not finished yet (running ones are stopped)."""
        pending, self._pending = self._pending, []
        self.backend.stop_tasks(pending)


def _write_fold_files(folder: Path, files: dict[str, bytes]) -> None:
    """The fold's state files, then ``fold.json`` (which marks the fold done)."""
    folder = Path(folder)
    for name, data in sorted(files.items(), key=lambda item: item[0] == "fold.json"):
        atomic_write_bytes(folder / name, data)

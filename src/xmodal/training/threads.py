"""Choosing the number of intra-op CPU threads for training.

On a 2-core machine that other processes share, OpenMP parallel regions with two threads wait
for a descheduled partner at every barrier: a training step of the compact model measured
0.46 s with one thread but 6.5 s with two while one core was busy elsewhere (14x slower), and
1.5-1.8x faster with two threads when the machine was idle.

``TrainConfig.threads``: ``0`` (default) keeps torch's thread count, so that the same seed gives
the same numbers; ``N > 0`` uses N threads; ``-1`` (auto) samples ``/proc/stat`` for 0.2 s before
every fold and uses as many threads as CPUs left idle by other processes (at least 1, at most
torch's default). Auto is faster on a shared machine but not bit-reproducible: different
thread counts change float32 summation order (results equal within rounding).

Fold workers (``xmodal train/benchmark --jobs``): these small networks are bound by per-op
overhead more than by FLOPs, so two threads on one fold use two cores poorly (the default model
trains at about 680 windows/s with one thread and 1,100 with two on this project's 2-core
machine), while two folds at one thread each use both. :func:`default_jobs` is therefore the
number of usable CPUs (``XMODAL_JOBS`` overrides it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def idle_cpus(interval: float = 0.2) -> float | None:
    """CPUs left idle by other processes, from two reads of ``/proc/stat`` ``interval`` s apart
    (this process sleeps meanwhile, so the busy time is everyone else's); None where
    ``/proc/stat`` is unavailable."""

    def read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                fields = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    first = read()
    if first is None:
        return None
    time.sleep(interval)
    second = read()
    if second is None or second[0] <= first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return float(usable_cpus()) * idle / total


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_jobs() -> int:
    """Fold worker processes when ``--jobs`` is not given: ``$XMODAL_JOBS`` if set (a positive
    integer), else :func:`usable_cpus`."""
    raw = os.environ.get("XMODAL_JOBS", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            from xmodal.errors import ConfigError

            raise ConfigError(f"XMODAL_JOBS must be a positive integer, got {raw!r}")
        return value
    return usable_cpus()


@contextmanager
def training_threads(config_threads: int, device: torch.device) -> Iterator[dict]:
    """Set the thread count for one training call and restore the previous one afterwards.

    Yields a dict ``{"threads": n}`` (and ``idle_cpus`` for auto) describing the choice.
    """
    before = torch.get_num_threads()
    info: dict = {"threads": before}
    try:
        if device.type == "cpu":
            if config_threads > 0:
                torch.set_num_threads(int(config_threads))
            elif (
                config_threads < 0
                and "OMP_NUM_THREADS" not in os.environ
                and torch.get_num_threads() > 1
            ):
                idle = idle_cpus()
                if idle is not None:
                    torch.set_num_threads(max(1, min(torch.get_num_threads(), int(idle + 0.5))))
                    info["idle_cpus"] = round(idle, 2)
            info["threads"] = torch.get_num_threads()
        yield info
    finally:
        torch.set_num_threads(before)

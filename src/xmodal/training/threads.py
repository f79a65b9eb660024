"""Choosing the number of intra-op CPU threads for training.

On a 2-core machine that other processes share, OpenMP parallel regions with two threads wait
for a descheduled partner at every barrier: a training step of the compact model measured
0.46 s with one thread but 6.5 s with two while one core was busy elsewhere (14x slower), and
1.5-1.8x faster with two threads when the machine was idle. Neither fixed choice is safe, so
``TrainConfig.threads = 0`` (auto) samples ``/proc/stat`` for 0.2 s and uses as many threads as
CPUs left idle by other processes (at least 1, at most torch's default); the count is chosen
again for every training call (every fold), since the load changes. (Timing a probe step at
each count, :func:`calibrate_threads`, also works but itself pays one oversubscribed step,
several seconds on a busy machine.) An explicit ``threads`` or an
``OMP_NUM_THREADS`` in the environment is taken as given.

Different thread counts may change float32 summation order (results equal within rounding).
"""

from __future__ import annotations

import copy
import os
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import torch
from torch import nn


def candidate_threads() -> list[int]:
    """Thread counts worth trying: 1 first (the cheap reference), then torch's default."""
    return sorted({torch.get_num_threads(), 1})


def time_threads(step: Callable[[], None], counts: Sequence[int], repeats: int = 2) -> dict[int, float]:
    """Best-of-``repeats`` seconds of ``step`` at each thread count (after one warm-up call)."""
    before = torch.get_num_threads()
    out: dict[int, float] = {}
    try:
        for n in counts:
            torch.set_num_threads(n)
            t = time.perf_counter()
            step()
            warm = time.perf_counter() - t
            if out and warm > 3 * min(out.values()):
                out[n] = warm                  # clearly slower (e.g. a busy core): stop early
                continue
            best = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                step()
                best = min(best, time.perf_counter() - t)
            out[n] = best
    finally:
        torch.set_num_threads(before)
    return out


def calibrate_threads(model: nn.Module, inputs: Sequence[torch.Tensor], target: torch.Tensor,
                      criterion: nn.Module) -> tuple[int, dict[int, float]]:
    """Fastest thread count for a forward/backward pass of a copy of ``model`` on ``inputs``."""
    counts = candidate_threads()
    if len(counts) == 1:
        return counts[0], {}
    probe = copy.deepcopy(model).train()

    def step() -> None:
        loss = probe.compute_loss(list(inputs), target, criterion)
        loss.backward()
        probe.zero_grad(set_to_none=True)

    with torch.random.fork_rng(devices=[]):     # dropout in the probe must not shift training's RNG
        timings = time_threads(step, counts)
    return min(timings, key=timings.get), timings


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
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)      # idle + iowait
        return sum(fields[:8]), idle
    first = read()
    if first is None:
        return None
    time.sleep(interval)
    second = read()
    if second is None or second[0] <= first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    n_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return float(n_cpus or 1) * idle / total


@contextmanager
def training_threads(config_threads: int, device: torch.device, model: nn.Module,
                     inputs: Sequence[torch.Tensor], target: torch.Tensor,
                     criterion: nn.Module) -> Iterator[dict]:
    """Set the thread count for one training call and restore the previous one afterwards.

    Yields a dict ``{"threads": n, "calibration_s": {n: seconds}}`` describing the choice.
    """
    before = torch.get_num_threads()
    info: dict = {"threads": before, "calibration_s": {}}
    try:
        if device.type == "cpu":
            if config_threads > 0:
                torch.set_num_threads(int(config_threads))
            elif "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() > 1:
                idle = idle_cpus()
                if idle is not None:
                    torch.set_num_threads(max(1, min(torch.get_num_threads(), int(idle + 0.5))))
                    info["idle_cpus"] = round(idle, 2)
            info["threads"] = torch.get_num_threads()
        yield info
    finally:
        torch.set_num_threads(before)

"""Shared helpers of the benchmark modules: shapes, timing, the model and synthetic data."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"chest.ECG": (1, 2560), "chest.EDA": (1, 160)}  # 10-s windows, 256 Hz / 16 Hz
MODALITIES = ("chest.ECG", "chest.EDA")
N_SUBJECTS_FULL = 15
PRESET_ORDER = ("efficient", "compact", "paper", "fast")  # efficient is the default
#: the network every measurement times: the attentive one, whose connections cost the most
#: (the default, late fusion, trains in less time; the sensors x levers study times both)
MODEL = "attentive"


def load_avg() -> list[float]:
    """The 1/5/15-minute load averages, rounded (every timing is read next to them)."""
    return [round(v, 2) for v in os.getloadavg()]


def best_time(fn, repeats: int, clock=time.perf_counter) -> float:
    """Seconds (wall time, or ``clock``'s) of the fastest of ``repeats`` calls of ``fn`` after
    one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def cpu_best(fn, repeats: int) -> float:
    """:func:`best_time` in CPU seconds of this process (``time.process_time``): on a shared
    machine it follows the other processes much less than wall time does."""
    return best_time(fn, repeats, time.process_time)


def alternate_cpu_best(variants: dict, rounds: int, repeats: int) -> dict:
    """:func:`cpu_best` of each callable of ``variants``, the variants alternated ``rounds``
    times and the best of each kept."""
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, fn in variants.items():
            best[name] = min(best[name], cpu_best(fn, repeats))
    return best


def matmul_peak_cpu(precision: str, repeats: int) -> float:
    """GFLOP/s of a 2048^2 GEMM in CPU time (bf16 under autocast)."""
    from xmodal.training.precision import autocast_context

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    if precision == "bf16":
        a, b = a.bfloat16(), b.bfloat16()
    with autocast_context(precision, "cpu"):
        s = cpu_best(lambda: a @ b, repeats)
    return 2 * n**3 / s / 1e9


def with_threads(n: int, fn):
    """``fn()`` with torch's intra-op thread count set to ``n``; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def build(preset: str = ""):
    """One ``MODEL`` network (the default trains a seed ensemble of such networks) of
    ``preset`` (default preset when empty) on the benchmark's ECG + EDA shapes, seed 0."""
    from xmodal.config import DEFAULT_PRESET, ModelConfig
    from xmodal.models.registry import build_model

    torch.manual_seed(0)
    config = ModelConfig(name=MODEL, preset=preset or DEFAULT_PRESET, ensemble=1)
    return build_model(config, SHAPES, 3)


def simulate(out: Path, subjects: int, minutes: float) -> float:
    """Write ``subjects`` synthetic WESAD subjects of ``minutes`` each; seconds taken."""
    from xmodal.data.synthetic import simulate_wesad

    t = time.perf_counter()
    simulate_wesad(out, subjects=subjects, minutes=minutes, seed=0)
    return time.perf_counter() - t


def rmtree(path: Path) -> None:
    """Remove a scratch folder, ignoring errors."""
    shutil.rmtree(path, ignore_errors=True)

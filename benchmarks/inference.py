"""Inference latency: one window (batch 1, one thread) of the eager model and of the frozen
copy ``Predictor`` runs on CPU, and the batched time per window."""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.common import PRESET_ORDER, SHAPES, best_time, build, load_avg, with_threads


def measure_inference(quick: bool) -> dict:
    """Per preset: batch-1 p50/p99 latency (eager and frozen) and batched ms per window."""
    from xmodal.inference.frozen import freeze_for_cpu

    def p50_p99(fn) -> tuple[float, float]:
        times = []
        fn()
        for _ in range(10 if quick else 200):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        ms = np.array(times) * 1e3
        return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))

    out = {}
    for preset in PRESET_ORDER:
        model = build(preset).eval()
        frozen = freeze_for_cpu(model)
        one = [torch.randn(1, *s) for s in SHAPES.values()]
        big = [torch.randn(8 if quick else 256, *s) for s in SHAPES.values()]
        with torch.inference_mode():
            eager = with_threads(1, lambda: p50_p99(lambda: model(*one)))
            fast = with_threads(1, lambda: p50_p99(lambda: frozen(*one)))
            tb = with_threads(1, lambda: best_time(lambda: model(*big), 1 if quick else 3))
        out[preset] = {
            "batch1_p50_ms": eager[0],
            "batch1_p99_ms": eager[1],
            "frozen_batch1_p50_ms": fast[0],
            "frozen_batch1_p99_ms": fast[1],
            "batched_ms_per_window": tb / len(big[0]) * 1e3,
            "batched_size": len(big[0]),
            "threads": 1,
            "load_avg": load_avg(),
        }
    return out

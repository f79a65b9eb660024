"""Inference latency and throughput on CPU (a script, not a test).

    .venv/bin/python benchmarks/latency.py [--threads N] [--minutes 60] [--device cpu|cuda]

Reports, per model type with the default (efficient) streams on chest ECG (256 Hz) + EDA (16 Hz)
10-s windows: p50/p99 latency of one window (batch 1) and throughput at batch 256, eager and as
the frozen TorchScript copy that ``Predictor`` runs on CPU; then the
streaming predictor over a simulated recording of ECG + EDA at 700 Hz (per-hop latency, peak
buffer memory, real-time factor). Weights are random: latency does not depend on them.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from benchmarks.common import MODEL
from xmodal.config import ModelConfig
from xmodal.inference.frozen import freeze_for_cpu
from xmodal.inference.predictor import Predictor
from xmodal.models.registry import build_model, get_model, model_names

SHAPES = {"chest.ECG": (1, 2560), "chest.EDA": (1, 160)}
RATES = {"chest.ECG": 256.0, "chest.EDA": 16.0}


def model_latency(name: str, device: str, repeats: int = 300, frozen: bool = False) -> dict:
    shapes = {"chest.ECG": SHAPES["chest.ECG"]} if name == "single" else SHAPES
    model = build_model(ModelConfig(name=name, ensemble=1), shapes, 3).to(device).eval()
    if frozen:  # what Predictor runs on CPU
        model = freeze_for_cpu(model)
    one = [torch.randn(1, *s, device=device) for s in shapes.values()]
    big = [torch.randn(256, *s, device=device) for s in shapes.values()]
    times = []
    with torch.inference_mode():
        for _ in range(20):
            model(*one)
        for _ in range(repeats):
            t = time.perf_counter()
            model(*one)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        model(*big)
        t = time.perf_counter()
        for _ in range(5):
            model(*big)
        if device == "cuda":
            torch.cuda.synchronize()
        throughput = 5 * 256 / (time.perf_counter() - t)
    ms = np.array(times) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "windows_per_s_b256": throughput,
    }


def streaming(minutes: float, hop: float, chunk_s: float = 0.25) -> dict:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=MODEL, ensemble=1), SHAPES, 3).eval()
    predictor = Predictor([model], ["baseline", "stress", "amusement"], RATES, 10.0, hop)
    rate = 700.0
    stream = predictor.stream({"chest.ECG": rate, "chest.EDA": rate}, hop=hop)
    rng = np.random.default_rng(0)
    n_chunk = int(chunk_s * rate)
    t_axis = np.arange(n_chunk) / rate
    hop_times, peak, rows = [], 0, 0
    start = time.perf_counter()
    for i in range(int(minutes * 60 / chunk_s)):
        t = i * chunk_s + t_axis
        ecg = np.sin(2 * np.pi * 1.2 * t) ** 15 + 0.05 * rng.standard_normal(n_chunk)
        eda = 5 + 0.2 * np.sin(2 * np.pi * t / 60) + 0.01 * rng.standard_normal(n_chunk)
        stream.push("chest.EDA", eda)
        t0 = time.perf_counter()
        out = stream.push("chest.ECG", ecg)  # the push that completes a window
        if len(out):
            hop_times.append(time.perf_counter() - t0)
            rows += len(out)
        peak = max(peak, stream.nbytes)
    elapsed = time.perf_counter() - start
    ms = np.array(hop_times) * 1e3
    return {
        "minutes": minutes,
        "hop_s": hop,
        "predictions": rows,
        "wall_s": elapsed,
        "realtime_factor": minutes * 60 / elapsed,
        "hop_p50_ms": float(np.percentile(ms, 50)),
        "hop_p99_ms": float(np.percentile(ms, 99)),
        "buffer_peak_kib": peak / 1024,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: batch-1 latency is best single-threaded "
        "and more threads oversubscribe a busy 2-core machine; 0: all)",
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated stream length")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {args.device}")
    print(f"{'model':14s} {'mode':7s} {'p50 ms':>8s} {'p99 ms':>8s} {'win/s @256':>11s}")
    for name in [n for n in model_names() if get_model(n).is_network]:
        for frozen in (False, True) if args.device == "cpu" else (False,):
            r = model_latency(name, args.device, frozen=frozen)
            print(
                f"{name:14s} {'frozen' if frozen else 'eager':7s} {r['p50_ms']:8.2f} "
                f"{r['p99_ms']:8.2f} {r['windows_per_s_b256']:11.0f}"
            )
    for hop in (10.0, 1.0):
        s = streaming(args.minutes, hop)
        print(
            f"streaming {s['minutes']:.0f} min ECG+EDA @700 Hz, hop {hop:g} s: "
            f"{s['predictions']} predictions in {s['wall_s']:.1f} s = {s['realtime_factor']:.0f}x "
            f"real time; per-hop p50 {s['hop_p50_ms']:.1f} ms p99 {s['hop_p99_ms']:.1f} ms; "
            f"buffers peak {s['buffer_peak_kib']:.0f} KiB; process max RSS "
            f"{s['max_rss_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()

"""The machine: CPU, cores, torch, bfloat16 support, and its matmul and conv1d peaks."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from benchmarks.common import best_time, load_avg, with_threads

#: precisions measured: float32 everywhere, bfloat16 where the CPU computes it
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def precisions() -> tuple[str, ...]:
    """``("fp32", "bf16")`` on a CPU with bfloat16 instructions, else ``("fp32",)``."""
    from xmodal.training.precision import cpu_supports_bf16

    return ("fp32", "bf16") if cpu_supports_bf16() else ("fp32",)


def _cpu_flags() -> set[str]:
    from xmodal.training.precision import read_cpuinfo

    flags: set[str] = set()
    for line in read_cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def machine_info() -> dict:
    """CPU model, CPU counts, torch, bfloat16/AMX flags and the load average at start."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = _cpu_flags()
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_flags": sorted(f for f in flags if f == "avx512_bf16" or f.startswith("amx")),
        "precisions": list(precisions()),
        "load_avg_start": load_avg(),
    }


def measure_peaks(quick: bool) -> dict:
    """Matmul (n^3 GEMM) and conv1d (forward of the paper stream's widest layer) GFLOP/s per
    precision, at 1 thread and at torch's default thread count; ``<precision>`` holds the best
    over thread counts, ``threads_<n>`` each."""
    n = 1024 if quick else 2048
    batch = 16 if quick else 64
    conv_flops = 2 * batch * 32 * 32 * 32 * 2560
    out: dict = {"load_avg": load_avg()}
    for name in precisions():
        dtype = DTYPES[name]
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        conv_x = torch.randn(batch, 32, 2560 + 31, dtype=dtype)
        conv_w = torch.randn(32, 32, 32, dtype=dtype)
        rec: dict = {}
        for threads in sorted({1, torch.get_num_threads()}):
            mm = with_threads(threads, lambda: best_time(lambda: a @ b, 3 if quick else 8))
            cv = with_threads(
                threads,
                lambda: best_time(
                    lambda: torch.nn.functional.conv1d(conv_x, conv_w), 2 if quick else 5
                ),
            )
            rec[f"threads_{threads}"] = {
                "matmul_gflops": 2 * n**3 / mm / 1e9,
                "conv1d_gflops": conv_flops / cv / 1e9,
            }
        for key in ("matmul_gflops", "conv1d_gflops"):
            rec[key] = max(v[key] for k, v in rec.items() if k.startswith("threads_"))
        out[name] = rec
    # the fp32 peaks stay at the top level as well
    out["matmul_gflops"] = out["fp32"]["matmul_gflops"]
    out["conv1d_gflops"] = out["fp32"]["conv1d_gflops"]
    default = out["fp32"][f"threads_{torch.get_num_threads()}"]
    out["note"] = (
        f"matmul {n}x{n}x{n}; conv1d forward 32->32 channels, kernel 32, 2560 "
        f"samples, batch {batch}; per precision ({', '.join(precisions())}), best over "
        f"thread counts (default {torch.get_num_threads()} threads: "
        f"{default['matmul_gflops']:.0f} GFLOP/s fp32 matmul)"
    )
    if "bf16" not in out:
        out["note"] += "; bf16 not measured: this CPU has no bfloat16 instructions"
    return out

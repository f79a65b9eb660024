"""The CPU training paths behind a fast LOSO, each measured against its alternative in one run.

    python -m benchmarks.cpu_paths --out OUT.json [--rounds 3] [--no-compile]

Every figure of the performance page's "What makes a full WESAD LOSO fast on a CPU" comes from
here: FLOPs per training window of each preset; one convolution layer's forward + backward in
bf16 with its gradients computed natively or as convolutions; max-pooling channels-first
against channels-last; whole training steps of each preset with the fast paths on and off, in
bf16 and fp32; the default preset's throughput per batch size as a ratio to the bf16 matmul
peak; oneDNN's implicit bf16 for fp32 convolutions; a height-1 ``conv2d`` in the channels-last
layout; one and two threads beside a busy process; and ``torch.compile``. Times are CPU time
of this process (``time.process_time``) on one intra-op thread, variants alternated
``rounds`` times and the best of each kept, except the busy-process comparison (wall time:
what the other process takes is the point) and the compilation time (wall time).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import (
    alternate_cpu_best,
    best_time,
    load_avg,
    matmul_peak_cpu,
    with_threads,
)
from benchmarks.machine import machine_info
from benchmarks.training import step_flops, training_step

PRESETS = ("efficient", "compact", "paper")
BATCH = 64
#: one convolution layer as the presets have them: channels, length of the input
LAYER = {"channels": 32, "length": 320}


def _bf16(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).bfloat16().requires_grad_(True)


def conv_layer(rounds: int) -> dict:
    """One 'same' convolution (batch 64, 32 -> 32 channels, 320 steps; and one input channel)
    per kernel size. bf16: forward + backward native against grad-input computed as a
    convolution (native grad-weight), and grad-weight alone native against as a convolution.
    fp32: forward + backward native against :mod:`xmodal.models.fastconv`'s gradients."""
    from xmodal.models.fastconv import SameConv1dFunction

    out = {}
    for k in (8, 16, 32):
        for c_in in (LAYER["channels"], 1):
            x = _bf16(BATCH, c_in, LAYER["length"])
            w = _bf16(LAYER["channels"], c_in, k)
            left, right = (k - 1) // 2, k // 2
            gy = torch.randn(BATCH, LAYER["channels"], LAYER["length"]).bfloat16()

            def native() -> None:
                F.conv1d(F.pad(x, (left, right)), w).backward(gy)

            def grad_input_as_conv() -> None:
                SameConv1dFunction.apply(x, w, None, left, right).backward(gy)

            xp = F.pad(x.detach(), (left, right))

            def grad_weight_native() -> None:
                torch.ops.aten.convolution_backward(
                    gy, xp, w.detach(), None, (1,), (0,), (1,), False, (0,), 1, (False, True, False)
                )

            def grad_weight_as_conv() -> None:
                F.conv1d(xp.transpose(0, 1), gy.transpose(0, 1))

            best = alternate_cpu_best(
                {
                    "native": native,
                    "grad_input_as_conv": grad_input_as_conv,
                    "grad_weight_native": grad_weight_native,
                    "grad_weight_as_conv": grad_weight_as_conv,
                },
                rounds,
                5,
            )
            x32, w32, gy32 = (t.detach().float().requires_grad_(True) for t in (x, w, gy))

            def fp32_native() -> None:
                F.conv1d(F.pad(x32, (left, right)), w32).backward(gy32.detach())

            def fp32_fast() -> None:  # both gradients as convolutions (kernels >= 16)
                SameConv1dFunction.apply(x32, w32, None, left, right).backward(gy32.detach())

            best.update(
                alternate_cpu_best({"fp32_native": fp32_native, "fp32_fast": fp32_fast}, rounds, 5)
            )
            out[f"k{k}_cin{c_in}"] = {
                "kernel": k,
                "in_channels": c_in,
                **{f"{n}_ms": 1000 * s for n, s in best.items()},
                "grad_input_as_conv_ratio": best["grad_input_as_conv"] / best["native"],
                "grad_weight_as_conv_ratio": best["grad_weight_as_conv"]
                / best["grad_weight_native"],
                "fp32_fast_ratio": best["fp32_fast"] / best["fp32_native"],
            }
    return out


def max_pool(rounds: int) -> dict:
    """bf16 max-pooling (batch 64, 32 channels, 320 steps, size 2) forward + backward: PyTorch's
    channels-first path against :class:`xmodal.models.fastpool.ChannelsLastMaxPool1d`."""
    from xmodal.models.fastpool import ChannelsLastMaxPool1d

    x = _bf16(BATCH, LAYER["channels"], LAYER["length"])
    gy = torch.randn(BATCH, LAYER["channels"], LAYER["length"] // 2).bfloat16()

    def native() -> None:
        F.max_pool1d(x, 2, 2).backward(gy)

    def channels_last() -> None:
        ChannelsLastMaxPool1d.apply(x, 2, 2, 0, 1).backward(gy)

    best = alternate_cpu_best({"native": native, "channels_last": channels_last}, rounds, 10)
    return {
        **{f"{n}_ms": 1000 * s for n, s in best.items()},
        "ratio": best["channels_last"] / best["native"],
    }


def conv2d_layer(rounds: int) -> dict:
    """The default preset's bf16 convolution (kernel 8) as ``conv1d`` against a height-1
    ``conv2d`` on a channels-last copy (converted there and back), forward + backward."""
    k = 8
    x = _bf16(BATCH, LAYER["channels"], LAYER["length"] + k - 1)
    w = _bf16(LAYER["channels"], LAYER["channels"], k)
    gy = torch.randn(BATCH, LAYER["channels"], LAYER["length"]).bfloat16()

    def conv1d() -> None:
        F.conv1d(x, w).backward(gy)

    def conv2d_channels_last() -> None:
        x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        w4 = w.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        F.conv2d(x4, w4).squeeze(2).contiguous().backward(gy)

    best = alternate_cpu_best(
        {"conv1d": conv1d, "conv2d_channels_last": conv2d_channels_last}, rounds, 5
    )
    return {
        **{f"{n}_ms": 1000 * s for n, s in best.items()},
        "ratio": best["conv2d_channels_last"] / best["conv1d"],
    }


@contextmanager
def _fast_paths(on: bool):
    """The fast convolution gradients and channels-last pooling on or off."""
    from xmodal.models import fastconv, fastpool

    before = fastconv.ENABLED, fastpool.use_channels_last_pool
    fastconv.ENABLED = on
    if not on:
        fastpool.use_channels_last_pool = lambda x: False
    try:
        yield
    finally:
        fastconv.ENABLED, fastpool.use_channels_last_pool = before


def _toggled(fn, on: bool):
    def run() -> None:
        with _fast_paths(on):
            fn()

    return run


def steps(rounds: int) -> dict:
    """Per preset: CPU ms per training step in bf16 with the fast paths off and on, and in
    fp32 with them on; oneDNN's implicit bf16 for fp32 convolutions on the default preset."""
    out = {}
    for preset in PRESETS:
        bf16, fp32 = training_step(preset, "bf16", BATCH), training_step(preset, "fp32", BATCH)
        repeats = 2 if preset == "paper" else 6
        best = alternate_cpu_best(
            {
                "bf16_native": _toggled(bf16, False),
                "bf16_fast": _toggled(bf16, True),
                "fp32_fast": _toggled(fp32, True),
            },
            rounds,
            repeats,
        )
        out[preset] = {
            "mflop_per_window": step_flops(preset, BATCH) / BATCH / 1e6,
            **{f"{n}_ms": 1000 * s for n, s in best.items()},
            "bf16_fast_to_native": best["bf16_fast"] / best["bf16_native"],
            "bf16_to_fp32": best["bf16_fast"] / best["fp32_fast"],
        }
    conv = getattr(torch.backends.mkldnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        fp32 = training_step("efficient", "fp32", BATCH)
        before = conv.fp32_precision

        def implicit_bf16() -> None:
            conv.fp32_precision = "bf16"
            try:
                fp32()
            finally:
                conv.fp32_precision = before

        best = alternate_cpu_best({"fp32": fp32, "fp32_implicit_bf16": implicit_bf16}, rounds, 6)
        out["implicit_bf16"] = {
            **{f"{n}_ms": 1000 * s for n, s in best.items()},
            "ratio": best["fp32_implicit_bf16"] / best["fp32"],
        }
    return out


def batch_sizes(rounds: int, peak_gflops: float) -> dict:
    """The default preset in bf16: windows per CPU second and ratio to the bf16 matmul peak
    per batch size."""
    out = {}
    for batch in (32, 64, 128, 256):
        step = training_step("efficient", "bf16", batch)
        seconds = alternate_cpu_best({"step": step}, rounds, 4)["step"]
        out[str(batch)] = {
            "windows_per_s": batch / seconds,
            "ratio_to_matmul_peak": step_flops("efficient", batch) / seconds / 1e9 / peak_gflops,
        }
    return out


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def threads_beside_a_busy_process() -> dict:
    """Wall seconds of a bf16 ``compact`` step on one and on every CPU's thread while other
    processes keep all CPUs but one busy."""
    cpus = os.cpu_count() or 1
    step = training_step("compact", "bf16", BATCH)
    stop = multiprocessing.Event()
    busy = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(max(cpus - 1, 1))]
    for p in busy:
        p.start()
    try:
        time.sleep(1.0)
        out = {
            "busy_processes": len(busy),
            "threads_1_s": with_threads(1, lambda: best_time(step, 3)),
            f"threads_{cpus}_s": with_threads(cpus, lambda: best_time(step, 3)),
        }
    finally:
        stop.set()
        for p in busy:
            p.join()
    out["ratio"] = out[f"threads_{cpus}_s"] / out["threads_1_s"]
    out["cpus"] = cpus
    return out


def compiled(rounds: int) -> dict:
    """The default preset's bf16 step compiled by ``torch.compile`` (inductor) against eager:
    wall seconds of the first (compiling) call, CPU ms per step after it."""
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        return {"skipped": "no C++ compiler"}
    eager = training_step("efficient", "bf16", BATCH)
    step = training_step("efficient", "bf16", BATCH)
    fast = torch.compile(step)
    start = time.perf_counter()
    fast()
    compile_s = time.perf_counter() - start
    best = alternate_cpu_best({"eager": eager, "compiled": fast}, rounds, 6)
    return {
        "compile_wall_s": compile_s,
        **{f"{n}_ms": 1000 * s for n, s in best.items()},
        "ratio": best["compiled"] / best["eager"],
    }


def measure(rounds: int, compile_step: bool) -> dict:
    """Every measurement above, on one intra-op thread (the busy-process one aside)."""
    torch.set_num_threads(1)
    out: dict = {"machine": machine_info(), "batch": BATCH, "layer": LAYER, "threads": 1}
    out["matmul_peak_gflops_cpu_time"] = {p: matmul_peak_cpu(p, 5) for p in ("bf16", "fp32")}
    out["conv_layer"] = conv_layer(rounds)
    out["max_pool"] = max_pool(rounds)
    out["conv2d_layer"] = conv2d_layer(rounds)
    out["steps"] = steps(rounds)
    out["batch_sizes"] = batch_sizes(rounds, out["matmul_peak_gflops_cpu_time"]["bf16"])
    out["threads_beside_a_busy_process"] = threads_beside_a_busy_process()
    torch.set_num_threads(1)
    if compile_step:
        out["compile"] = compiled(rounds)
    out["machine"]["load_avg_end"] = load_avg()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args(argv)
    result = measure(args.rounds, not args.no_compile)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

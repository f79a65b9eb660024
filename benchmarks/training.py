"""Training throughput of every preset and precision as a ratio to the same precision's matmul
peak, and the trainer's epoch time at three training-set sizes."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.common import PRESET_ORDER, SHAPES, best_time, build, load_avg, with_threads
from benchmarks.machine import precisions


def step_flops(preset: str, batch: int) -> int:
    """FLOPs of one training step's forward + backward (``torch.utils.flop_counter``)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build(preset).train()
    xs = [torch.randn(batch, *s) for s in SHAPES.values()]
    y = torch.randint(0, 3, (batch,))
    with FlopCounterMode(display=False) as counter:
        model.compute_loss(xs, y, torch.nn.CrossEntropyLoss()).backward()
    return int(counter.get_total_flops())


def training_step(preset: str, precision: str, batch: int):
    """A callable doing one training step of one ``preset`` network on random windows:
    forward under the precision's autocast, loss, backward, AdamW."""
    from xmodal.training.precision import autocast_context

    model = build(preset).train()
    xs = [torch.randn(batch, *s) for s in SHAPES.values()]
    y = torch.randint(0, 3, (batch,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ce = torch.nn.CrossEntropyLoss()

    def step() -> None:
        with autocast_context(precision, "cpu"):
            loss = model.compute_loss(xs, y, lambda logits, t: ce(logits.float(), t))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def step_seconds(
    preset: str, precision: str, batch: int, steps: int, threads: int, fast: bool
) -> float:
    """Seconds per full training step (:func:`training_step`; best of ``steps``) at
    ``threads``, with the fast CPU conv path on or off."""
    from xmodal.models import fastconv

    step = training_step(preset, precision, batch)
    before = fastconv.ENABLED
    fastconv.ENABLED = fast
    try:
        return with_threads(threads, lambda: best_time(step, steps))
    finally:
        fastconv.ENABLED = before


def stacked_step_seconds(
    preset: str, precision: str, batch: int, steps: int, threads: int, k: int
) -> float:
    """Seconds per training step of ``k`` ensemble members stacked into one grouped network
    (:mod:`xmodal.models.stacked`: one forward under the precision's autocast and one backward
    for all, each member on its own batch, AdamW), best of ``steps``, at ``threads``."""
    from xmodal.models.stacked import StackedCrossModalNet, stack_inputs
    from xmodal.training.precision import autocast_context

    members = [build(preset) for _ in range(k)]
    model = StackedCrossModalNet(members, [torch.Generator().manual_seed(j) for j in range(k)])
    model.train()
    xs = stack_inputs([[torch.randn(batch, *s) for s in SHAPES.values()] for _ in range(k)])
    y = torch.randint(0, 3, (batch, k))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ce = torch.nn.CrossEntropyLoss()

    def step() -> None:
        with autocast_context(precision, "cpu"):
            logits = model(*xs)
            loss = sum(ce(logits[:, j].float(), y[:, j]) for j in range(k))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return with_threads(threads, lambda: best_time(step, steps))


def measure_stacked(peaks: dict, training: dict, quick: bool, k: int = 3) -> dict:
    """``<preset>.<precision>``: the default ensemble's ``k`` members trained as one stacked
    network, per thread count: seconds per step, ``ratio_to_matmul_peak`` counting all ``k``
    members' FLOPs, and ``speedup`` over ``k`` steps of one network (the best conv path of
    ``training`` at that thread count, same run); ``quick``: the default preset only."""
    batch = 64
    steps = 2 if quick else 3
    thread_counts = [1] if quick else sorted({1, torch.get_num_threads()})
    out: dict = {"members": k, "batch_per_member": batch}
    for preset in PRESET_ORDER[:1] if quick else PRESET_ORDER:
        flops = training[preset]["flops_per_step"] * k
        rec: dict = {}
        for precision in precisions():
            runs = {}
            for threads in thread_counts:
                s = stacked_step_seconds(preset, precision, batch, steps, threads, k)
                single = min(
                    r["s_per_step"]
                    for name, r in training[preset][precision]["runs"].items()
                    if name.startswith(f"threads_{threads}_")
                )
                peak = peaks[precision][f"threads_{threads}"]["matmul_gflops"]
                runs[f"threads_{threads}"] = {
                    "s_per_step": s,
                    "windows_per_s": k * batch / s,
                    "gflops": flops / s / 1e9,
                    "ratio_to_matmul_peak": flops / s / 1e9 / peak,
                    "speedup_over_one_after_another": k * single / s,
                    "load_avg": load_avg(),
                }
            rec[precision] = runs
        out[preset] = rec
    out["note"] = (
        f"{k} members stacked (grouped layers), each on its own batch of {batch}; FLOPs: "
        f"{k} x one network's forward + backward; ratio to the matmul peak of the same "
        "precision and thread count in this run"
    )
    return out


def measure_training(peaks: dict, quick: bool) -> dict:
    """``<preset>.<precision>``: windows/s, GFLOP/s and ``ratio_to_matmul_peak`` (to the matmul
    peak of the same precision at the same thread count) of the best run, and every run
    (threads x conv path; ``--quick``: one thread, the default path, a few steps) under
    ``runs``."""
    from xmodal.models.complexity import count_parameters

    batch = 64
    steps = 2 if quick else 3
    thread_counts = [1] if quick else sorted({1, torch.get_num_threads()})
    paths = (True,) if quick else (True, False)
    out: dict = {}
    for preset in PRESET_ORDER:
        flops = step_flops(preset, batch)
        rec: dict = {
            "batch": batch,
            "flops_per_step": flops,
            "gflop_per_window_train": flops / batch / 1e9,
            "n_parameters": count_parameters(build(preset)),
        }
        for precision in precisions():
            runs = {}
            for threads in thread_counts:
                for fast in paths:
                    s = step_seconds(preset, precision, batch, steps, threads, fast)
                    gflops = flops / s / 1e9
                    peak = peaks[precision][f"threads_{threads}"]["matmul_gflops"]
                    runs[f"threads_{threads}_{'fast' if fast else 'native'}_conv"] = {
                        "s_per_step": s,
                        "windows_per_s": batch / s,
                        "gflops": gflops,
                        "ratio_to_matmul_peak": gflops / peak,
                        "load_avg": load_avg(),
                    }
            best_key = max(runs, key=lambda k: runs[k]["windows_per_s"])
            best = runs[best_key]
            rec[precision] = {
                "best": best_key,
                "windows_per_s": best["windows_per_s"],
                "gflops": best["gflops"],
                "ratio_to_matmul_peak": best["ratio_to_matmul_peak"],
                "runs": runs,
            }
        out[preset] = rec
    out["precisions"] = list(precisions())
    out["note"] = (
        "FLOPs of forward + backward from torch.utils.flop_counter (the same for every "
        "precision); ratio to the matmul peak of the same precision measured at the "
        f"same thread count in this run; batch {batch}, best of {steps} steps"
        + ("" if "bf16" in precisions() else "; fp32 only: this CPU has no bfloat16 instructions")
    )
    return out


def measure_epoch_scaling(quick: bool) -> list[dict]:
    """Epoch time of the trainer itself (default model and training config, so the default
    precision) at three training-set sizes."""
    from xmodal.config import TrainConfig
    from xmodal.signals.windows import WindowSet
    from xmodal.training.trainer import train_model

    sizes = (32, 64, 128) if quick else (500, 1000, 2000)
    out = []
    rng = np.random.default_rng(0)
    for n in sizes:
        inputs = {m: rng.standard_normal((n, *s), dtype=np.float32) for m, s in SHAPES.items()}
        ws = WindowSet(
            inputs,
            np.array(["S2"] * n),
            rng.integers(0, 3, n),
            np.arange(n) * 5.0,
            {"chest.ECG": 256.0, "chest.EDA": 16.0},
            ("baseline", "stress", "amusement"),
        )
        res = train_model(build(), ws, None, TrainConfig(epochs=1), 3)
        out.append(
            {
                "windows": n,
                "epoch_s": res.train_s,
                "windows_per_s": res.windows_per_s,
                "threads": res.threads,
                "precision": res.precision,
                "load_avg": load_avg(),
            }
        )
    return out

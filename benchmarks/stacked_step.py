"""Training step of the default ensemble: three networks one after another against the three
stacked into one grouped network, in CPU time, alternated in one process.

    python -m benchmarks.stacked_step --out OUT.json [--presets efficient paper] [--rounds 3]

On a shared machine wall times follow the other processes; the CPU time this process spends
(``time.process_time``, one intra-op thread) follows them much less, so both variants and the
bf16/fp32 matmul peaks are measured that way, alternated ``rounds`` times, best of each
(``benchmarks.training`` measures the same steps in wall time). One step: forward under the
precision's autocast with modality-dropout masks, class-weighted losses, backward, AdamW, batch
64 per member on 10-s ECG (256 Hz) + EDA (16 Hz) windows. ``ratio_to_matmul_peak`` counts the
FLOPs of all three members.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks.common import SHAPES, alternate_cpu_best, build, load_avg, matmul_peak_cpu
from benchmarks.machine import machine_info, precisions
from benchmarks.training import step_flops


def _steps(preset: str, precision: str, k: int, batch: int):
    """``(one_after_another, stacked)``: callables doing one training step of ``k`` members."""
    from xmodal.models.stacked import StackedCrossModalNet, stack_inputs
    from xmodal.training.precision import autocast_context

    members = [build(preset) for _ in range(k)]
    ce = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 1.5, 2.0]))
    batches = [[torch.randn(batch, *s) for s in SHAPES.values()] for _ in range(k)]
    ys = torch.randint(0, 3, (batch, k))
    keeps = (torch.rand(batch, k, len(SHAPES)) > 0.1).float()
    optims = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in members]
    stacked = StackedCrossModalNet(members, [torch.Generator() for _ in members]).train()
    stacked_opt = torch.optim.AdamW(stacked.parameters(), lr=1e-3)
    xs = stack_inputs(batches)

    def one_after_another() -> None:
        for j, (model, opt) in enumerate(zip(members, optims)):
            model.train()
            with autocast_context(precision, "cpu"):
                logits = model.head_logits(*batches[j], keep=keeps[:, j])[0]
                loss = ce(logits.float(), ys[:, j])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def together() -> None:
        with autocast_context(precision, "cpu"):
            logits = stacked(*xs, keep=keeps)
            loss = sum(ce(logits[:, j].float(), ys[:, j]) for j in range(k))
        stacked_opt.zero_grad(set_to_none=True)
        loss.backward()
        stacked_opt.step()

    return one_after_another, together


def measure(presets: list[str], rounds: int, k: int = 3, batch: int = 64) -> dict:
    """Per preset and precision: CPU seconds per step of both variants, speedup, GFLOP/s and
    ratio to the same precision's matmul peak (all in CPU time, this run)."""
    torch.set_num_threads(1)
    out: dict = {"machine": machine_info(), "members": k, "batch_per_member": batch, "threads": 1}
    out["matmul_peak_gflops_cpu_time"] = {p: matmul_peak_cpu(p, 5) for p in precisions()}
    for preset in presets:
        flops = step_flops(preset, batch) * k
        out[preset] = {"flops_per_step_all_members": flops}
        for precision in precisions():
            seq, stk = _steps(preset, precision, k, batch)
            repeats = 3 if preset == "paper" else 8
            best = alternate_cpu_best({"one_after_another": seq, "stacked": stk}, rounds, repeats)
            peak = out["matmul_peak_gflops_cpu_time"][precision]
            out[preset][precision] = {
                **{f"{name}_cpu_s_per_step": s for name, s in best.items()},
                "speedup": best["one_after_another"] / best["stacked"],
                **{
                    f"{name}_ratio_to_matmul_peak": flops / s / 1e9 / peak
                    for name, s in best.items()
                },
                "load_avg": load_avg(),
            }
    out["machine"]["load_avg_end"] = load_avg()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--presets", nargs="+", default=["efficient", "paper"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    result = measure(args.presets, args.rounds)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Performance benchmark: every number as a ratio to this machine's own limits, measured in one run.

    python -m benchmarks.run [--quick] --out bench.json        (from the repository root)

Measures, in order (cheap first, heavy last):

1. ``machine`` (:mod:`benchmarks.machine`): CPU, its bfloat16/AMX flags, cores, torch, load
   average at start and end (the machine may be shared: read every timing next to the load
   average).
2. ``peaks``: matmul (2048^2 GEMM) and conv1d (forward of the paper stream's widest layer)
   GFLOP/s per precision (fp32; bf16 where the CPU has bfloat16 instructions) at 1 thread and at
   torch's default thread count.
3. ``preprocess`` (:mod:`benchmarks.preprocess`): one WESAD-size synthetic subject (100 min, all
   chest channels at 700 Hz) loaded + preprocessed cold and cached in fresh subprocesses with
   their peak RSS; scaling with recording length and with subjects.
4. ``training.<preset>.<precision>`` (:mod:`benchmarks.training`): windows/s of full training
   steps (forward under the precision's autocast, backward, AdamW) at batch 64 on ECG (256 Hz)
   + EDA (16 Hz) 10-s windows, FLOPs per step from ``torch.utils.flop_counter``, GFLOP/s and
   ``ratio_to_matmul_peak`` (to the same precision's matmul peak at the same thread count), with
   the fast CPU conv path on and off; ``training_stacked``: the same for the default ensemble's
   three members stacked into one grouped network (ratio counting all members' FLOPs, speedup
   over three single-network steps); ``epoch_scaling``: the trainer's epoch time at three sizes.
5. ``inference`` (:mod:`benchmarks.inference`): latency per window at batch 1 and batch 256;
   ``person_blend`` (:mod:`benchmarks.person_blend`): ms per shrinkage-LDA fit, scikit-learn's
   against the closed form, ms per features-classifier fit, scikit-learn's pipeline against
   numpy, and one fold's trend decision of the person blend.
6. ``loso`` (:mod:`benchmarks.loso`): real LOSO runs of every preset on three WESAD-size
   subjects and the full 15-subject LOSO extrapolated from them (stated as such);
   ``loso.default_15`` (:mod:`benchmarks.loso15`): the real 15-subject LOSO of ``xmodal train``
   (default, members one after another, paper preset) on ``xmodal simulate --subjects 15
   --minutes 40 --seed 1``, not run with ``--quick``; with ``--full-loso`` also the real
   15-subject LOSO of the default configuration on 100-min subjects.
7. ``ray_scaling``: a small study through the Ray backend on a local instance of 1 and of 2 CPUs
   (skipped with a note when Ray is not installed).

Writes ``--out`` (JSON) and the same path with ``.md`` (a markdown table, :mod:`benchmarks.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import load_avg
from benchmarks.inference import measure_inference
from benchmarks.loso import measure_loso, measure_ray_scaling
from benchmarks.loso15 import VARIANTS
from benchmarks.machine import machine_info, measure_peaks
from benchmarks.person_blend import measure_person_blend
from benchmarks.preprocess import measure_preprocess
from benchmarks.report import markdown
from benchmarks.training import measure_epoch_scaling, measure_stacked, measure_training


def _write(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")


def main(argv: list[str] | None = None) -> dict:
    """Run every stage; write the JSON (stage by stage) and the markdown; return the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (checks that everything runs; timings not comparable, "
        "except training throughput: batch 64, a few steps, one thread)",
    )
    parser.add_argument("--out", default="bench.json", help="JSON output (markdown beside it)")
    parser.add_argument("--workdir", default="", help="scratch folder (default: a temp dir)")
    parser.add_argument(
        "--full-loso",
        action="store_true",
        help="also run the real 15-subject LOSO of the default configuration "
        "(4 GB of synthetic pickles in the scratch folder)",
    )
    parser.add_argument(
        "--loso15",
        nargs="+",
        metavar="VARIANT",
        choices=tuple(VARIANTS),
        help="the variants of the real 15-subject LOSO (loso.default_15) to run "
        f"(default: all of {', '.join(VARIANTS)}; the paper preset takes hours on 2 cores)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    result: dict = {"quick": bool(args.quick), "machine": machine_info()}
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir or None) as tmp:
        work = Path(tmp)
        os.environ.setdefault("XMODAL_CACHE", str(work / "cache"))
        stages = [
            ("peaks", lambda: measure_peaks(args.quick)),
            ("preprocess", lambda: measure_preprocess(work, args.quick)),
            ("training", lambda: measure_training(result["peaks"], args.quick)),
            (
                "training_stacked",
                lambda: measure_stacked(result["peaks"], result["training"], args.quick),
            ),
            ("epoch_scaling", lambda: measure_epoch_scaling(args.quick)),
            ("inference", lambda: measure_inference(args.quick)),
            ("person_blend", lambda: measure_person_blend(args.quick)),
            (
                "loso",
                lambda: measure_loso(
                    work, args.quick, result["preprocess"], args.full_loso, args.loso15 or ()
                ),
            ),
            ("ray_scaling", lambda: measure_ray_scaling(work, args.quick)),
        ]
        for name, fn in stages:
            t = time.perf_counter()
            print(f"[bench] {name} ... (load {load_avg()})", file=sys.stderr, flush=True)
            result[name] = fn()
            print(f"[bench] {name}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
            _write(out, result)  # partial results, stage by stage
    result["machine"]["load_avg_end"] = load_avg()
    _write(out, result)
    md = markdown(result)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    return result


if __name__ == "__main__":
    main()

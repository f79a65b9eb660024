"""``loso.default_15``: the default 15-subject LOSO, run for real through the command line.

    xmodal simulate DATA --subjects 15 --minutes 40 --seed 1
    xmodal train DATA --out RUN --model attentive [--preset paper]

(the attentive network on chest ECG + EDA, 3 classes, every other setting at its default; about
WESAD's labelled time per subject). Each run starts with a cold preprocessing cache, as a new
user's first run does, and is timed from outside; preprocessing and training come from the
run's ``results.json``.
The 1-minute load average is sampled every few seconds during each run (the machine may be
shared: read every wall time next to it).

``variants``: ``default`` and ``paper`` (``--preset paper``); ``default_one_after_another``
trains the ensemble members one after another (``training.stack_members = false``), the
comparison for the stacked members; ``default_late_fusion`` is the default configuration as
``xmodal train`` runs it (late fusion instead of the attentive network).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import MODEL, load_avg, rmtree

SUBJECTS, MINUTES, SEED = 15, 40.0, 1

#: variant name -> extra ``xmodal train`` arguments (``{config}``: a TOML written here)
VARIANTS = {
    "default": ["--model", MODEL],
    "default_one_after_another": ["--model", MODEL, "--config", "{config}"],
    "paper": ["--model", MODEL, "--preset", "paper"],
    "default_late_fusion": ["--model", "late-fusion"],
}
#: the variants held to the wall-time target of the default (the others are comparisons)
TARGETED = ("default", "default_late_fusion")
SEQUENTIAL_TOML = "[training]\nstack_members = false\n"


class _LoadSampler:
    """The 1-minute load average every ``period`` seconds while running (a thread)."""

    def __init__(self, period: float = 5.0) -> None:
        self.period = period
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(round(os.getloadavg()[0], 2))
            self._stop.wait(self.period)

    def __enter__(self) -> _LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        s = self.samples or [0.0]
        return {"mean": round(sum(s) / len(s), 2), "max": max(s), "samples": len(s)}


def _xmodal(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "xmodal", *args], check=True, env=env)


def _one(work: Path, data: Path, name: str, extra: list[str]) -> dict:
    run = work / f"loso15-{name}"
    cache = work / f"loso15-cache-{name}"
    rmtree(run)
    rmtree(cache)
    config = work / "loso15-sequential.toml"
    config.write_text(SEQUENTIAL_TOML, encoding="utf-8")
    env = dict(os.environ, XMODAL_CACHE=str(cache))
    args = ["train", str(data), "--out", str(run), "--quiet"]
    args += [a.replace("{config}", str(config)) for a in extra]
    start_load = load_avg()
    with _LoadSampler() as sampler:
        t = time.perf_counter()
        _xmodal(*args, env=env)
        wall = time.perf_counter() - t
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    folds = results["folds"]
    fold_files = [json.loads(f.read_text(encoding="utf-8")) for f in run.rglob("fold.json")]
    members = sorted({f.get("members", "") for f in fold_files} - {""})
    out = {
        "command": "xmodal " + " ".join(a if a != str(data) else "DATA" for a in args),
        "wall_s": round(wall, 1),
        "preprocess_s": round(results["timing"]["preprocess_s"], 1),
        "train_s_sum_over_folds": round(results["timing"]["train_s"], 1),
        "rest_s": round(wall - results["timing"]["preprocess_s"], 1),
        "epochs_run": [f["epochs_run"] for f in folds],
        "members": members,
        "macro_f1": results["mean"]["macro_f1"],
        "accuracy": results["mean"]["accuracy"],
        "load_avg_start": start_load,
        "load_avg_1min_during": sampler.summary(),
        "load_avg_end": load_avg(),
    }
    rmtree(cache)
    return out


def measure_loso_default_15(
    work: Path, quick: bool, variants: tuple[str, ...] = (), on_variant=None
) -> dict:
    """The real 15-subject LOSO of each variant (see module docstring); ``quick``: not run
    (the quick mode's 15-subject figure under ``loso.extrapolated_15_subjects`` is an
    extrapolation, labelled as one)."""
    if quick:
        return {
            "skipped": True,
            "note": "quick mode: not run; loso.extrapolated_15_subjects is EXTRAPOLATED",
        }
    data = work / "loso15-data"
    env = dict(os.environ)
    t = time.perf_counter()
    _xmodal(
        "simulate",
        str(data),
        "--subjects",
        str(SUBJECTS),
        "--minutes",
        str(MINUTES),
        "--seed",
        str(SEED),
        env=env,
    )
    out: dict = {
        "stated": (
            "MEASURED: `xmodal train` on `xmodal simulate --subjects 15 --minutes 40 --seed 1` "
            "(chest ECG + EDA, 3-class, defaults), cold preprocessing cache, timed from outside"
        ),
        "simulate_s": round(time.perf_counter() - t, 1),
        "subjects": SUBJECTS,
        "minutes": MINUTES,
        "seed": SEED,
    }
    for name in variants or tuple(VARIANTS):
        out[name] = _one(work, data, name, VARIANTS[name])
        if on_variant is not None:
            on_variant(out)
    rmtree(data)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.loso15 --out OUT.json [VARIANT ...]``: only this stage."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("variants", nargs="*", help=f"of {', '.join(VARIANTS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; valid: {', '.join(VARIANTS)}")

    def write(result: dict) -> None:
        Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")

    from benchmarks.machine import machine_info

    machine = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure_loso_default_15(
            Path(tmp), False, tuple(args.variants), lambda r: write({**r, "machine": machine})
        )
    result["machine"] = {**machine, "load_avg_end": load_avg()}
    write(result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Performance benchmark: every number as a ratio to this machine's own limits, measured in one run.

    python -m benchmarks.run [--quick] --out bench.json        (from the repository root)

Measures, in order (cheap first, heavy last):

1. ``machine``: CPU, cores, torch, load average at start and end (the machine may be shared:
   read every timing next to the load average).
2. ``peaks``: fp32 matmul (2048^2 GEMM) and conv1d (forward of the paper stream's widest
   layer) GFLOP/s at 1 thread and at torch's default thread count.
3. ``preprocess``: one WESAD-size synthetic subject (100 min, all chest channels at 700 Hz,
   float64 Python-2 pickle from ``xmodal.data.synthetic.simulate_wesad``): load + preprocess of
   chest ECG + EDA cold (no cache entry) and cached, each in a fresh subprocess whose peak RSS
   is read with ``resource.getrusage``; scaling with recording length and with subjects.
4. ``training.<preset>`` for every preset (``efficient`` is the default): windows/s of full training
   steps (forward, backward, AdamW) at batch 64 on ECG (256 Hz) + EDA (16 Hz) 10-s windows,
   FLOPs per step from ``torch.utils.flop_counter``, achieved GFLOP/s and
   ``ratio_to_matmul_peak`` (to the matmul peak at the same thread count), with the fast conv
   path on and off; scaling of epoch time with the number of windows.
5. ``inference``: latency per window at batch 1 and batch 256.
6. ``loso``: real LOSO runs of every preset on a measured subset of WESAD-size subjects, and the
   full 15-subject LOSO extrapolated from them (stated as such in the JSON); with
   ``--full-loso`` also the real 15-subject LOSO of the default configuration (about 15 minutes
   on 2 cores).

Writes ``--out`` (JSON) and the same path with ``.md`` (a markdown table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"chest.ECG": (1, 2560), "chest.EDA": (1, 160)}      # 10-s windows, 256 Hz / 16 Hz
MODALITIES = ("chest.ECG", "chest.EDA")
N_SUBJECTS_FULL = 15
PRESET_ORDER = ("efficient", "compact", "paper", "fast")     # efficient is the default


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _with_threads(n: int, fn):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------------- machine
def machine_info() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_avg_start": _load()}


# ------------------------------------------------------------------------------------- peaks
def measure_peaks(quick: bool) -> dict:
    n = 1024 if quick else 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    conv_x = torch.randn(16 if quick else 64, 32, 2560 + 31)
    conv_w = torch.randn(32, 32, 32)
    conv_flops = 2 * conv_x.shape[0] * 32 * 32 * 32 * 2560
    out = {"load_avg": _load()}
    for threads in sorted({1, torch.get_num_threads()}):
        mm = _with_threads(threads, lambda: _best(lambda: a @ b, 3 if quick else 8))
        cv = _with_threads(threads, lambda: _best(
            lambda: torch.nn.functional.conv1d(conv_x, conv_w), 2 if quick else 5))
        out[f"threads_{threads}"] = {"matmul_gflops": 2 * n ** 3 / mm / 1e9,
                                     "conv1d_gflops": conv_flops / cv / 1e9}
    default = out[f"threads_{torch.get_num_threads()}"]
    out["matmul_gflops"] = max(v["matmul_gflops"] for k, v in out.items() if k.startswith("threads_"))
    out["conv1d_gflops"] = max(v["conv1d_gflops"] for k, v in out.items() if k.startswith("threads_"))
    out["note"] = (f"matmul {n}x{n}x{n} fp32; conv1d forward 32->32 channels, kernel 32, "
                   f"2560 samples, batch {conv_x.shape[0]}; best over thread counts "
                   f"(default {torch.get_num_threads()} threads: "
                   f"{default['matmul_gflops']:.0f} GFLOP/s matmul)")
    return out


# -------------------------------------------------------------------------------- preprocess
_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from xmodal.config import DataConfig
from xmodal.signals.pipeline import prepare_subjects
t_import = time.perf_counter() - t0
cfg = DataConfig(path={path!r}, modalities={mods!r}, cache_dir={cache!r}, use_cache={use_cache!r},
                 subjects={subjects!r})
hits = []
t = time.perf_counter()
prep = prepare_subjects(cfg, on_subject=lambda s, hit: hits.append(hit))
elapsed = time.perf_counter() - t
n_cached = sum(x.nbytes for r in prep.values() for x in r.signals.values())
# Linux keeps ru_maxrss across fork + exec (the parent's high-water mark leaks into the child),
# so the peak is VmHWM of this process image where /proc is available
hwm = None
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
except OSError:
    pass
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": elapsed, "import_s": t_import, "cache_hits": hits,
                  "subjects": len(prep), "signal_mib": n_cached / 2**20,
                  "ru_maxrss_mib": maxrss, "vm_hwm_mib": hwm,
                  "peak_rss_mib": hwm if hwm is not None else maxrss}}))
"""


def _child_prepare(path: Path, cache: Path | None, subjects: tuple[str, ...] = ()) -> dict:
    code = _CHILD.format(root=str(ROOT / "src"), path=str(path), mods=MODALITIES,
                         cache=str(cache or ""), use_cache=cache is not None,
                         subjects=tuple(subjects))
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"preprocessing subprocess failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load_avg"] = _load()
    return out


def _simulate(out: Path, subjects: int, minutes: float) -> float:
    from xmodal.data.synthetic import simulate_wesad

    t = time.perf_counter()
    simulate_wesad(out, subjects=subjects, minutes=minutes, seed=0)
    return time.perf_counter() - t


def measure_preprocess(work: Path, quick: bool) -> dict:
    minutes = 6.0 if quick else 100.0
    data = work / "one"
    sim_s = _simulate(data, 1, minutes)
    pkl = next(data.glob("S*/S*.pkl"))
    cache = work / "cache-one"
    cold = _child_prepare(data, cache)          # computes and writes the cache entry
    cached = _child_prepare(data, cache)        # reads it
    out = {"subject_minutes": minutes, "pickle_mib": pkl.stat().st_size / 2 ** 20,
           "simulate_s": sim_s, "modalities": list(MODALITIES),
           "cold_s": cold["seconds"], "cached_s": cached["seconds"],
           "cold_peak_rss_mib": cold["peak_rss_mib"], "cached_peak_rss_mib": cached["peak_rss_mib"],
           "cold": cold, "cached": cached,
           "targets": {"cold_s": 5.0, "cached_s": 0.5, "peak_rss_mib": 1024.0}}
    out["targets_met"] = {"cold_s": cold["seconds"] <= 5.0, "cached_s": cached["seconds"] <= 0.5,
                          "peak_rss": max(cold["peak_rss_mib"], cached["peak_rss_mib"]) <= 1024}
    if minutes < 100:
        out["note"] = f"--quick: a {minutes:g}-min subject, not WESAD-size; targets not comparable"
    # scaling with recording length (one subject) and with subjects (same length each)
    lengths = (minutes,) if quick else (25.0, 50.0, 100.0)
    scaling = []
    for m in lengths:
        if m == minutes:
            rec = {"minutes": m, "subjects": 1, "cold_s": cold["seconds"],
                   "peak_rss_mib": cold["peak_rss_mib"], "load_avg": cold["load_avg"]}
        else:
            d = work / f"len{m:g}"
            _simulate(d, 1, m)
            r = _child_prepare(d, None)
            rec = {"minutes": m, "subjects": 1, "cold_s": r["seconds"],
                   "peak_rss_mib": r["peak_rss_mib"], "load_avg": r["load_avg"]}
            _rmtree(d)
        scaling.append(rec)
    sub_minutes = 5.0 if quick else 25.0
    counts = (1, 2) if quick else (1, 2, 4)
    d = work / "subjects"
    _simulate(d, counts[-1], sub_minutes)
    for k in counts:
        r = _child_prepare(d, None, tuple(f"S{i}" for i in range(2, 2 + k)))
        scaling.append({"minutes": sub_minutes, "subjects": k, "cold_s": r["seconds"],
                        "peak_rss_mib": r["peak_rss_mib"], "signal_mib": r["signal_mib"],
                        "load_avg": r["load_avg"]})
    _rmtree(d)
    out["scaling"] = scaling
    return out


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------- training
def _model(preset: str = ""):
    from xmodal.config import ModelConfig
    from xmodal.models.registry import build_model

    torch.manual_seed(0)
    # one network (the default trains a seed ensemble of such networks, one after another)
    config = ModelConfig(preset=preset, ensemble=1) if preset else ModelConfig(ensemble=1)
    return build_model(config, SHAPES, 3)


def _step_flops(preset: str, batch: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model = _model(preset).train()
    xs = [torch.randn(batch, *s) for s in SHAPES.values()]
    y = torch.randint(0, 3, (batch,))
    with FlopCounterMode(display=False) as counter:
        model.compute_loss(xs, y, torch.nn.CrossEntropyLoss()).backward()
    return int(counter.get_total_flops())


def _train_rate(preset: str, batch: int, steps: int, threads: int, fast: bool) -> float:
    """Seconds per training step (best of ``steps``) at ``threads``, fast conv path on/off."""
    from xmodal.models import fastconv

    model = _model(preset).train()
    xs = [torch.randn(batch, *s) for s in SHAPES.values()]
    y = torch.randint(0, 3, (batch,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    crit = torch.nn.CrossEntropyLoss()

    def step() -> None:
        loss = model.compute_loss(xs, y, crit)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    before = fastconv.ENABLED
    fastconv.ENABLED = fast
    try:
        return _with_threads(threads, lambda: _best(step, steps))
    finally:
        fastconv.ENABLED = before


def measure_training(peaks: dict, quick: bool) -> dict:
    from xmodal.models.complexity import count_parameters

    batch = 4 if quick else 64
    steps = 1 if quick else 3
    out = {}
    thread_counts = [1] if quick else sorted({1, torch.get_num_threads()})
    for preset in PRESET_ORDER:
        flops = _step_flops(preset, batch)
        runs = {}
        for threads in thread_counts:
            for fast in ((True,) if quick else (True, False)):
                s = _train_rate(preset, batch, steps, threads, fast)
                gflops = flops / s / 1e9
                runs[f"threads_{threads}_{'fast' if fast else 'native'}_conv"] = {
                    "s_per_step": s, "windows_per_s": batch / s, "gflops": gflops,
                    "ratio_to_matmul_peak": gflops / peaks[f"threads_{threads}"]["matmul_gflops"],
                    "load_avg": _load()}
        best_key = max((k for k in runs if k.endswith("fast_conv")),
                       key=lambda k: runs[k]["windows_per_s"])
        best = runs[best_key]
        out[preset] = {"batch": batch, "flops_per_step": flops,
                       "gflop_per_window_train": flops / batch / 1e9,
                       "n_parameters": count_parameters(_model(preset)),
                       "best": best_key, "windows_per_s": best["windows_per_s"],
                       "gflops": best["gflops"], "ratio_to_matmul_peak": best["ratio_to_matmul_peak"],
                       "runs": runs}
    out["note"] = ("FLOPs of forward + backward from torch.utils.flop_counter; ratio to the fp32 "
                   "matmul peak measured at the same thread count in this run")
    return out


def measure_epoch_scaling(quick: bool) -> list[dict]:
    """Epoch time of the trainer itself (default model and training config) at three
    training-set sizes."""
    from xmodal.config import TrainConfig
    from xmodal.signals.windows import WindowSet
    from xmodal.training.trainer import train_model

    sizes = (32, 64, 128) if quick else (500, 1000, 2000)
    out = []
    rng = np.random.default_rng(0)
    for n in sizes:
        inputs = {m: rng.standard_normal((n, *s), dtype=np.float32) for m, s in SHAPES.items()}
        ws = WindowSet(inputs, np.array(["S2"] * n), rng.integers(0, 3, n), np.arange(n) * 5.0,
                       {"chest.ECG": 256.0, "chest.EDA": 16.0}, ("baseline", "stress", "amusement"))
        model = _model()
        res = train_model(model, ws, None, TrainConfig(epochs=1), 3)
        out.append({"windows": n, "epoch_s": res.train_s, "windows_per_s": res.windows_per_s,
                    "threads": res.threads, "load_avg": _load()})
    return out


# --------------------------------------------------------------------------------- inference
def measure_inference(quick: bool) -> dict:
    """Latency of one window (batch 1, 1 thread) of the eager model and of the frozen copy that
    ``Predictor`` runs on CPU, and the batched time per window (eager)."""
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
        model = _model(preset).eval()
        frozen = freeze_for_cpu(model)
        one = [torch.randn(1, *s) for s in SHAPES.values()]
        big = [torch.randn(8 if quick else 256, *s) for s in SHAPES.values()]
        with torch.inference_mode():
            eager = _with_threads(1, lambda: p50_p99(lambda: model(*one)))
            fast = _with_threads(1, lambda: p50_p99(lambda: frozen(*one)))
            tb = _with_threads(1, lambda: _best(lambda: model(*big), 1 if quick else 3))
        out[preset] = {"batch1_p50_ms": eager[0], "batch1_p99_ms": eager[1],
                       "frozen_batch1_p50_ms": fast[0], "frozen_batch1_p99_ms": fast[1],
                       "batched_ms_per_window": tb / len(big[0]) * 1e3,
                       "batched_size": len(big[0]), "threads": 1, "load_avg": _load()}
    return out


# -------------------------------------------------------------------------------------- LOSO
def _timed_run(config, out: Path) -> tuple[dict, float, int]:
    """``run_experiment`` with the fold workers ``xmodal train`` uses without ``--jobs``:
    ``(results, wall seconds, jobs)``."""
    from xmodal.training.experiment import run_experiment
    from xmodal.training.progress import Progress
    from xmodal.training.threads import default_jobs

    jobs = default_jobs()
    t = time.perf_counter()
    results = run_experiment(config, out, Progress(quiet=True), jobs=jobs)
    return results, time.perf_counter() - t, jobs


def _loso_once(work: Path, data: Path, preset: str, n_sub: int, minutes: float, epochs: int,
               preprocess: dict) -> dict:
    from xmodal.config import RunConfig

    config = RunConfig()
    config.data.path = str(data)
    config.data.cache_dir = str(work / "cache-loso")
    config.model.preset = preset
    config.training.epochs = epochs
    config.training.min_epochs = min(config.training.min_epochs, epochs)
    config.training.val_subjects = 1
    results, wall, jobs = _timed_run(config, work / f"loso-run-{preset}")
    folds = results["folds"]
    train_s = results["timing"]["train_s"]     # summed over folds (run side by side in workers)
    # seconds per (training window x epoch) in one worker, validation included
    per_window_epoch = train_s / sum(f["n_train_windows"] * f["epochs_run"] for f in folds)
    windows_per_subject = results["windows"]["n_train"] / n_sub
    defaults = RunConfig().training
    train_windows_15 = windows_per_subject * (N_SUBJECTS_FULL - 1 - defaults.val_subjects)
    scale_minutes = 100.0 / minutes
    side_by_side = min(jobs, len(folds))
    side_by_side_15 = min(jobs, N_SUBJECTS_FULL)
    pre_15 = (preprocess["cold_s"] * N_SUBJECTS_FULL * (100.0 / preprocess["subject_minutes"])
              / side_by_side_15)
    # worker start-up, testing and writing, per fold
    fold_overhead = (max(wall - results["timing"]["preprocess_s"] - train_s / side_by_side, 0.0)
                     * side_by_side / len(folds))

    def extrapolate(ep: int) -> float:
        per_fold = ep * train_windows_15 * scale_minutes * per_window_epoch + fold_overhead
        return pre_15 + N_SUBJECTS_FULL * per_fold / side_by_side_15

    earliest = defaults.min_epochs + defaults.patience
    return {
        "measured": {"preset": preset, "subjects": n_sub, "minutes": minutes, "epochs": epochs,
                     "jobs": jobs, "wall_s": wall, "preprocess_s": results["timing"]["preprocess_s"],
                     "train_s": train_s, "epochs_run": sum(f["epochs_run"] for f in folds),
                     "mean_train_windows": float(np.mean([f["n_train_windows"] for f in folds])),
                     "mean_val_windows": float(np.mean([f["n_val_windows"] for f in folds])),
                     "s_per_window_epoch": per_window_epoch,
                     "macro_f1": results["mean"]["macro_f1"],
                     "accuracy": results["mean"]["accuracy"], "load_avg": _load()},
        "extrapolated_15_subjects": {
            "stated": ("EXTRAPOLATED, not measured: 15 WESAD-size (100-min) subjects, "
                       f"preset {preset}, default training ({defaults.epochs} max epochs, early "
                       f"stop at the earliest after min_epochs {defaults.min_epochs} + patience "
                       f"{defaults.patience}) with {jobs} fold worker(s) as `xmodal train`: "
                       "(15 x cold preprocessing of one subject + 15 folds x (epochs x "
                       "training windows x measured seconds per window-epoch in a worker, "
                       "validation included, + measured per-fold overhead)) / workers"),
            "jobs": jobs,
            "train_windows_per_fold": train_windows_15 * scale_minutes,
            "wall_s_max_epochs": extrapolate(defaults.epochs),
            "wall_s_earliest_stop": extrapolate(earliest),
            "target_s": 1200.0,
            "target_met_max_epochs": extrapolate(defaults.epochs) <= 1200.0,
            "target_met_earliest_stop": extrapolate(earliest) <= 1200.0,
        },
    }


def measure_loso(work: Path, quick: bool, preprocess: dict, full: bool) -> dict:
    """Real LOSO runs of every preset on a measured subset of WESAD-size subjects, the
    15-subject run extrapolated from them; with ``full`` the real 15-subject run of the default
    configuration as well."""
    from xmodal.config import DEFAULT_PRESET

    n_sub, minutes, epochs = (3, 5.0, 1) if quick else (3, 100.0, 2)
    data = work / "loso"
    _simulate(data, n_sub, minutes)
    presets = {p: _loso_once(work, data, p, n_sub, minutes, epochs, preprocess)
               for p in (PRESET_ORDER if not quick else (DEFAULT_PRESET,))}
    out = dict(presets[DEFAULT_PRESET])
    out["presets"] = presets
    if full:
        out["full_15_subjects"] = measure_full_loso(work, quick)
    return out


def measure_full_loso(work: Path, quick: bool) -> dict:
    """The default configuration's real LOSO on 15 WESAD-size synthetic subjects (measured,
    cold preprocessing included); ``quick``: 15 subjects of 5 minutes, 1 epoch."""
    from xmodal.config import RunConfig

    minutes = 5.0 if quick else 100.0
    data = work / "full"
    _simulate(data, N_SUBJECTS_FULL, minutes)
    config = RunConfig()
    config.data.path = str(data)
    config.data.cache_dir = str(work / "cache-full")
    if quick:
        config.training.epochs = config.training.min_epochs = 1
    results, wall, jobs = _timed_run(config, work / "full-run")
    folds = results["folds"]
    _rmtree(data)
    return {"stated": "MEASURED: default configuration, every fold, cold preprocessing included",
            "subjects": N_SUBJECTS_FULL, "minutes": minutes, "preset": config.model.preset,
            "jobs": jobs,
            "wall_s": wall, "preprocess_s": results["timing"]["preprocess_s"],
            "train_s": results["timing"]["train_s"],
            "epochs_run": [f["epochs_run"] for f in folds],
            "mean_train_windows": float(np.mean([f["n_train_windows"] for f in folds])),
            "macro_f1": results["mean"]["macro_f1"], "accuracy": results["mean"]["accuracy"],
            "target_s": 1200.0, "target_met": wall <= 1200.0, "load_avg": _load()}


# ---------------------------------------------------------------------------------- markdown
def markdown(r: dict) -> str:
    m, p, pre, tr = r["machine"], r["peaks"], r["preprocess"], r["training"]
    lines = [f"Machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, torch {m['torch']} "
             f"({m['torch_threads']} threads by default); load average at start "
             f"{m['load_avg_start']}, at end {m['load_avg_end']}{' (--quick)' if r['quick'] else ''}.",
             "", "| measurement | value | limit / target | ratio / met |", "|---|---|---|---|",
             f"| fp32 matmul peak | {p['matmul_gflops']:.1f} GFLOP/s | - | - |",
             f"| conv1d forward peak | {p['conv1d_gflops']:.1f} GFLOP/s | - | "
             f"{p['conv1d_gflops'] / p['matmul_gflops']:.2f} of matmul |",
             f"| load + preprocess one {pre['subject_minutes']:g}-min subject (ECG+EDA), cold | "
             f"{pre['cold_s']:.2f} s | <= 5 s | {pre['targets_met']['cold_s']} |",
             f"| same, cached | {pre['cached_s']:.3f} s | <= 0.5 s | {pre['targets_met']['cached_s']} |",
             f"| peak RSS (cold / cached) | {pre['cold_peak_rss_mib']:.0f} / "
             f"{pre['cached_peak_rss_mib']:.0f} MiB | <= 1024 MiB | {pre['targets_met']['peak_rss']} |"]
    for preset in PRESET_ORDER:
        t = tr[preset]
        lines.append(f"| training {preset} ({t['best']}, batch {t['batch']}) | "
                     f"{t['windows_per_s']:.0f} windows/s, {t['gflops']:.1f} GFLOP/s | "
                     f"{'>= 60 % of matmul peak' if preset == 'paper' else '-'} | "
                     f"{t['ratio_to_matmul_peak']:.2f} of matmul peak |")
        native = {k: v for k, v in t["runs"].items() if k.endswith("native_conv")}
        for k, v in native.items():
            lines.append(f"| training {preset} ({k}) | {v['windows_per_s']:.0f} windows/s, "
                         f"{v['gflops']:.1f} GFLOP/s | - | {v['ratio_to_matmul_peak']:.2f} |")
    for preset, v in r["inference"].items():
        lines.append(f"| inference {preset} | batch 1 p50 {v['batch1_p50_ms']:.2f} ms eager, "
                     f"{v['frozen_batch1_p50_ms']:.2f} ms frozen; batched "
                     f"{v['batched_ms_per_window']:.3f} ms/window | - | - |")
    lo = r["loso"]
    me, ex = lo["measured"], lo["extrapolated_15_subjects"]
    lines.append(f"| LOSO measured: {me['subjects']} subjects x {me['minutes']:g} min, "
                 f"{me['epochs']} epochs | {me['wall_s']:.1f} s wall (macro-F1 "
                 f"{me['macro_f1']:.2f}) | - | - |")
    lines.append(f"| LOSO 15 subjects x 100 min, default config, {ex['jobs']} fold workers "
                 f"(EXTRAPOLATED) | "
                 f"{ex['wall_s_earliest_stop'] / 60:.1f}-{ex['wall_s_max_epochs'] / 60:.1f} min "
                 f"(earliest stop - all epochs) | <= 20 min | {ex['target_met_max_epochs']} |")
    if "full_15_subjects" in lo:
        fu = lo["full_15_subjects"]
        lines.append(f"| LOSO 15 subjects x {fu['minutes']:g} min, default config, {fu['jobs']} "
                     f"fold workers (MEASURED) | "
                     f"{fu['wall_s'] / 60:.1f} min (macro-F1 {fu['macro_f1']:.2f}, epochs "
                     f"{min(fu['epochs_run'])}-{max(fu['epochs_run'])}) | <= 20 min | "
                     f"{fu['target_met']} |")
    for preset, v in lo.get("presets", {}).items():
        if preset == me["preset"]:
            continue
        pm, pe = v["measured"], v["extrapolated_15_subjects"]
        lines.append(f"| LOSO preset {preset}: measured {pm['wall_s']:.1f} s (macro-F1 "
                     f"{pm['macro_f1']:.2f}); 15 subjects EXTRAPOLATED | "
                     f"{pe['wall_s_earliest_stop'] / 60:.1f}-{pe['wall_s_max_epochs'] / 60:.1f} min | "
                     f"<= 20 min | {pe['target_met_max_epochs']} |")
    lines += ["", "Scaling (cold preprocessing, ECG+EDA):", "",
              "| subjects | minutes each | seconds | peak RSS MiB |", "|---|---|---|---|"]
    for s in pre["scaling"]:
        lines.append(f"| {s['subjects']} | {s['minutes']:g} | {s['cold_s']:.2f} | "
                     f"{s['peak_rss_mib']:.0f} |")
    lines += ["", "Scaling (training epoch, default model and trainer):", "",
              "| windows | epoch s | windows/s | threads |", "|---|---|---|---|"]
    for s in r["epoch_scaling"]:
        lines.append(f"| {s['windows']} | {s['epoch_s']:.2f} | {s['windows_per_s']:.0f} | "
                     f"{s['threads']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (checks that everything runs; timings not comparable)")
    parser.add_argument("--out", default="bench.json", help="JSON output (markdown beside it)")
    parser.add_argument("--workdir", default="", help="scratch folder (default: a temp dir)")
    parser.add_argument("--full-loso", action="store_true",
                        help="also run the real 15-subject LOSO of the default configuration "
                             "(about 15 min; 4 GB of synthetic pickles in the scratch folder)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    result: dict = {"quick": bool(args.quick), "machine": machine_info()}
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir or None) as tmp:
        work = Path(tmp)
        os.environ.setdefault("XMODAL_CACHE", str(work / "cache"))
        stages = [("peaks", lambda: measure_peaks(args.quick)),
                  ("preprocess", lambda: measure_preprocess(work, args.quick)),
                  ("training", lambda: measure_training(result["peaks"], args.quick)),
                  ("epoch_scaling", lambda: measure_epoch_scaling(args.quick)),
                  ("inference", lambda: measure_inference(args.quick)),
                  ("loso", lambda: measure_loso(work, args.quick, result["preprocess"],
                                                    args.full_loso))]
        for name, fn in stages:
            t = time.perf_counter()
            print(f"[bench] {name} ... (load {_load()})", file=sys.stderr, flush=True)
            result[name] = fn()
            print(f"[bench] {name}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)        # partial results, stage by stage
            out.write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")
    result["machine"]["load_avg_end"] = _load()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")
    md = markdown(result)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    return result


if __name__ == "__main__":
    main()

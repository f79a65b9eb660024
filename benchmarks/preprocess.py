"""Loading + preprocessing one WESAD-size subject cold and cached, in fresh subprocesses whose
peak RSS is read, and its scaling with recording length and with subjects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import MODALITIES, ROOT, load_avg, rmtree, simulate

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
    code = _CHILD.format(
        root=str(ROOT / "src"),
        path=str(path),
        mods=MODALITIES,
        cache=str(cache or ""),
        use_cache=cache is not None,
        subjects=tuple(subjects),
    )
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"preprocessing subprocess failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load_avg"] = load_avg()
    return out


def measure_preprocess(work: Path, quick: bool) -> dict:
    """Cold and cached load + preprocess of one subject (100 min; 6 with ``quick``) and the
    scaling with length and subjects."""
    minutes = 6.0 if quick else 100.0
    data = work / "one"
    sim_s = simulate(data, 1, minutes)
    pkl = next(data.glob("S*/S*.pkl"))
    cache = work / "cache-one"
    cold = _child_prepare(data, cache)  # computes and writes the cache entry
    cached = _child_prepare(data, cache)  # reads it
    out = {
        "subject_minutes": minutes,
        "pickle_mib": pkl.stat().st_size / 2**20,
        "simulate_s": sim_s,
        "modalities": list(MODALITIES),
        "cold_s": cold["seconds"],
        "cached_s": cached["seconds"],
        "cold_peak_rss_mib": cold["peak_rss_mib"],
        "cached_peak_rss_mib": cached["peak_rss_mib"],
        "cold": cold,
        "cached": cached,
        "targets": {"cold_s": 5.0, "cached_s": 0.5, "peak_rss_mib": 1024.0},
    }
    out["targets_met"] = {
        "cold_s": cold["seconds"] <= 5.0,
        "cached_s": cached["seconds"] <= 0.5,
        "peak_rss": max(cold["peak_rss_mib"], cached["peak_rss_mib"]) <= 1024,
    }
    if minutes < 100:
        out["note"] = f"--quick: a {minutes:g}-min subject, not WESAD-size; targets not comparable"
    # scaling with recording length (one subject) and with subjects (same length each)
    lengths = (minutes,) if quick else (25.0, 50.0, 100.0)
    scaling = []
    for m in lengths:
        if m == minutes:
            rec = {
                "minutes": m,
                "subjects": 1,
                "cold_s": cold["seconds"],
                "peak_rss_mib": cold["peak_rss_mib"],
                "load_avg": cold["load_avg"],
            }
        else:
            d = work / f"len{m:g}"
            simulate(d, 1, m)
            r = _child_prepare(d, None)
            rec = {
                "minutes": m,
                "subjects": 1,
                "cold_s": r["seconds"],
                "peak_rss_mib": r["peak_rss_mib"],
                "load_avg": r["load_avg"],
            }
            rmtree(d)
        scaling.append(rec)
    sub_minutes = 5.0 if quick else 25.0
    counts = (1, 2) if quick else (1, 2, 4)
    d = work / "subjects"
    simulate(d, counts[-1], sub_minutes)
    for k in counts:
        r = _child_prepare(d, None, tuple(f"S{i}" for i in range(2, 2 + k)))
        scaling.append(
            {
                "minutes": sub_minutes,
                "subjects": k,
                "cold_s": r["seconds"],
                "peak_rss_mib": r["peak_rss_mib"],
                "signal_mib": r["signal_mib"],
                "load_avg": r["load_avg"],
            }
        )
    rmtree(d)
    out["scaling"] = scaling
    return out

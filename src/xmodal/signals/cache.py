"""On-disk cache of cleaned, resampled recordings (before z-scoring), keyed by everything that
affects them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from xmodal.files import atomic_write_stream
from xmodal.signals.preprocess import PreprocessedRecording

#: bump when preprocessing changes so that old cache entries are not reused
CACHE_VERSION = 2


def default_cache_dir() -> Path:
    """``$XMODAL_CACHE``, else ``$XDG_CACHE_HOME/xmodal``, else ``~/.cache/xmodal``."""
    if os.environ.get("XMODAL_CACHE"):
        return Path(os.environ["XMODAL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "xmodal"


def cache_key(source: Path, params: dict) -> str:
    """Hash of the source file's identity (path, size, mtime) and the preprocessing parameters."""
    stat = Path(source).stat()
    ident = {
        "version": CACHE_VERSION,
        "source": str(Path(source).resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "params": params,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]


def entry_path(source: Path, params: dict, cache_dir: Path) -> Path:
    """Where the cache entry of (source, params) lives under ``cache_dir``."""
    return Path(cache_dir) / f"{Path(source).stem}-{cache_key(source, params)}.npz"


def save_preprocessed(path: Path, rec: PreprocessedRecording) -> None:
    """Write atomically as an uncompressed ``.npz`` (no pickles inside)."""
    arrays = {f"signal/{m}": x for m, x in rec.signals.items()}
    meta = {
        "subject": rec.subject,
        "rates": rec.rates,
        "label_rate": rec.label_rate,
        "source": rec.source,
        "modalities": list(rec.signals),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    if rec.labels is not None:
        arrays["labels"] = rec.labels
    atomic_write_stream(path, lambda fh: np.savez(fh, **arrays))


def load_preprocessed(path: Path) -> PreprocessedRecording:
    """Read a cache entry written by :func:`save_preprocessed`.

    Raises
    ------
    ValueError
        An entry that is not one (truncated, garbage, arrays of the wrong shape or type).
    """
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(npz["meta"].tobytes().decode())
        signals = {m: npz[f"signal/{m}"] for m in meta["modalities"]}
        labels = npz["labels"] if "labels" in npz.files else None
    for m, x in signals.items():
        if x.ndim != 2 or x.dtype.kind != "f" or m not in meta["rates"]:
            raise ValueError(f"{path}: signal {m} is not a 2-D float array with a rate")
    if labels is not None and labels.ndim != 1:
        raise ValueError(f"{path}: labels are not 1-D")
    return PreprocessedRecording(
        meta["subject"], signals, meta["rates"], labels, meta["label_rate"], meta["source"]
    )


def cached(
    source: Path, params: dict, cache_dir: Path | None, compute: Callable[[], PreprocessedRecording]
) -> tuple[PreprocessedRecording, bool]:
    """Return the cached entry for (source, params), computing and storing it on a miss.

    Returns
    -------
    recording, hit : PreprocessedRecording, bool
    """
    if cache_dir is None:
        return compute(), False
    path = entry_path(source, params, cache_dir)
    if path.exists():
        try:
            return load_preprocessed(path), True
        except Exception:  # any damage (truncated zip, garbage, wrong arrays): recomputed
            path.unlink(missing_ok=True)
    rec = compute()
    try:
        save_preprocessed(path, rec)
    except OSError:
        pass  # a read-only cache only costs speed
    return rec, False

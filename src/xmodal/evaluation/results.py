"""Result files, all written atomically (temporary file in the same folder, then rename)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

#: keys every results.json has (DESIGN.md section 3); more may be added
RESULTS_KEYS = ("model", "task", "protocol", "dataset", "modalities", "classes", "seed", "config",
                "folds", "mean", "std", "pooled", "timing")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None                      # strict JSON has no NaN
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def predictions_csv(subjects, t_start, y_true, y_pred, proba: np.ndarray,
                    classes: tuple[str, ...] | list[str]) -> str:
    """CSV text: subject, t_start, true, predicted, one probability column per class (class names)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["subject", "t_start", "true", "predicted"] + [f"p_{c}" for c in classes])
    for s, t, yt, yp, p in zip(subjects, t_start, y_true, y_pred, proba):
        writer.writerow([s, f"{t:.3f}", classes[yt], classes[yp]] + [f"{v:.6f}" for v in p])
    return buf.getvalue()

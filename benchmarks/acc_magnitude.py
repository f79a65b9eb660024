"""A copy of a WESAD-format folder whose wrist ACC holds the magnitude ``sqrt(x² + y² + z²)``
in each of its three columns, to measure ACC as one magnitude channel against three axes.

Each column is z-scored per subject on its own, so the three columns of a window are identical:
a stream's first convolution sums them, which is a one-channel stream of the magnitude (with
three times as many first-layer weights). Used by the wrist-sensor study
(``benchmarks/studies/wrist_sensors_accmag.toml``)::

    python -m benchmarks.acc_magnitude DATA OUT
    python -m benchmarks.reproduce wrist-sensors-accmag --data OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from xmodal.data.safe_pickle import load_pickle
from xmodal.data.synthetic.wesad_writer import dump_pickle
from xmodal.data.wesad import find_wesad_subjects
from xmodal.files import atomic_write_stream


def write_magnitude_copy(src: Path, out: Path) -> list[str]:
    """Write ``out/SX/SX.pkl`` for every subject of ``src`` with the wrist ACC's magnitude."""
    written = []
    for subject, path in find_wesad_subjects(Path(src)).items():
        data = load_pickle(path)
        acc = np.asarray(data["signal"]["wrist"]["ACC"], dtype=np.float64)
        mag = np.sqrt((acc**2).sum(axis=1, keepdims=True))
        data["signal"]["wrist"]["ACC"] = np.repeat(mag, 3, axis=1)
        folder = Path(out) / subject
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_stream(folder / f"{subject}.pkl", lambda f, d=data: dump_pickle(d, f))
        written.append(subject)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.acc_magnitude DATA OUT")
    print("wrote", ", ".join(write_magnitude_copy(Path(sys.argv[1]), Path(sys.argv[2]))))

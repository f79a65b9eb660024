"""Write the small example dataset of README "Your own recordings" (synthetic, 3 subjects).

Usage: ``python examples/own_recordings/make_example.py [OUT_DIR]`` (default: this folder).
Each subject's wrist BVP (64 Hz) and EDA (4 Hz) from :func:`xmodal.data.synthetic.simulate_subject`
are brought to one 16 Hz row rate (BVP decimated, EDA interpolated) and written as
``SX.csv`` with columns ``bvp,eda,condition`` (condition: WESAD codes 0 transient, 1 baseline,
2 stress, 3 amusement, 4 meditation). ``dataset.toml`` beside them describes the files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from xmodal.data.synthetic import simulate_subject

RATE = 16            # rows per second
MINUTES = 5.0        # the shortest recording the synthetic protocol fits in
SUBJECTS = ("S2", "S3", "S4")


def write_subject(out: Path, subject: str, seed: int) -> Path:
    data = simulate_subject(subject, MINUTES, np.random.default_rng(seed))
    wrist = data["signal"]["wrist"]
    bvp = resample_poly(wrist["BVP"][:, 0], 1, 64 // RATE)
    eda4 = wrist["EDA"][:, 0]
    n = min(len(bvp), len(eda4) * RATE // 4)
    eda = np.interp(np.arange(n) / RATE, np.arange(len(eda4)) / 4.0, eda4)
    label = data["label"][(np.arange(n) * 700 // RATE)]
    path = out / f"{subject}.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("bvp,eda,condition\n")
        for b, e, c in zip(bvp[:n], eda, label):
            fh.write(f"{b:.4g},{e:.4g},{int(c)}\n")
    return path


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    for k, subject in enumerate(SUBJECTS):
        print("wrote", write_subject(out, subject, seed=100 + k))


if __name__ == "__main__":
    main(sys.argv[1:])

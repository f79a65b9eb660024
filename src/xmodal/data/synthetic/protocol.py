"""The schedule of a simulated recording: which condition (label) runs when.

Protocol (label codes 0 transient, 1 baseline, 2 stress, 3 amusement, 4 meditation)::

    transient, baseline, transient, A, transient, meditation, transient, B, transient,
    meditation, transient

with (A, B) = (amusement, stress) or (stress, amusement), drawn per subject (WESAD's two
protocol versions). Durations follow WESAD's proportions (baseline 20 min, amusement 6.5,
stress 10, meditation 7 + 7, transients 1-1.5) scaled to the recording length; every segment
boundary is a multiple of 10 s from the recording start and every class gets at least 60 s.

Two further schedules drive the physiology instead of, or besides, the protocol:

* coupled mode (:func:`coupled_levels`): per 30-s chunk an ECG level and an EDA level whose
  difference, not either level alone, gives the class;
* uninformative modalities (:func:`decoy_protocol`): a label-free sequence of states with
  random lengths and phase, drawn independently of the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xmodal.errors import ConfigError

__all__ = [
    "CHEST_RATE",
    "MODALITIES",
    "WRIST_RATES",
    "Segment",
    "SimulationError",
    "check_uninformative",
    "coupled_levels",
    "decoy_protocol",
    "label_array",
    "protocol_segments",
    "subject_ids",
]

CHEST_RATE = 700  # chest signals and labels (Hz)
WRIST_RATES = {"ACC": 32.0, "BVP": 64.0, "EDA": 4.0, "TEMP": 4.0}  # wrist signals (Hz)
LATENT_RATE = 20.0  # rate of the latent physiological state (Hz)
MARGIN_S = 5.0  # the latent state extends this far before 0 and after the end (s)
GRID_S = 10  # every segment boundary is a multiple of this (seconds)
MIN_CLASS_S = 60  # every class gets at least this much time
CHUNK_S = 30  # coupled mode: length of one (ECG level, EDA level) chunk
DECOY_S = (20.0, 120.0)  # uninformative modalities: range of one decoy state's length (s)

TRANSIENT, BASELINE, STRESS, AMUSEMENT, MEDITATION = 0, 1, 2, 3, 4
CLASSES = (BASELINE, STRESS, AMUSEMENT, MEDITATION)
#: coupled mode: class code -> offset c in  e = (h + c) mod 4
COUPLED_OFFSET = {BASELINE: 0, STRESS: 1, AMUSEMENT: 2, MEDITATION: 3}
#: modality names the simulator writes (valid for ``uninformative``)
MODALITIES = (
    "chest.ACC",
    "chest.ECG",
    "chest.EMG",
    "chest.EDA",
    "chest.Temp",
    "chest.Resp",
    "wrist.ACC",
    "wrist.BVP",
    "wrist.EDA",
    "wrist.TEMP",
)


class SimulationError(ConfigError, ValueError):
    """Impossible simulation arguments (e.g. too few minutes for the protocol)."""


@dataclass(frozen=True)
class Segment:
    """One stretch of the schedule: a label from ``start_s`` to ``end_s`` seconds."""

    label: int
    name: str  # quest-file name ("Base", "TSST", "Fun", "Medi 1", "Medi 2"; "" = transient)
    start_s: float
    end_s: float


def subject_ids(k: int) -> list[str]:
    """The first ``k`` WESAD-style subject ids: S2..S11, S13, S14, ... (no S1, no S12)."""
    ids, i = [], 2
    while len(ids) < k:
        if i != 12:
            ids.append(f"S{i}")
        i += 1
    return ids


def protocol_segments(n_samples: int, stress_first: bool) -> list[Segment]:
    """Segments covering ``n_samples`` at 700 Hz, boundaries on the 10-s grid.

    Raises
    ------
    SimulationError
        If the recording is too short for every class to get its minimum time.
    """
    total_s = n_samples / CHEST_RATE
    units = int(n_samples // (GRID_S * CHEST_RATE))
    a = (STRESS, "TSST", 10.0) if stress_first else (AMUSEMENT, "Fun", 6.5)
    b = (AMUSEMENT, "Fun", 6.5) if stress_first else (STRESS, "TSST", 10.0)
    cls_min = MIN_CLASS_S // GRID_S
    # (label, name, weight in minutes, minimum units, relaxed minimum units)
    layout = [
        (TRANSIENT, "", 1.0, 1, 0),
        (BASELINE, "Base", 20.0, cls_min, cls_min),
        (TRANSIENT, "", 1.5, 1, 1),
        (a[0], a[1], a[2], cls_min, cls_min),
        (TRANSIENT, "", 1.5, 1, 1),
        (MEDITATION, "Medi 1", 7.0, cls_min, cls_min // 2),
        (TRANSIENT, "", 1.5, 1, 1),
        (b[0], b[1], b[2], cls_min, cls_min),
        (TRANSIENT, "", 1.5, 1, 1),
        (MEDITATION, "Medi 2", 7.0, cls_min, cls_min - cls_min // 2),
        (TRANSIENT, "", 1.0, 1, 0),
    ]
    weights = np.array([x[2] for x in layout])
    mins = np.array([x[3] for x in layout])
    if units < mins.sum():
        mins = np.array([x[4] for x in layout])
    if units < mins.sum():
        need = int(mins.sum()) * GRID_S
        raise SimulationError(
            f"minutes={total_s / 60:g} is too short for the protocol: at least "
            f"{need} s ({need / 60:.2f} minutes) are needed"
        )
    alloc = _allocate(units, weights, mins)
    segs, start = [], 0
    for (label, name, *_), u in zip(layout, alloc):
        if u == 0:
            continue
        end = start + int(u) * GRID_S
        segs.append(Segment(label, name, float(start), float(end)))
        start = end
    last = segs[-1]
    segs[-1] = Segment(last.label, last.name, last.start_s, total_s)
    return segs


def _allocate(units: int, weights: np.ndarray, mins: np.ndarray) -> np.ndarray:
    """Integer units proportional to ``weights``, each at least ``mins``, summing to ``units``."""
    free = np.ones(len(weights), bool)
    target = np.zeros(len(weights))
    while True:
        rest = units - mins[~free].sum()
        target[free] = weights[free] / weights[free].sum() * rest
        target[~free] = mins[~free]
        low = free & (target < mins)
        if not low.any():
            break
        free &= ~low
    alloc = np.maximum(np.floor(target).astype(int), mins)
    left = units - alloc.sum()
    order = np.argsort(-(target - np.floor(target)), kind="stable")
    for i in order[: max(left, 0)]:
        alloc[i] += 1
    return alloc


def label_array(segs: Sequence[Segment], n: int) -> np.ndarray:
    """The int32 label of each of ``n`` samples at 700 Hz."""
    labels = np.zeros(n, np.int32)
    for s in segs:
        labels[int(round(s.start_s * CHEST_RATE)) : int(round(s.end_s * CHEST_RATE))] = s.label
    return labels


def coupled_levels(
    rng: np.random.Generator, segs: Sequence[Segment], t_c: np.ndarray, seg_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ECG level h and EDA level e (0..3) per latent sample for coupled mode.

    Every segment is cut into 30-s chunks starting at the segment start (chunk boundaries lie
    on the 10-s grid, so 10-s windows never straddle two levels). In a class segment the
    chunk's ECG level h runs through random permutations of {0, 1, 2, 3}, one permutation
    stream per class shared by its segments (the two meditations), so every level occurs
    equally often per subject and class up to one partial permutation, not only in
    expectation. The EDA level is e = (h + c) mod 4 with c = 0 baseline, 1 stress,
    2 amusement, 3 meditation. h and e are each uniform within every class (either modality
    alone carries no class information), while the pair gives c = (e - h) mod 4.
    Transient chunks draw h and e independently. h sets the heart rate (rest + 14-16 bpm * h),
    e the tonic EDA (base + 0.3-0.4 * base * e) and the SCR rate; every other class effect is
    switched off.
    """
    h = np.zeros(len(t_c), int)
    e = np.zeros(len(t_c), int)
    pending: dict[int, list[int]] = {c: [] for c in CLASSES}  # per-class permutation stream
    for i, s in enumerate(segs):
        sel = np.flatnonzero(seg_idx == i)
        chunk = np.floor((np.clip(t_c[sel], s.start_s, None) - s.start_s) / CHUNK_S).astype(int)
        n_chunks = int(chunk.max()) + 1
        if s.label == TRANSIENT:
            hs = rng.integers(0, 4, n_chunks)
            es = rng.integers(0, 4, n_chunks)
        else:
            stream = pending[s.label]
            while len(stream) < n_chunks:
                stream.extend(int(x) for x in rng.permutation(4))
            hs = np.array(stream[:n_chunks])
            del stream[:n_chunks]
            es = (hs + COUPLED_OFFSET[s.label]) % 4
        h[sel] = hs[chunk]
        e[sel] = es[chunk]
    return h, e


def decoy_protocol(rng: np.random.Generator, total_s: float) -> list[Segment]:
    """Label-free schedule that drives the uninformative modalities.

    States (transient, baseline, stress, amusement, meditation) are drawn independently and
    uniformly, lengths uniformly in ``DECOY_S`` seconds, starting at a random phase before the
    recording, so state changes are unrelated to the protocol's segments and its 10-s grid.
    """
    segs = []
    start = -MARGIN_S - rng.uniform(0.0, DECOY_S[1])
    while start <= total_s + MARGIN_S:
        end = start + rng.uniform(*DECOY_S)
        segs.append(Segment(int(rng.integers(0, 5)), "", start, end))
        start = end
    return segs


def check_uninformative(
    uninformative: str | Sequence[str] | None, coupled: bool
) -> tuple[str, ...]:
    """Validated, de-duplicated modality names (a single string is one name).

    Raises
    ------
    SimulationError
        For a name not in ``MODALITIES`` or any name combined with ``coupled``.
    """
    names = (uninformative,) if isinstance(uninformative, str) else tuple(uninformative or ())
    for name in names:
        if name not in MODALITIES:
            raise SimulationError(
                f"unknown modality {name!r} for uninformative; valid: {', '.join(MODALITIES)}"
            )
    if names and coupled:
        raise SimulationError(
            "uninformative cannot be combined with coupled: in coupled mode "
            "every modality alone already carries no class information"
        )
    return tuple(dict.fromkeys(names))

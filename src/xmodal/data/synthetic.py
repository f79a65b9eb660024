"""Synthetic recordings in the exact WESAD on-disk layout.

``simulate_wesad(out)`` writes ``out/SX/SX.pkl``, ``out/SX/SX_quest.csv`` and
``out/SX/SX_readme.txt`` for subjects S2, S3, ..., S11, S13, ... (S1 and S12 are skipped,
as in WESAD). The pickle is a protocol-2 pickle of::

    {"subject": "S2",
     "signal": {"chest": {"ACC": (n, 3), "ECG": (n, 1), "EMG": (n, 1), "EDA": (n, 1),
                          "Temp": (n, 1), "Resp": (n, 1)},            # 700 Hz, float64
                "wrist": {"ACC": (m32, 3), "BVP": (m64, 1), "EDA": (m4, 1), "TEMP": (m4, 1)}},
     "label": (n,) int32}                                              # 700 Hz

written the way Python 2 wrote WESAD: array payloads are py2 ``str`` opcodes (``BINSTRING``)
and the only globals are ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and
``numpy.dtype``. Like the real files it therefore loads with
``pickle.load(f, encoding="latin1")`` and with any restricted unpickler that admits only numpy's
array reconstruction.

Protocol (label codes 0 transient, 1 baseline, 2 stress, 3 amusement, 4 meditation)::

    transient, baseline, transient, A, transient, meditation, transient, B, transient,
    meditation, transient

with (A, B) = (amusement, stress) or (stress, amusement), drawn per subject (WESAD's two
protocol versions). Durations follow WESAD's proportions (baseline 20 min, amusement 6.5,
stress 10, meditation 7 + 7, transients 1-1.5) scaled to ``minutes``; every segment boundary
is a multiple of 10 s from the recording start and every class gets at least 60 s.

Physiology is generated from a small latent state on a 20 Hz grid (heart rate, breathing rate
and depth, HRV gains, EDA tonic level, SCR rate and size, movement, EMG bursts) that is rendered
to each signal's native rate with vectorised numpy:

* ECG: beat times from an instantaneous heart rate (class level + RSA at the breathing rate +
  ~0.1 Hz LF wave + slow noise, integrated to a beat phase); each beat is a sum of Gaussian
  P, Q, R, S, T waves (P/T offsets and widths scale with sqrt(RR)), plus baseline wander,
  powerline hum and muscle noise.
* BVP (wrist 64 Hz): one systolic + dicrotic pulse per beat after a pulse transit time.
* EDA: tonic level (slow drift, class trend) + Bateman-shaped SCRs at Poisson times; chest at
  700 Hz, wrist at 4 Hz with its own gain, offset and noise.
* Resp, EMG (noise + bursts + ECG crosstalk), Temp, ACC (gravity + movement; wrist in 1/64 g
  integer steps like the E4).

``coupled=True`` makes the classes separable only from ECG and EDA *together*; see
:func:`_coupled_levels`.

``uninformative=("chest.ECG", ...)`` makes the named modalities carry no class information:
they are rendered for the same subject (same subject-level parameters, e.g. resting heart rate,
EDA level, effect sizes) from a second, independent random stream under a decoy schedule
instead of the protocol. The decoy schedule is a sequence of states (transient, baseline,
stress, amusement, meditation), each drawn uniformly and independently, with lengths uniform in
20-120 s and a random phase; it is drawn before, and independently of, the protocol. So every
parameter the simulator varies by class or segment (heart rate and its time course, RSA/LF HRV,
breathing rate and depth, EDA tonic level, SCR rate and size, EMG bursts, movement, walking,
posture, wrist temperature, vasoconstriction) follows the same distribution in every class and
changes at times unrelated to the label sequence; the rendered modality is the same whatever
the labels are. Other modalities are unchanged (byte-identical to the default for the same
seed); a modality derived from another one keeps its own source (e.g. an uninformative
``chest.ECG`` leaves the informative ``wrist.BVP`` and the ECG crosstalk in ``chest.EMG`` as
they are; an uninformative ``chest.EMG`` has crosstalk only from the decoy ECG).
"""

from __future__ import annotations

import math
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import signal as sps
from scipy.ndimage import uniform_filter1d

from xmodal.errors import ConfigError
from xmodal.files import atomic_write_bytes, atomic_write_stream

__all__ = ["MODALITIES", "simulate_subject", "simulate_wesad"]

CHEST_RATE = 700
WRIST_RATES = {"ACC": 32.0, "BVP": 64.0, "EDA": 4.0, "TEMP": 4.0}
GRID_S = 10          # every segment boundary is a multiple of this (seconds)
MIN_CLASS_S = 60     # every class gets at least this much time
CHUNK_S = 30         # coupled mode: length of one (ECG level, EDA level) chunk
DECOY_S = (20.0, 120.0)   # uninformative modalities: range of one decoy state's length (s)
_FC = 20.0           # rate of the latent state (Hz)
_MARGIN_S = 5.0      # latent state extends this far before 0 and after the end

TRANSIENT, BASELINE, STRESS, AMUSEMENT, MEDITATION = 0, 1, 2, 3, 4
_CLASSES = (BASELINE, STRESS, AMUSEMENT, MEDITATION)
#: coupled mode: class code -> offset c in  e = (h + c) mod 4
_COUPLED_OFFSET = {BASELINE: 0, STRESS: 1, AMUSEMENT: 2, MEDITATION: 3}
#: modality names the simulator writes (valid for ``uninformative``)
MODALITIES = ("chest.ACC", "chest.ECG", "chest.EMG", "chest.EDA", "chest.Temp", "chest.Resp",
              "wrist.ACC", "wrist.BVP", "wrist.EDA", "wrist.TEMP")


class SimulationError(ConfigError, ValueError):
    """Impossible simulation arguments (e.g. too few minutes for the protocol)."""


@dataclass(frozen=True)
class _Segment:
    label: int
    name: str        # quest-file name ("Base", "TSST", "Fun", "Medi 1", "Medi 2"; "" = transient)
    start_s: float
    end_s: float


# --------------------------------------------------------------------------- protocol

def _subject_ids(k: int) -> list[str]:
    """The first ``k`` WESAD-style subject ids: S2..S11, S13, S14, ... (no S1, no S12)."""
    ids, i = [], 2
    while len(ids) < k:
        if i != 12:
            ids.append(f"S{i}")
        i += 1
    return ids


def _protocol(n_samples: int, stress_first: bool) -> list[_Segment]:
    """Segments covering ``n_samples`` at 700 Hz, boundaries on the 10-s grid."""
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
        raise SimulationError(f"minutes={total_s / 60:g} is too short for the protocol: at least "
                              f"{need} s ({need / 60:.2f} minutes) are needed")
    alloc = _allocate(units, weights, mins)
    segs, start = [], 0
    for (label, name, *_), u in zip(layout, alloc):
        if u == 0:
            continue
        end = start + int(u) * GRID_S
        segs.append(_Segment(label, name, float(start), float(end)))
        start = end
    last = segs[-1]
    segs[-1] = _Segment(last.label, last.name, last.start_s, total_s)
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
    for i in order[:max(left, 0)]:
        alloc[i] += 1
    return alloc


# --------------------------------------------------------------------------- small helpers

def _lowpass(x: np.ndarray, tau: float, fs: float = _FC) -> np.ndarray:
    """First-order (exponential) low-pass with time constant ``tau`` s, starting at ``x[0]``."""
    a = math.exp(-1.0 / (tau * fs))
    y, _ = sps.lfilter([1.0 - a], [1.0, -a], x, zi=[a * x[0]])
    return y


def _ar1(rng: np.random.Generator, n: int, tau: float, std: float, fs: float = _FC) -> np.ndarray:
    """Stationary AR(1) ("slow") noise: time constant ``tau`` s, standard deviation ``std``."""
    a = math.exp(-1.0 / (tau * fs))
    w = rng.standard_normal(n) * (std * math.sqrt(1.0 - a * a))
    y, _ = sps.lfilter([1.0], [1.0, -a], w, zi=[a * rng.normal(0.0, std)])
    return y


def _gauss(d: np.ndarray, mu, sigma) -> np.ndarray:
    z = (d - mu) / sigma
    z *= z
    z *= -0.5
    return np.exp(z, out=z)


class _Upsampler:
    """Linear interpolation from the uniform latent grid to a uniform output grid (float32).

    Equivalent to ``np.interp(t, t_c, x)`` but with the indices and weights computed once.
    """

    def __init__(self, t: np.ndarray, t_c: np.ndarray):
        pos = (t - t_c[0]) * _FC
        self.i0 = np.minimum(pos.astype(np.int64), len(t_c) - 2)
        self.w = (pos - self.i0).astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        d = np.diff(x)
        out = d[self.i0]
        out *= self.w
        out += x[self.i0]
        return out


def _bursts(rng, rate_per_s: np.ndarray, dur: tuple[float, float], gain: tuple[float, float]):
    """Sum of boxes (start at Poisson times, random length and height) on the latent grid."""
    n = len(rate_per_s)
    starts = np.flatnonzero(rng.random(n) < rate_per_s / _FC)
    steps = np.zeros(n + 1)
    length = np.round(rng.uniform(*dur, len(starts)) * _FC).astype(int)
    h = rng.uniform(*gain, len(starts))
    np.add.at(steps, starts, h)
    np.add.at(steps, np.minimum(starts + length, n), -h)
    return np.cumsum(steps[:-1])


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


# --------------------------------------------------------------------------- latent state

def _subject_params(rng: np.random.Generator) -> dict:
    """Subject-specific baselines, noise levels and effect sizes."""
    p = {
        "hr_rest": _u(rng, 55, 85), "hr_slow_std": _u(rng, 2.5, 4.5),
        "rsa": _u(rng, 2.0, 6.0), "lf": _u(rng, 1.5, 3.5), "lf_f": _u(rng, 0.08, 0.12),
        "br": _u(rng, 0.2, 0.3), "resp_amp": _u(rng, 2.0, 6.0),
        "ecg_gain": _u(rng, 0.7, 1.6), "t_wave": _u(rng, 0.2, 0.45), "p_wave": _u(rng, 0.08, 0.2),
        "ecg_noise": _u(rng, 0.005, 0.03), "powerline": _u(rng, 0.003, 0.03),
        "wander": _u(rng, 0.03, 0.15),
        "eda_base": float(np.exp(rng.uniform(np.log(1.0), np.log(15.0)))),
        "scr_rate": _u(rng, 1.0, 4.0) / 60.0,
        "tau_r": _u(rng, 0.6, 1.2), "tau_d": _u(rng, 3.0, 5.0),
        "eda_noise": _u(rng, 0.001, 0.005), "wrist_gain": _u(rng, 0.2, 0.6),
        "wrist_offset": _u(rng, 0.0, 0.2), "wrist_eda_noise": _u(rng, 0.005, 0.02),
        "ptt": _u(rng, 0.2, 0.3), "bvp_amp": _u(rng, 30.0, 120.0), "bvp_noise": _u(rng, 0.01, 0.04),
        "emg_floor": _u(rng, 0.003, 0.01), "temp": _u(rng, 33.3, 34.7),
        "wtemp": _u(rng, 30.5, 33.5),
        "acc_noise": _u(rng, 0.003, 0.01), "wacc_noise": _u(rng, 0.01, 0.03),
    }
    p["scr_amp"] = p["eda_base"] * _u(rng, 0.03, 0.08) + _u(rng, 0.03, 0.1)
    g = np.array([0.85, -0.05, -0.4]) + rng.normal(0, 0.08, 3)
    p["g_chest"] = g / np.linalg.norm(g)
    g = np.array([-0.2, 0.3, 0.93]) + rng.normal(0, 0.2, 3)
    p["g_wrist"] = g / np.linalg.norm(g)
    # class effects (ordinary mode); between-subject variability in every effect size
    p["effects"] = {
        BASELINE: dict(hr=0.0, br=1.0, depth=1.0, rsa=1.0, lf=1.0, eda=0.0, scr=1.0, amp=1.0,
                       emg=0.5, move=1.0, wtemp=0.0),
        STRESS: dict(hr=_u(rng, 12, 20), br=_u(rng, 1.2, 1.45), depth=_u(rng, 0.7, 0.9),
                     rsa=_u(rng, 0.3, 0.6), lf=_u(rng, 0.5, 0.8), eda=np.log(_u(rng, 1.15, 1.5)),
                     scr=_u(rng, 2.5, 3.5), amp=_u(rng, 1.4, 2.2), emg=3.0, move=2.5,
                     wtemp=-_u(rng, 0.3, 0.8)),
        AMUSEMENT: dict(hr=_u(rng, 3, 6), br=_u(rng, 1.0, 1.12), depth=_u(rng, 1.0, 1.2),
                        rsa=_u(rng, 0.8, 1.0), lf=1.0, eda=np.log(_u(rng, 1.0, 1.12)),
                        scr=_u(rng, 1.3, 1.7), amp=_u(rng, 1.0, 1.3), emg=2.0, move=1.8,
                        wtemp=-_u(rng, 0.0, 0.2)),
        MEDITATION: dict(hr=-_u(rng, 3, 5), br=_u(rng, 0.5, 0.7), depth=_u(rng, 1.4, 1.9),
                         rsa=_u(rng, 1.5, 2.2), lf=_u(rng, 1.0, 1.3),
                         eda=np.log(_u(rng, 0.75, 0.92)), scr=_u(rng, 0.2, 0.5),
                         amp=_u(rng, 0.6, 0.9), emg=0.2, move=0.7, wtemp=_u(rng, 0.1, 0.3)),
    }
    return p


def _segment_table(rng, segs: list[_Segment], p: dict, coupled: bool) -> list[dict]:
    """Per-segment latent targets (effects jittered per segment)."""
    table = []
    for s in segs:
        if s.label == TRANSIENT:
            e = dict(hr=_u(rng, -2, 8), br=_u(rng, 1.0, 1.2), depth=1.0, rsa=1.0, lf=1.0,
                     eda=_u(rng, -0.05, 0.1), scr=1.5, amp=1.0, emg=4.0, move=4.0, wtemp=0.0,
                     walk=1.0)
            if coupled:
                e.update(hr=0.0, eda=0.0, scr=1.0)
        elif coupled:
            e = dict(p["effects"][BASELINE], walk=0.0)
        else:
            e = {k: v * _u(rng, 0.8, 1.2) if k in ("hr", "eda", "wtemp") else v
                 for k, v in p["effects"][s.label].items()}
            e["walk"] = 0.0
        e["tilt"] = rng.normal(0, 0.1 if s.label == TRANSIENT else 0.03, 3)
        e["wtilt"] = rng.normal(0, 0.3 if s.label == TRANSIENT else 0.1, 3)
        table.append(e)
    return table


def _intensity(rng, segs: list[_Segment], t_c: np.ndarray, seg_idx: np.ndarray) -> np.ndarray:
    """How strongly a class effect is expressed over time (1 = the segment's nominal effect).

    Stress peaks at onset and habituates; amusement comes and goes with the funny clips;
    meditation settles in over the first minute; baseline and transients stay at 1.
    """
    out = np.ones(len(t_c))
    for i, s in enumerate(segs):
        sel = np.flatnonzero(seg_idx == i)
        since = np.clip(t_c[sel] - s.start_s, 0.0, None)
        dur = max(s.end_s - s.start_s, 1.0)
        if s.label == STRESS:
            floor = _u(rng, 0.6, 0.9)
            out[sel] = floor + (1.3 - floor) * np.exp(-since / (0.4 * dur))
        elif s.label == MEDITATION:
            out[sel] = 1.0 - 0.5 * np.exp(-since / 60.0)
        elif s.label == AMUSEMENT:
            edges = np.cumsum(rng.uniform(20.0, 60.0, int(dur // 20) + 2))
            level = np.where(rng.random(len(edges) + 1) < 0.65,
                             rng.uniform(0.8, 1.5, len(edges) + 1),
                             rng.uniform(0.0, 0.3, len(edges) + 1))
            out[sel] = level[np.searchsorted(edges, since)]
    return out


def _coupled_levels(rng, segs: list[_Segment], t_c: np.ndarray, seg_idx: np.ndarray):
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
    pending: dict[int, list[int]] = {c: [] for c in _CLASSES}   # per-class permutation stream
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
            es = (hs + _COUPLED_OFFSET[s.label]) % 4
        h[sel] = hs[chunk]
        e[sel] = es[chunk]
    return h, e


def _side_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator whose stream does not overlap ``rng``'s; ``rng`` is not advanced."""
    bg = rng.bit_generator
    if hasattr(bg, "jumped"):
        return np.random.Generator(bg.jumped())
    return np.random.default_rng(bg.seed_seq.spawn(1)[0])


def _decoy_protocol(rng: np.random.Generator, total_s: float) -> list[_Segment]:
    """Label-free schedule that drives the uninformative modalities.

    States (transient, baseline, stress, amusement, meditation) are drawn independently and
    uniformly, lengths uniformly in ``DECOY_S`` seconds, starting at a random phase before the
    recording, so state changes are unrelated to the protocol's segments and its 10-s grid.
    """
    segs = []
    start = -_MARGIN_S - rng.uniform(0.0, DECOY_S[1])
    while start <= total_s + _MARGIN_S:
        end = start + rng.uniform(*DECOY_S)
        segs.append(_Segment(int(rng.integers(0, 5)), "", start, end))
        start = end
    return segs


def _check_uninformative(uninformative, coupled: bool) -> tuple[str, ...]:
    """Validated, de-duplicated modality names (a single string is one name)."""
    names = (uninformative,) if isinstance(uninformative, str) else tuple(uninformative or ())
    for name in names:
        if name not in MODALITIES:
            raise SimulationError(f"unknown modality {name!r} for uninformative; valid: "
                                  f"{', '.join(MODALITIES)}")
    if names and coupled:
        raise SimulationError("uninformative cannot be combined with coupled: in coupled mode "
                              "every modality alone already carries no class information")
    return tuple(dict.fromkeys(names))


# --------------------------------------------------------------------------- rendering

def _beat_index(n: int, rate: float, beats: np.ndarray):
    """For samples ``k / rate`` (k < n): index of the last beat at or before the sample and of
    the first beat after it (``searchsorted(beats, t, "right")`` via counting, much faster)."""
    first = np.clip(np.ceil(beats * rate - 1e-9).astype(np.int64), 0, n)
    nxt = np.cumsum(np.bincount(first, minlength=n + 1)[:n])
    return nxt - 1, nxt


def _render_ecg(t, beats, amp, rr):
    """Sum of Gaussian P, Q, R, S, T waves: R/S/T of the previous beat, P/Q/R of the next."""
    prev, nxt = _beat_index(len(t), CHEST_RATE, beats)
    s = np.sqrt(rr).astype(np.float32)
    amp = amp.astype(np.float32)
    dp = (t - beats[prev]).astype(np.float32)
    ecg = amp[:, 0][prev] * _gauss(dp, 0.0, 0.010)
    ecg += amp[:, 1][prev] * _gauss(dp, 0.035, 0.011)
    s_prev = s[prev]
    ecg += amp[:, 2][prev] * _gauss(dp, 0.27 * s_prev, 0.055 * s_prev)
    del dp, s_prev
    dn = (t - beats[nxt]).astype(np.float32)
    ecg += amp[:, 0][nxt] * _gauss(dn, 0.0, 0.010)
    ecg += amp[:, 3][nxt] * _gauss(dn, -0.033, 0.010)
    s_next = s[nxt]
    ecg += amp[:, 4][nxt] * _gauss(dn, -0.19 * s_next, 0.025 * s_next)
    return ecg


def _render_bvp(t, pulses, amp, rr):
    """Systolic + dicrotic wave per pulse arrival; pulses k-2..k+1 around each sample."""
    _, nxt = _beat_index(len(t), WRIST_RATES["BVP"], pulses)
    out = np.zeros(len(t))
    for k in (-2, -1, 0):
        j = nxt + k
        d = t - pulses[j]
        s = np.sqrt(rr[j])
        out += amp[j] * (_gauss(d, 0.11 * s, 0.05 * s) + 0.35 * _gauss(d, 0.36 * s, 0.07 * s))
    return out


def _bateman_kernel(tau_r: float, tau_d: float) -> np.ndarray:
    tk = np.arange(0.0, 8 * tau_d, 1.0 / _FC)
    k = np.exp(-tk / tau_d) - np.exp(-tk / tau_r)
    return k / k.max()


def _simulate(subject: str, minutes: float, rng: np.random.Generator, coupled: bool,
              uninformative: tuple[str, ...] = ()):
    """The WESAD dict plus the protocol segments and subject metadata."""
    try:
        minutes = float(minutes)
    except (TypeError, ValueError):
        raise SimulationError(f"minutes must be a positive number, got {minutes!r}") from None
    if not (math.isfinite(minutes) and minutes > 0):
        raise SimulationError(f"minutes must be a positive number, got {minutes!r}")
    # taken before any draw, so the decoy stream is the same whatever the protocol is
    side = _side_rng(rng) if uninformative else None
    n = int(round(minutes * 60 * CHEST_RATE))
    stress_first = bool(rng.random() < 0.5)
    segs = _protocol(n, stress_first)
    p = _subject_params(rng)
    table = _segment_table(rng, segs, p, coupled)
    chest, wrist = _render(n, segs, table, p, rng, coupled)
    if uninformative:
        # the same subject under a decoy protocol that has nothing to do with the labels
        decoy = _decoy_protocol(side, n / CHEST_RATE)
        d_chest, d_wrist = _render(n, decoy, _segment_table(side, decoy, p, False), p, side,
                                   False)
        for name in uninformative:
            device, key = name.split(".")
            if device == "chest":
                chest[key] = d_chest[key]
            else:
                wrist[key] = d_wrist[key]
        del d_chest, d_wrist

    labels = np.zeros(n, np.int32)
    for s in segs:
        labels[int(round(s.start_s * CHEST_RATE)):int(round(s.end_s * CHEST_RATE))] = s.label

    def col(x):
        return np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(len(x), -1))

    data = {
        "subject": subject,
        "signal": {
            "chest": {k: col(chest[k]) for k in ("ACC", "ECG", "EMG", "EDA", "Temp", "Resp")},
            "wrist": {k: col(wrist[k]) for k in ("ACC", "BVP", "EDA", "TEMP")},
        },
        "label": labels,
    }
    meta = {"stress_first": stress_first, "age": int(rng.integers(21, 36)),
            "gender": "female" if rng.random() < 0.2 else "male",
            "height": int(rng.integers(160, 195)), "weight": int(rng.integers(55, 95)),
            "hand": "left" if rng.random() < 0.1 else "right"}
    return data, segs, meta


def _render(n: int, segs: list[_Segment], table: list[dict], p: dict,
            rng: np.random.Generator, coupled: bool) -> tuple[dict, dict]:
    """Chest and wrist signals (unshaped arrays) for ``n`` chest samples driven by ``segs``."""
    T = n / CHEST_RATE

    # ---- latent grid -------------------------------------------------------------------
    t_c = np.arange(int(np.floor(-_MARGIN_S * _FC)), int(np.ceil((T + _MARGIN_S) * _FC)) + 1) / _FC
    nc = len(t_c)
    ends = np.array([s.end_s for s in segs])
    seg_idx = np.minimum(np.searchsorted(ends, t_c, side="right"), len(segs) - 1)

    def per_seg(key):
        return np.array([e[key] for e in table])[seg_idx]

    if coupled:
        h, lev = _coupled_levels(rng, segs, t_c, seg_idx)
        hr_step = _u(rng, 14.0, 16.0)   # 2.5 beats per 10-s window between levels
        hr_target = p["hr_rest"] + hr_step * h + per_seg("hr")
        hr_tau, hr_slow_std = 1.5, 0.8
    else:
        # class effect x time course + arousal episodes (HR bump with SCRs) in every segment
        intensity = _intensity(rng, segs, t_c, seg_idx)
        arousal = _lowpass(_bursts(rng, np.full(nc, 0.5 / 60.0), (10.0, 40.0), (2.0, 7.0)), 3.0)
        hr_target = p["hr_rest"] + per_seg("hr") * intensity + arousal
        hr_tau, hr_slow_std = 3.0, p["hr_slow_std"]

    # breathing: rate, depth and phase
    br = _lowpass(p["br"] * per_seg("br"), 4.0) * (1 + _ar1(rng, nc, 6.0, 0.06))
    depth = _lowpass(per_seg("depth"), 4.0) * (1 + _ar1(rng, nc, 8.0, 0.1))
    resp_phase_c = 2 * np.pi * np.cumsum(br) / _FC + rng.uniform(0, 2 * np.pi)

    # heart rate with HRV: RSA (stronger with deep breathing) + LF wave + slow noise
    rsa = p["rsa"] * _lowpass(per_seg("rsa"), 4.0) * np.clip(depth, 0.3, None)
    lf = p["lf"] * _lowpass(per_seg("lf"), 4.0) * (1 + _ar1(rng, nc, 20.0, 0.3))
    hr = (_lowpass(hr_target, hr_tau) + rsa * np.sin(resp_phase_c - 0.6)
          + lf * np.sin(2 * np.pi * p["lf_f"] * t_c + rng.uniform(0, 2 * np.pi))
          + _ar1(rng, nc, 30.0, hr_slow_std))
    hr = np.clip(hr, 40.0, 180.0)
    cycle = np.cumsum(hr / 60.0) / _FC + rng.uniform(0, 1)
    k = np.arange(int(np.ceil(cycle[0])), int(np.floor(cycle[-1])) + 1)
    beats = np.interp(k, cycle, t_c)
    beats += np.clip(rng.normal(0, 0.006, len(beats)), -0.02, 0.02)   # beat-to-beat jitter
    beats.sort()
    rr = np.diff(beats, append=beats[-1] + (beats[-1] - beats[-2]))
    resp_at_beat = np.sin(np.interp(beats, t_c, resp_phase_c))

    # ---- ECG ---------------------------------------------------------------------------
    # 700-Hz work is done in float32 (exp/sin are several times faster); output is float64.
    t = np.arange(n) / CHEST_RATE
    up = _Upsampler(t, t_c)
    nb = len(beats)
    gain = p["ecg_gain"] * (1 + 0.06 * resp_at_beat) * (1 + rng.normal(0, 0.02, nb))
    amp = np.empty((nb, 5))
    amp[:, 0] = gain * 1.0                                   # R
    amp[:, 1] = gain * -0.25                                 # S
    amp[:, 2] = gain * p["t_wave"] * (1 + rng.normal(0, 0.05, nb))   # T
    amp[:, 3] = gain * -0.12                                 # Q
    amp[:, 4] = gain * p["p_wave"] * (1 + rng.normal(0, 0.05, nb))   # P
    ecg_clean = _render_ecg(t, beats, amp, rr)
    resp_phase = up(resp_phase_c)
    sin_resp = np.sin(resp_phase)
    wander_c = p["wander"] * (0.5 * np.sin(resp_phase_c) * depth) + _ar1(rng, nc, 10.0, p["wander"])
    # 50 Hz hum at 700 Hz repeats every 14 samples
    hum = p["powerline"] * np.sin(2 * np.pi * np.arange(14) / 14 + rng.uniform(0, 2 * np.pi))
    ecg = ecg_clean + up(wander_c)
    ecg += np.resize(hum.astype(np.float32), n)
    ecg += rng.standard_normal(n, dtype=np.float32) * np.float32(p["ecg_noise"])

    # ---- EMG (noise floor + bursts + ECG crosstalk) --------------------------------------
    emg_env = p["emg_floor"] * (1 + _lowpass(_bursts(rng, per_seg("emg") / 60.0, (0.3, 2.0),
                                                      (3.0, 15.0)), 0.1))
    emg = up(emg_env)
    emg *= rng.standard_normal(n, dtype=np.float32)
    emg += np.float32(0.03) * ecg_clean
    del ecg_clean

    # ---- EDA -----------------------------------------------------------------------------
    if coupled:
        step = _u(rng, 0.3, 0.4) * p["eda_base"]
        tonic = (p["eda_base"] + step * _lowpass(lev.astype(float), 1.5)) \
            * np.exp(_ar1(rng, nc, 60.0, 0.02))
        scr_rate = p["scr_rate"] * (0.4 + 0.4 * lev)
        scr_amp = np.full(nc, 0.25 * step)
    else:
        tonic = p["eda_base"] * np.exp(_lowpass(per_seg("eda"), 40.0) + _ar1(rng, nc, 120.0, 0.06))
        scr_rate = p["scr_rate"] * (1 + (per_seg("scr") - 1) * intensity) * (1 + arousal / 4.0)
        scr_amp = p["scr_amp"] * per_seg("amp")
    onsets = rng.random(nc) < scr_rate / _FC
    impulses = np.zeros(nc)
    impulses[onsets] = scr_amp[onsets] * rng.lognormal(0.0, 0.4, int(onsets.sum()))
    phasic = sps.fftconvolve(impulses, _bateman_kernel(p["tau_r"], p["tau_d"]))[:nc]
    eda_c = tonic + phasic
    eda = up(eda_c)
    eda += rng.standard_normal(n, dtype=np.float32) * np.float32(p["eda_noise"])

    # ---- Resp ----------------------------------------------------------------------------
    depth_t = up(depth)
    resp_phase *= 2
    resp_phase += np.float32(0.5)
    resp = np.sin(resp_phase)
    del resp_phase
    resp *= np.float32(0.15)
    resp += sin_resp
    resp *= depth_t
    resp += up(_ar1(rng, nc, 30.0, 0.3))
    resp += rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)
    resp *= np.float32(p["resp_amp"])

    # ---- Temp ----------------------------------------------------------------------------
    temp_c = p["temp"] + _ar1(rng, nc, 300.0, 0.15)
    temp = up(temp_c) + rng.standard_normal(n, dtype=np.float32) * np.float32(0.003)
    wtemp_c = p["wtemp"] + _lowpass(per_seg("wtemp"), 90.0) + _ar1(rng, nc, 300.0, 0.3)

    # ---- ACC (chest, g) ------------------------------------------------------------------
    move = per_seg("move")
    walk = _lowpass(per_seg("walk"), 1.0)
    tilt = np.stack([_lowpass(np.array([e["tilt"][i] for e in table])[seg_idx], 2.0)
                     for i in range(3)], 1)
    g_c = p["g_chest"][None, :] + tilt
    g_c /= np.linalg.norm(g_c, axis=1, keepdims=True)
    gait_f = _u(rng, 1.7, 2.1)
    gait = np.sin(up(2 * np.pi * gait_f * t_c))
    gait *= up(walk)
    breath = sin_resp * depth_t
    move_t = up(p["acc_noise"] * move)
    acc = np.empty((3, n), np.float32)
    for i, (gw, rw) in enumerate(((0.15, 0.004), (0.05, 0.002), (0.08, 0.003))):
        a_i = acc[i]
        a_i[:] = up(g_c[:, i])
        a_i += np.float32(gw) * gait
        a_i += np.float32(rw) * breath
        a_i += move_t * rng.standard_normal(n, dtype=np.float32)
    acc = acc.T
    del gait, breath, move_t, sin_resp, depth_t

    # ---- wrist ---------------------------------------------------------------------------
    wrist = {}
    lens = {k: int(round(n / CHEST_RATE * r)) for k, r in WRIST_RATES.items()}
    tw = np.arange(lens["ACC"]) / WRIST_RATES["ACC"]
    wtilt = np.stack([_lowpass(np.array([e["wtilt"][i] for e in table])[seg_idx], 2.0)
                      for i in range(3)], 1)
    gw_c = p["g_wrist"][None, :] + wtilt
    gw_c /= np.linalg.norm(gw_c, axis=1, keepdims=True)
    wgait = np.sin(2 * np.pi * gait_f * tw + 0.8)
    wwalk = np.interp(tw, t_c, walk)
    wmove = np.interp(tw, t_c, p["wacc_noise"] * move)
    wacc = np.empty((len(tw), 3))
    for i, gw in enumerate((0.3, 0.2, 0.15)):
        wacc[:, i] = (np.interp(tw, t_c, gw_c[:, i]) + gw * wwalk * wgait
                      + wmove * rng.standard_normal(len(tw)))
    wrist["ACC"] = np.round(64.0 * wacc)

    tb = np.arange(lens["BVP"]) / WRIST_RATES["BVP"]
    hr_at_beat = 60.0 / np.clip(rr, 0.3, 2.0)
    pulses = beats + np.clip(p["ptt"] - 0.002 * (hr_at_beat - p["hr_rest"]), 0.15, 0.35)
    vaso = np.interp(pulses, t_c, _lowpass(1.0 - 0.1 * (per_seg("hr") > 8), 20.0))
    bvp_amp = (p["bvp_amp"] * vaso * (1 + 0.1 * resp_at_beat)
               * np.clip(1 + rng.normal(0, 0.08, nb), 0.5, 1.5))
    pulse_train = _render_bvp(tb, pulses, bvp_amp, rr)
    bvp = pulse_train - uniform_filter1d(pulse_train, int(1.5 * WRIST_RATES["BVP"]), mode="nearest")
    bvp_noise = p["bvp_noise"] * p["bvp_amp"] * (1 + 3 * np.interp(tb, t_c, walk))
    bvp += bvp_noise * rng.standard_normal(len(tb))
    wrist["BVP"] = bvp

    te = np.arange(lens["EDA"]) / WRIST_RATES["EDA"]
    weda = (p["wrist_gain"] * np.interp(te, t_c, eda_c) + p["wrist_offset"]
            + rng.standard_normal(len(te)) * p["wrist_eda_noise"])
    wrist["EDA"] = np.maximum(weda, 0.0)
    tt = np.arange(lens["TEMP"]) / WRIST_RATES["TEMP"]
    wrist["TEMP"] = np.round(np.interp(tt, t_c, wtemp_c)
                             + rng.standard_normal(len(tt)) * 0.01, 2)

    chest = {"ACC": acc, "ECG": ecg, "EMG": emg, "EDA": eda, "Temp": temp, "Resp": resp}
    return chest, wrist


# --------------------------------------------------------------------------- public API

def simulate_subject(subject: str, minutes: float, rng: np.random.Generator,
                     coupled: bool = False, uninformative: Sequence[str] = ()) -> dict:
    """Simulate one subject's recording in WESAD's dict layout.

    Parameters
    ----------
    subject : str
        Subject id stored under ``"subject"`` (e.g. ``"S2"``).
    minutes : float
        Recording length. Every class gets at least 60 s; below about 4.7 minutes the
        protocol does not fit and a ValueError is raised.
    rng : numpy.random.Generator
        Source of all randomness (same generator state -> identical arrays).
    coupled : bool
        If true, classes are separable only from ECG and EDA together (see module docs).
    uninformative : sequence of str
        Modalities (names in ``MODALITIES``, e.g. ``"chest.ECG"``) rendered from
        class-independent physiology; see :func:`simulate_wesad`.

    Returns
    -------
    dict
        ``{"subject", "signal": {"chest": {...}, "wrist": {...}}, "label"}`` with float64
        arrays of shape (n, 1) / (n, 3) and int32 labels at 700 Hz.
    """
    return _simulate(subject, minutes, rng, coupled,
                     _check_uninformative(uninformative, coupled))[0]


def simulate_wesad(out: Path, subjects: int = 6, minutes: float = 20.0, seed: int = 0,
                   coupled: bool = False, uninformative: Sequence[str] = ()) -> list[str]:
    """Write ``subjects`` synthetic subjects in the WESAD folder layout under ``out``.

    Parameters
    ----------
    out : path
        Output folder; ``out/SX/SX.pkl``, ``SX_quest.csv`` and ``SX_readme.txt`` per subject.
    subjects : int
        Number of subjects (S2, S3, ..., S11, S13, ...).
    minutes : float
        Recording length per subject.
    seed : int
        Subject ``SX`` draws from ``SeedSequence([seed, X])``, so a subject's data do not
        depend on how many subjects are written.
    coupled : bool
        Classes separable only from ECG and EDA together (see module docs).
    uninformative : sequence of str
        Modalities (names in ``MODALITIES``, e.g. ``"chest.ECG"``) that carry no class
        information: they are rendered for the same subject under a decoy schedule drawn
        independently of the labels (see module docs). All other modalities, the labels and
        the quest file are identical to those written without this option. Cannot be combined
        with ``coupled``, where each modality alone is already uninformative.

    Returns
    -------
    list of str
        The subject ids written.

    Raises
    ------
    SimulationError
        (a ``ConfigError`` and ``ValueError``) for impossible arguments or unknown modality
        names.
    """
    if int(subjects) != subjects or subjects < 1:
        raise SimulationError(f"subjects must be a positive integer, got {subjects!r}")
    if int(seed) != seed or seed < 0:
        raise SimulationError(f"seed must be a non-negative integer, got {seed!r}")
    uninformative = _check_uninformative(uninformative, coupled)
    out = Path(out)
    ids = _subject_ids(int(subjects))
    for sid in ids:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(sid[1:])]))
        data, segs, meta = _simulate(sid, minutes, rng, coupled, uninformative)
        folder = out / sid
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_stream(folder / f"{sid}.pkl", lambda f, d=data: _dump_py2(d, f))
        atomic_write_bytes(folder / f"{sid}_quest.csv", _quest_text(sid, segs).encode())
        atomic_write_bytes(folder / f"{sid}_readme.txt",
                           _readme_text(sid, meta, seed, minutes, coupled, uninformative).encode())
    return ids


# --------------------------------------------------------------------------- pickles

_RECONSTRUCT = np.ndarray.__reduce_ex__(np.zeros(1), 2)[0]


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes ``bytes`` as Python 2 ``str`` (BINSTRING), the way WESAD's
    pickles were written, and numpy's reconstructor under its classic name, so the only globals
    are ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):  # noqa: D102
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
            self.memoize(obj)
        elif n < 2 ** 31:
            # array payloads are not memoized, so each copy is freed once written
            self.write(pickle.BINSTRING + struct.pack("<i", n))
            self.write(obj)
        else:
            raise OverflowError("array too large for a protocol-2 pickle (>= 2 GiB)")

    dispatch[bytes] = save_bytes

    def save_global(self, obj, name=None):  # noqa: D102
        if obj is _RECONSTRUCT:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def _dump_py2(obj, f) -> None:
    _Py2Pickler(f, protocol=2).dump(obj)


def _minsec(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}.{s % 60:02d}"


def _quest_text(sid: str, segs: list[_Segment]) -> str:
    named = [s for s in segs if s.name]
    width = len(named) + 1
    rows = [["# Subj", sid], ["# ORDER"] + [s.name for s in named],
            ["# START"] + [_minsec(s.start_s) for s in named],
            ["# END"] + [_minsec(s.end_s) for s in named], []]
    return "".join(";".join(r + [""] * (width - len(r))) + "\n" for r in rows)


def _readme_text(sid: str, meta: dict, seed: int, minutes: float, coupled: bool,
                 uninformative: tuple[str, ...] = ()) -> str:
    version = "Base, TSST, Medi 1, Fun, Medi 2" if meta["stress_first"] \
        else "Base, Fun, Medi 1, TSST, Medi 2"
    return (f"### Personal information ###\n\n"
            f"Age: {meta['age']}\nHeight (cm): {meta['height']}\nWeight (kg): {meta['weight']}\n"
            f"Gender: {meta['gender']}\nDominant hand: {meta['hand']}\n\n"
            f"### Additional information ###\n\n"
            f"Subject {sid}: synthetic, generated by xmodal simulate, seed={seed}, "
            f"minutes={minutes:g}, coupled={coupled}"
            + (f", uninformative={','.join(uninformative)}" if uninformative else "") + "\n"
            f"Protocol order: {version}\n")

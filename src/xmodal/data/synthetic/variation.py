"""Subject-level and segment-level variation of the simulated physiology.

A subject draws resting levels, noise levels and the size of every class effect
(:func:`subject_params`); each protocol segment jitters its class's effects
(:func:`segment_table`); within a segment the effect waxes and wanes over time
(:func:`intensity`). The physiology renders whatever these tables say.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xmodal.data.synthetic.protocol import (
    AMUSEMENT,
    BASELINE,
    MEDITATION,
    STRESS,
    TRANSIENT,
    Segment,
)

__all__ = ["intensity", "segment_table", "subject_params", "uniform"]


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One draw from U(lo, hi) as a Python float."""
    return float(rng.uniform(lo, hi))


def subject_params(rng: np.random.Generator) -> dict:
    """Subject-specific baselines, noise levels and effect sizes."""
    _u = uniform
    p = {
        "hr_rest": _u(rng, 55, 85),
        "hr_slow_std": _u(rng, 2.5, 4.5),
        "rsa": _u(rng, 2.0, 6.0),
        "lf": _u(rng, 1.5, 3.5),
        "lf_f": _u(rng, 0.08, 0.12),
        "br": _u(rng, 0.2, 0.3),
        "resp_amp": _u(rng, 2.0, 6.0),
        "ecg_gain": _u(rng, 0.7, 1.6),
        "t_wave": _u(rng, 0.2, 0.45),
        "p_wave": _u(rng, 0.08, 0.2),
        "ecg_noise": _u(rng, 0.005, 0.03),
        "powerline": _u(rng, 0.003, 0.03),
        "wander": _u(rng, 0.03, 0.15),
        "eda_base": float(np.exp(rng.uniform(np.log(1.0), np.log(15.0)))),
        "scr_rate": _u(rng, 1.0, 4.0) / 60.0,
        "tau_r": _u(rng, 0.6, 1.2),
        "tau_d": _u(rng, 3.0, 5.0),
        "eda_noise": _u(rng, 0.001, 0.005),
        "wrist_gain": _u(rng, 0.2, 0.6),
        "wrist_offset": _u(rng, 0.0, 0.2),
        "wrist_eda_noise": _u(rng, 0.005, 0.02),
        "ptt": _u(rng, 0.2, 0.3),
        "bvp_amp": _u(rng, 30.0, 120.0),
        "bvp_noise": _u(rng, 0.01, 0.04),
        "emg_floor": _u(rng, 0.003, 0.01),
        "temp": _u(rng, 33.3, 34.7),
        "wtemp": _u(rng, 30.5, 33.5),
        "acc_noise": _u(rng, 0.003, 0.01),
        "wacc_noise": _u(rng, 0.01, 0.03),
    }
    p["scr_amp"] = p["eda_base"] * _u(rng, 0.03, 0.08) + _u(rng, 0.03, 0.1)
    g = np.array([0.85, -0.05, -0.4]) + rng.normal(0, 0.08, 3)
    p["g_chest"] = g / np.linalg.norm(g)
    g = np.array([-0.2, 0.3, 0.93]) + rng.normal(0, 0.2, 3)
    p["g_wrist"] = g / np.linalg.norm(g)
    # class effects (ordinary mode); between-subject variability in every effect size
    p["effects"] = {
        BASELINE: dict(
            hr=0.0,
            br=1.0,
            depth=1.0,
            rsa=1.0,
            lf=1.0,
            eda=0.0,
            scr=1.0,
            amp=1.0,
            emg=0.5,
            move=1.0,
            wtemp=0.0,
        ),
        STRESS: dict(
            hr=_u(rng, 12, 20),
            br=_u(rng, 1.2, 1.45),
            depth=_u(rng, 0.7, 0.9),
            rsa=_u(rng, 0.3, 0.6),
            lf=_u(rng, 0.5, 0.8),
            eda=np.log(_u(rng, 1.15, 1.5)),
            scr=_u(rng, 2.5, 3.5),
            amp=_u(rng, 1.4, 2.2),
            emg=3.0,
            move=2.5,
            wtemp=-_u(rng, 0.3, 0.8),
        ),
        AMUSEMENT: dict(
            hr=_u(rng, 3, 6),
            br=_u(rng, 1.0, 1.12),
            depth=_u(rng, 1.0, 1.2),
            rsa=_u(rng, 0.8, 1.0),
            lf=1.0,
            eda=np.log(_u(rng, 1.0, 1.12)),
            scr=_u(rng, 1.3, 1.7),
            amp=_u(rng, 1.0, 1.3),
            emg=2.0,
            move=1.8,
            wtemp=-_u(rng, 0.0, 0.2),
        ),
        MEDITATION: dict(
            hr=-_u(rng, 3, 5),
            br=_u(rng, 0.5, 0.7),
            depth=_u(rng, 1.4, 1.9),
            rsa=_u(rng, 1.5, 2.2),
            lf=_u(rng, 1.0, 1.3),
            eda=np.log(_u(rng, 0.75, 0.92)),
            scr=_u(rng, 0.2, 0.5),
            amp=_u(rng, 0.6, 0.9),
            emg=0.2,
            move=0.7,
            wtemp=_u(rng, 0.1, 0.3),
        ),
    }
    return p


def segment_table(
    rng: np.random.Generator, segs: Sequence[Segment], p: dict, coupled: bool
) -> list[dict]:
    """Per-segment latent targets (effects jittered per segment)."""
    _u = uniform
    table = []
    for s in segs:
        if s.label == TRANSIENT:
            e = dict(
                hr=_u(rng, -2, 8),
                br=_u(rng, 1.0, 1.2),
                depth=1.0,
                rsa=1.0,
                lf=1.0,
                eda=_u(rng, -0.05, 0.1),
                scr=1.5,
                amp=1.0,
                emg=4.0,
                move=4.0,
                wtemp=0.0,
                walk=1.0,
            )
            if coupled:
                e.update(hr=0.0, eda=0.0, scr=1.0)
        elif coupled:
            e = dict(p["effects"][BASELINE], walk=0.0)
        else:
            e = {
                k: v * _u(rng, 0.8, 1.2) if k in ("hr", "eda", "wtemp") else v
                for k, v in p["effects"][s.label].items()
            }
            e["walk"] = 0.0
        e["tilt"] = rng.normal(0, 0.1 if s.label == TRANSIENT else 0.03, 3)
        e["wtilt"] = rng.normal(0, 0.3 if s.label == TRANSIENT else 0.1, 3)
        table.append(e)
    return table


def intensity(
    rng: np.random.Generator, segs: Sequence[Segment], t_c: np.ndarray, seg_idx: np.ndarray
) -> np.ndarray:
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
            floor = uniform(rng, 0.6, 0.9)
            out[sel] = floor + (1.3 - floor) * np.exp(-since / (0.4 * dur))
        elif s.label == MEDITATION:
            out[sel] = 1.0 - 0.5 * np.exp(-since / 60.0)
        elif s.label == AMUSEMENT:
            edges = np.cumsum(rng.uniform(20.0, 60.0, int(dur // 20) + 2))
            level = np.where(
                rng.random(len(edges) + 1) < 0.65,
                rng.uniform(0.8, 1.5, len(edges) + 1),
                rng.uniform(0.0, 0.3, len(edges) + 1),
            )
            out[sel] = level[np.searchsorted(edges, since)]
    return out

"""The latent physiological state on a 20-Hz grid, shared by the chest and wrist signals.

Breathing (rate, depth, phase), heart rate with HRV and the beat times it implies
(:func:`latent_state`), and the skin conductance that both EDA sensors see
(:func:`skin_conductance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from xmodal.data.synthetic.protocol import (
    CHEST_RATE,
    LATENT_RATE,
    MARGIN_S,
    Segment,
    coupled_levels,
)
from xmodal.data.synthetic.variation import intensity, uniform
from xmodal.data.synthetic.waveforms import ar1, bateman_kernel, bursts, lowpass

__all__ = ["Latent", "latent_state", "skin_conductance"]

_FC = LATENT_RATE


@dataclass(frozen=True)
class Latent:
    """The latent state on the 20-Hz grid ``t_c`` and the heart beats it implies."""

    t_c: np.ndarray  # latent grid times (s), from -MARGIN_S to the end + MARGIN_S
    seg_idx: np.ndarray  # schedule segment of each latent sample
    table: list[dict]  # per-segment targets (see variation.segment_table)
    depth: np.ndarray  # breathing depth
    resp_phase_c: np.ndarray  # breathing phase (rad)
    beats: np.ndarray  # beat times (s)
    rr: np.ndarray  # interval from each beat to the next (s)
    resp_at_beat: np.ndarray  # sin(breathing phase) at each beat
    eda_level: np.ndarray | None  # coupled mode: EDA level 0..3
    intensity: np.ndarray | None  # ordinary mode: class effect time course
    arousal: np.ndarray | None  # ordinary mode: arousal episodes (bpm)

    def per_seg(self, key: str) -> np.ndarray:
        """The segment table's ``key`` at every latent sample."""
        return np.array([e[key] for e in self.table])[self.seg_idx]

    def tilt(self, key: str) -> np.ndarray:
        """Posture change ``key`` ("tilt" chest, "wtilt" wrist), (n, 3), smoothed over 2 s."""
        return np.stack(
            [
                lowpass(np.array([e[key][i] for e in self.table])[self.seg_idx], 2.0)
                for i in range(3)
            ],
            1,
        )

    def walk(self) -> np.ndarray:
        """Walking (0..1), smoothed over 1 s."""
        return lowpass(self.per_seg("walk"), 1.0)


def latent_state(
    n: int,
    segs: Sequence[Segment],
    table: list[dict],
    p: dict,
    rng: np.random.Generator,
    coupled: bool,
) -> Latent:
    """Breathing, heart rate with HRV and beat times for ``n`` chest samples under ``segs``."""
    T = n / CHEST_RATE
    t_c = np.arange(int(np.floor(-MARGIN_S * _FC)), int(np.ceil((T + MARGIN_S) * _FC)) + 1) / _FC
    nc = len(t_c)
    ends = np.array([s.end_s for s in segs])
    seg_idx = np.minimum(np.searchsorted(ends, t_c, side="right"), len(segs) - 1)

    def per_seg(key):
        return np.array([e[key] for e in table])[seg_idx]

    lev = effect = arousal = None
    if coupled:
        h, lev = coupled_levels(rng, segs, t_c, seg_idx)
        hr_step = uniform(rng, 14.0, 16.0)  # 2.5 beats per 10-s window between levels
        hr_target = p["hr_rest"] + hr_step * h + per_seg("hr")
        hr_tau, hr_slow_std = 1.5, 0.8
    else:
        # class effect x time course + arousal episodes (HR bump with SCRs) in every segment
        effect = intensity(rng, segs, t_c, seg_idx)
        arousal = lowpass(bursts(rng, np.full(nc, 0.5 / 60.0), (10.0, 40.0), (2.0, 7.0)), 3.0)
        hr_target = p["hr_rest"] + per_seg("hr") * effect + arousal
        hr_tau, hr_slow_std = 3.0, p["hr_slow_std"]

    # breathing: rate, depth and phase
    br = lowpass(p["br"] * per_seg("br"), 4.0) * (1 + ar1(rng, nc, 6.0, 0.06))
    depth = lowpass(per_seg("depth"), 4.0) * (1 + ar1(rng, nc, 8.0, 0.1))
    resp_phase_c = 2 * np.pi * np.cumsum(br) / _FC + rng.uniform(0, 2 * np.pi)

    # heart rate with HRV: RSA (stronger with deep breathing) + LF wave + slow noise
    rsa = p["rsa"] * lowpass(per_seg("rsa"), 4.0) * np.clip(depth, 0.3, None)
    lf = p["lf"] * lowpass(per_seg("lf"), 4.0) * (1 + ar1(rng, nc, 20.0, 0.3))
    hr = (
        lowpass(hr_target, hr_tau)
        + rsa * np.sin(resp_phase_c - 0.6)
        + lf * np.sin(2 * np.pi * p["lf_f"] * t_c + rng.uniform(0, 2 * np.pi))
        + ar1(rng, nc, 30.0, hr_slow_std)
    )
    hr = np.clip(hr, 40.0, 180.0)
    cycle = np.cumsum(hr / 60.0) / _FC + rng.uniform(0, 1)
    k = np.arange(int(np.ceil(cycle[0])), int(np.floor(cycle[-1])) + 1)
    beats = np.interp(k, cycle, t_c)
    beats += np.clip(rng.normal(0, 0.006, len(beats)), -0.02, 0.02)  # beat-to-beat jitter
    beats.sort()
    rr = np.diff(beats, append=beats[-1] + (beats[-1] - beats[-2]))
    resp_at_beat = np.sin(np.interp(beats, t_c, resp_phase_c))
    return Latent(
        t_c, seg_idx, table, depth, resp_phase_c, beats, rr, resp_at_beat, lev, effect, arousal
    )


def skin_conductance(lat: Latent, p: dict, rng: np.random.Generator) -> np.ndarray:
    """Skin conductance (uS) on the latent grid: tonic level + SCRs; both EDA sensors see it."""
    nc = len(lat.t_c)
    if lat.eda_level is not None:  # coupled mode
        step = uniform(rng, 0.3, 0.4) * p["eda_base"]
        tonic = (p["eda_base"] + step * lowpass(lat.eda_level.astype(float), 1.5)) * np.exp(
            ar1(rng, nc, 60.0, 0.02)
        )
        scr_rate = p["scr_rate"] * (0.4 + 0.4 * lat.eda_level)
        scr_amp = np.full(nc, 0.25 * step)
    else:
        tonic = p["eda_base"] * np.exp(
            lowpass(lat.per_seg("eda"), 40.0) + ar1(rng, nc, 120.0, 0.06)
        )
        scr_rate = (
            p["scr_rate"] * (1 + (lat.per_seg("scr") - 1) * lat.intensity) * (1 + lat.arousal / 4.0)
        )
        scr_amp = p["scr_amp"] * lat.per_seg("amp")
    onsets = rng.random(nc) < scr_rate / _FC
    impulses = np.zeros(nc)
    impulses[onsets] = scr_amp[onsets] * rng.lognormal(0.0, 0.4, int(onsets.sum()))
    phasic = sps.fftconvolve(impulses, bateman_kernel(p["tau_r"], p["tau_d"]))[:nc]
    return tonic + phasic

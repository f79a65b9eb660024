"""Wrist (Empatica E4) signals: ACC at 32 Hz, BVP at 64 Hz, EDA and TEMP at 4 Hz."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from xmodal.data.synthetic.latent import Latent
from xmodal.data.synthetic.protocol import WRIST_RATES
from xmodal.data.synthetic.waveforms import ar1, lowpass, pulse_waves

__all__ = ["wrist_acc", "wrist_bvp", "wrist_eda", "wrist_temp", "wrist_temperature"]


def wrist_temperature(lat: Latent, p: dict, rng: np.random.Generator) -> np.ndarray:
    """Wrist skin temperature (degC) on the latent grid: class trend plus slow drift."""
    return p["wtemp"] + lowpass(lat.per_seg("wtemp"), 90.0) + ar1(rng, len(lat.t_c), 300.0, 0.3)


def wrist_acc(lat: Latent, p: dict, rng: np.random.Generator, m: int, gait_f: float) -> np.ndarray:
    """Wrist ACC, (m, 3) at 32 Hz in 1/64 g integer steps like the E4."""
    t_c = lat.t_c
    tw = np.arange(m) / WRIST_RATES["ACC"]
    gw_c = p["g_wrist"][None, :] + lat.tilt("wtilt")
    gw_c /= np.linalg.norm(gw_c, axis=1, keepdims=True)
    wgait = np.sin(2 * np.pi * gait_f * tw + 0.8)
    wwalk = np.interp(tw, t_c, lat.walk())
    wmove = np.interp(tw, t_c, p["wacc_noise"] * lat.per_seg("move"))
    wacc = np.empty((len(tw), 3))
    for i, gw in enumerate((0.3, 0.2, 0.15)):
        wacc[:, i] = (
            np.interp(tw, t_c, gw_c[:, i])
            + gw * wwalk * wgait
            + wmove * rng.standard_normal(len(tw))
        )
    return np.round(64.0 * wacc)


def wrist_bvp(lat: Latent, p: dict, rng: np.random.Generator, m: int) -> np.ndarray:
    """Wrist BVP at 64 Hz: one pulse per ECG beat after the pulse transit time, high-passed."""
    t_c, beats, rr = lat.t_c, lat.beats, lat.rr
    tb = np.arange(m) / WRIST_RATES["BVP"]
    hr_at_beat = 60.0 / np.clip(rr, 0.3, 2.0)
    pulses = beats + np.clip(p["ptt"] - 0.002 * (hr_at_beat - p["hr_rest"]), 0.15, 0.35)
    vaso = np.interp(pulses, t_c, lowpass(1.0 - 0.1 * (lat.per_seg("hr") > 8), 20.0))
    bvp_amp = (
        p["bvp_amp"]
        * vaso
        * (1 + 0.1 * lat.resp_at_beat)
        * np.clip(1 + rng.normal(0, 0.08, len(beats)), 0.5, 1.5)
    )
    pulse_train = pulse_waves(tb, WRIST_RATES["BVP"], pulses, bvp_amp, rr)
    bvp = pulse_train - uniform_filter1d(pulse_train, int(1.5 * WRIST_RATES["BVP"]), mode="nearest")
    bvp_noise = p["bvp_noise"] * p["bvp_amp"] * (1 + 3 * np.interp(tb, t_c, lat.walk()))
    bvp += bvp_noise * rng.standard_normal(len(tb))
    return bvp


def wrist_eda(
    lat: Latent, eda_c: np.ndarray, p: dict, rng: np.random.Generator, m: int
) -> np.ndarray:
    """Wrist EDA at 4 Hz: the skin conductance with the wrist's gain, offset and noise."""
    te = np.arange(m) / WRIST_RATES["EDA"]
    weda = (
        p["wrist_gain"] * np.interp(te, lat.t_c, eda_c)
        + p["wrist_offset"]
        + rng.standard_normal(len(te)) * p["wrist_eda_noise"]
    )
    return np.maximum(weda, 0.0)


def wrist_temp(lat: Latent, wtemp_c: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    """Wrist TEMP at 4 Hz, rounded to 0.01 degC."""
    tt = np.arange(m) / WRIST_RATES["TEMP"]
    return np.round(np.interp(tt, lat.t_c, wtemp_c) + rng.standard_normal(len(tt)) * 0.01, 2)

"""Chest (RespiBAN) signals at 700 Hz: ECG, EMG, EDA, Resp, Temp and ACC.

The work is done in float32 (exp/sin are several times faster); the arrays become float64
when the subject's dict is assembled.
"""

from __future__ import annotations

import numpy as np

from xmodal.data.synthetic.latent import Latent
from xmodal.data.synthetic.protocol import CHEST_RATE
from xmodal.data.synthetic.variation import uniform
from xmodal.data.synthetic.waveforms import Upsampler, ar1, bursts, ecg_waves, lowpass

__all__ = ["chest_acc", "chest_ecg", "chest_eda", "chest_emg", "chest_resp", "chest_temp"]


def chest_ecg(
    lat: Latent, p: dict, rng: np.random.Generator, t: np.ndarray, up: Upsampler
) -> tuple[np.ndarray, np.ndarray]:
    """Chest ECG (mV) and its noise-free beats (for the EMG's crosstalk)."""
    nb = len(lat.beats)
    gain = p["ecg_gain"] * (1 + 0.06 * lat.resp_at_beat) * (1 + rng.normal(0, 0.02, nb))
    amp = np.empty((nb, 5))
    amp[:, 0] = gain * 1.0  # R
    amp[:, 1] = gain * -0.25  # S
    amp[:, 2] = gain * p["t_wave"] * (1 + rng.normal(0, 0.05, nb))  # T
    amp[:, 3] = gain * -0.12  # Q
    amp[:, 4] = gain * p["p_wave"] * (1 + rng.normal(0, 0.05, nb))  # P
    ecg_clean = ecg_waves(t, CHEST_RATE, lat.beats, amp, lat.rr)
    nc = len(lat.t_c)
    wander_c = p["wander"] * (0.5 * np.sin(lat.resp_phase_c) * lat.depth) + ar1(
        rng, nc, 10.0, p["wander"]
    )
    # 50 Hz hum at 700 Hz repeats every 14 samples
    hum = p["powerline"] * np.sin(2 * np.pi * np.arange(14) / 14 + rng.uniform(0, 2 * np.pi))
    n = len(t)
    ecg = ecg_clean + up(wander_c)
    ecg += np.resize(hum.astype(np.float32), n)
    ecg += rng.standard_normal(n, dtype=np.float32) * np.float32(p["ecg_noise"])
    return ecg, ecg_clean


def chest_emg(
    lat: Latent, p: dict, rng: np.random.Generator, up: Upsampler, ecg_clean: np.ndarray
) -> np.ndarray:
    """Chest EMG: noise floor + bursts (class-dependent rate) + ECG crosstalk."""
    emg_env = p["emg_floor"] * (
        1 + lowpass(bursts(rng, lat.per_seg("emg") / 60.0, (0.3, 2.0), (3.0, 15.0)), 0.1)
    )
    emg = up(emg_env)
    emg *= rng.standard_normal(len(ecg_clean), dtype=np.float32)
    emg += np.float32(0.03) * ecg_clean
    return emg


def chest_eda(
    eda_c: np.ndarray, p: dict, rng: np.random.Generator, up: Upsampler, n: int
) -> np.ndarray:
    """Chest EDA at 700 Hz: the skin conductance plus sensor noise."""
    eda = up(eda_c)
    eda += rng.standard_normal(n, dtype=np.float32) * np.float32(p["eda_noise"])
    return eda


def chest_resp(
    lat: Latent,
    p: dict,
    rng: np.random.Generator,
    up: Upsampler,
    resp_phase: np.ndarray,
    sin_resp: np.ndarray,
    depth_t: np.ndarray,
) -> np.ndarray:
    """Chest respiration belt: breathing wave with a harmonic, depth, drift and noise."""
    resp = np.sin(resp_phase * 2 + np.float32(0.5))
    resp *= np.float32(0.15)
    resp += sin_resp
    resp *= depth_t
    resp += up(ar1(rng, len(lat.t_c), 30.0, 0.3))
    resp += rng.standard_normal(len(resp), dtype=np.float32) * np.float32(0.02)
    resp *= np.float32(p["resp_amp"])
    return resp


def chest_temp(lat: Latent, p: dict, rng: np.random.Generator, up: Upsampler, n: int) -> np.ndarray:
    """Chest skin temperature (degC): slow drift plus sensor noise."""
    temp_c = p["temp"] + ar1(rng, len(lat.t_c), 300.0, 0.15)
    return up(temp_c) + rng.standard_normal(n, dtype=np.float32) * np.float32(0.003)


def chest_acc(
    lat: Latent,
    p: dict,
    rng: np.random.Generator,
    up: Upsampler,
    sin_resp: np.ndarray,
    depth_t: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Chest ACC (g), (n, 3): gravity in the current posture, gait, breathing, movement noise;
    also the subject's gait frequency (Hz), shared with the wrist."""
    n = len(sin_resp)
    g_c = p["g_chest"][None, :] + lat.tilt("tilt")
    g_c /= np.linalg.norm(g_c, axis=1, keepdims=True)
    gait_f = uniform(rng, 1.7, 2.1)
    gait = np.sin(up(2 * np.pi * gait_f * lat.t_c))
    gait *= up(lat.walk())
    breath = sin_resp * depth_t
    move_t = up(p["acc_noise"] * lat.per_seg("move"))
    acc = np.empty((3, n), np.float32)
    for i, (gw, rw) in enumerate(((0.15, 0.004), (0.05, 0.002), (0.08, 0.003))):
        a_i = acc[i]
        a_i[:] = up(g_c[:, i])
        a_i += np.float32(gw) * gait
        a_i += np.float32(rw) * breath
        a_i += move_t * rng.standard_normal(n, dtype=np.float32)
    return acc.T, gait_f

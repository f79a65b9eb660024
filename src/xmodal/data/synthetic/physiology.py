"""Signal generators: the WESAD chest and wrist modalities from a latent physiological state.

Physiology is generated from a small latent state on a 20 Hz grid (heart rate, breathing rate
and depth, HRV gains, EDA tonic level, SCR rate and size, movement, EMG bursts) that is rendered
to each signal's native rate with vectorised numpy:

* ECG: beat times from an instantaneous heart rate (class level + RSA at the breathing rate +
  ~0.1 Hz LF wave + slow noise, integrated to a beat phase); each beat is a sum of Gaussian
  P, Q, R, S, T waves (P/T offsets and widths scale with sqrt(RR)), plus baseline wander,
  powerline hum and muscle noise.
* BVP (wrist 64 Hz): one systolic + dicrotic pulse per ECG beat after a pulse transit time.
* EDA: tonic level (slow drift, class trend) + Bateman-shaped SCRs at Poisson times; chest at
  700 Hz, wrist at 4 Hz with its own gain, offset and noise.
* Resp, EMG (noise + bursts + ECG crosstalk), Temp, ACC (gravity + movement; wrist in 1/64 g
  integer steps like the E4).

The generators draw from one ``numpy.random.Generator`` in a fixed order (the order of the
calls in :func:`render`); that order defines the output for a seed.

Why not neurokit2's simulators (``ecg_simulate``, ``ppg_simulate``, ``eda_simulate``,
``rsp_simulate``, ``emg_simulate``)? They are fast enough and seedable: for 10 minutes at
700 Hz (PPG at 64 Hz) they take 0.26 s (ECG, ``method="simple"``; 8.3 s with ``"ecgsyn"``),
0.02 s (PPG), 0.31 s (EDA), 0.47 s (RSP, breathmetrics) and 0.24 s (EMG), against 0.17 s for
all ten modalities here, and the same ``random_state`` (an int or a ``Generator``) gives the
same signal without touching numpy's global state. But each takes one constant rate for the
whole call (``heart_rate``, ``respiratory_rate``; ``scr_number`` SCRs and ``burst_number``
EMG bursts spread evenly over the duration) and draws its own beats, so none can express what
the class structure rests on: a heart rate that follows the class, its time course and the
breathing beat by beat; BVP pulses that follow the ECG's beats; one skin conductance seen by
the chest and wrist sensors with a class-dependent SCR rate; levels that switch every 30 s in
coupled mode. Calling them once per segment and concatenating would reset each signal's
phase and baseline at every label boundary, a step that marks the segment change even in the
modalities that must carry no class information.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xmodal.data.synthetic.chest import (
    chest_acc,
    chest_ecg,
    chest_eda,
    chest_emg,
    chest_resp,
    chest_temp,
)
from xmodal.data.synthetic.latent import latent_state, skin_conductance
from xmodal.data.synthetic.protocol import CHEST_RATE, WRIST_RATES, Segment
from xmodal.data.synthetic.waveforms import Upsampler
from xmodal.data.synthetic.wrist import (
    wrist_acc,
    wrist_bvp,
    wrist_eda,
    wrist_temp,
    wrist_temperature,
)

__all__ = ["render"]


def render(
    n: int,
    segs: Sequence[Segment],
    table: list[dict],
    p: dict,
    rng: np.random.Generator,
    coupled: bool,
) -> tuple[dict, dict]:
    """Chest and wrist signals (unshaped arrays) for ``n`` chest samples driven by ``segs``.

    Returns
    -------
    chest, wrist : dict
        WESAD keys (``"ECG"``, ...) to 1-D arrays, or (len, 3) for ACC.
    """
    lat = latent_state(n, segs, table, p, rng, coupled)
    t = np.arange(n) / CHEST_RATE
    up = Upsampler(t, lat.t_c)
    ecg, ecg_clean = chest_ecg(lat, p, rng, t, up)
    emg = chest_emg(lat, p, rng, up, ecg_clean)
    del ecg_clean
    eda_c = skin_conductance(lat, p, rng)
    eda = chest_eda(eda_c, p, rng, up, n)
    resp_phase = up(lat.resp_phase_c)
    sin_resp = np.sin(resp_phase)
    depth_t = up(lat.depth)
    resp = chest_resp(lat, p, rng, up, resp_phase, sin_resp, depth_t)
    del resp_phase
    temp = chest_temp(lat, p, rng, up, n)
    wtemp_c = wrist_temperature(lat, p, rng)
    acc, gait_f = chest_acc(lat, p, rng, up, sin_resp, depth_t)
    del sin_resp, depth_t

    lens = {k: int(round(n / CHEST_RATE * r)) for k, r in WRIST_RATES.items()}
    wrist = {
        "ACC": wrist_acc(lat, p, rng, lens["ACC"], gait_f),
        "BVP": wrist_bvp(lat, p, rng, lens["BVP"]),
        "EDA": wrist_eda(lat, eda_c, p, rng, lens["EDA"]),
        "TEMP": wrist_temp(lat, wtemp_c, rng, lens["TEMP"]),
    }
    chest = {"ACC": acc, "ECG": ecg, "EMG": emg, "EDA": eda, "Temp": temp, "Resp": resp}
    return chest, wrist

"""A responder population: people differ in which sensors carry their stress and amusement.

Real people differ in which physiological channel expresses their response: on some the skin
conductance nearly solves baseline/stress/amusement while the pulse says little; on others the
heart rate and its variability do and the skin conductance is flat. With ``responders=True``
each simulated subject draws, per class (stress, amusement) and per response channel, whether
that channel responds and how strongly (:func:`draw_profile`); the subject's class effects are
then scaled towards baseline by these strengths (:func:`apply_profile`). A strength of 0 makes
the channel's effects equal to baseline for that class, so the modalities fed by that channel
carry nothing about it (only the class-independent variation stays); 1 is the default
simulator's effect size.

Channels and the class effects (of :func:`~xmodal.data.synthetic.variation.subject_params`)
they scale:

* ``cardiac``: heart rate, breathing rate and depth, RSA and LF heart-rate variability
  (``chest.ECG``, ``chest.Resp``, ``wrist.BVP``);
* ``electrodermal``: tonic level, SCR rate and SCR size (``chest.EDA``, ``wrist.EDA``);
* ``thermal``: wrist skin temperature trend (``wrist.TEMP``);
* ``motor``: movement and muscle activity (``chest.ACC``, ``chest.EMG``, ``wrist.ACC``).

The draws use their own random stream (a jump of the subject's generator), so a responder
dataset has the same protocol, labels and noise as the ordinary dataset of the same seed and
differs only in the effect sizes.
"""

from __future__ import annotations

import numpy as np

from xmodal.data.synthetic.protocol import AMUSEMENT, BASELINE, STRESS

__all__ = [
    "CHANNELS",
    "RESPONSE_CLASSES",
    "SILENT_P",
    "STRENGTH",
    "apply_profile",
    "draw_profile",
    "profile_summary",
    "responder_rng",
]

#: response channel -> (class-effect keys it scales, modalities it feeds)
CHANNELS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cardiac": (("hr", "br", "depth", "rsa", "lf"), ("chest.ECG", "chest.Resp", "wrist.BVP")),
    "electrodermal": (("eda", "scr", "amp"), ("chest.EDA", "wrist.EDA")),
    "thermal": (("wtemp",), ("wrist.TEMP",)),
    "motor": (("move", "emg"), ("chest.ACC", "chest.EMG", "wrist.ACC")),
}
#: classes whose effects a profile scales (meditation keeps the default effects)
RESPONSE_CLASSES: dict[int, str] = {STRESS: "stress", AMUSEMENT: "amusement"}
#: probability that a channel is silent (strength 0) for one class
SILENT_P = 0.4
#: range of a responding channel's strength (1 = the default effect size)
STRENGTH = (0.4, 1.4)
#: effects whose baseline value is 0 are scaled additively, the others (ratios) geometrically
_ADDITIVE = ("hr", "eda", "wtemp")
#: at least one of these channels responds to every class, so every person is learnable
_PRIMARY = ("cardiac", "electrodermal")


def responder_rng(rng: np.random.Generator) -> np.random.Generator:
    """The profile's own stream: two jumps ahead of ``rng`` (``rng`` is not advanced).

    One jump is the decoy stream of uninformative modalities; two jumps do not overlap either.
    """
    return np.random.Generator(rng.bit_generator.jumped(2))


def draw_profile(rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """One person's response strengths: ``{class name: {channel: strength}}``.

    Per class and channel: silent (0.0) with probability :data:`SILENT_P`, else a strength
    uniform in :data:`STRENGTH`. If both ``cardiac`` and ``electrodermal`` came out silent for
    a class, one of them (drawn) responds with a fresh strength.
    """
    profile: dict[str, dict[str, float]] = {}
    for name in RESPONSE_CLASSES.values():
        silent = rng.random(len(CHANNELS)) < SILENT_P
        strength = rng.uniform(*STRENGTH, len(CHANNELS))
        row = {ch: 0.0 if s else round(float(v), 3) for ch, s, v in zip(CHANNELS, silent, strength)}
        if all(row[ch] == 0.0 for ch in _PRIMARY):
            row[_PRIMARY[int(rng.integers(0, len(_PRIMARY)))]] = round(
                float(rng.uniform(*STRENGTH)), 3
            )
        profile[name] = row
    return profile


def apply_profile(effects: dict[int, dict], profile: dict[str, dict[str, float]]) -> None:
    """Scale the stress and amusement effects of ``effects`` (in place) towards baseline.

    With strength ``s`` an additive effect ``e`` (baseline ``b``) becomes ``b + s (e - b)``,
    a ratio becomes ``b (e / b) ** s``; ``s = 0`` gives the baseline value.
    """
    base = effects[BASELINE]
    for code, name in RESPONSE_CLASSES.items():
        eff = effects[code]
        for channel, s in profile[name].items():
            for key in CHANNELS[channel][0]:
                b, e = float(base[key]), float(eff[key])
                eff[key] = b + s * (e - b) if key in _ADDITIVE else b * (e / b) ** s


def profile_summary(profile: dict[str, dict[str, float]]) -> str:
    """``"stress: cardiac+motor; amusement: electrodermal"``: the responding channels."""
    return "; ".join(
        f"{name}: " + ("+".join(ch for ch, s in row.items() if s > 0) or "none")
        for name, row in profile.items()
    )

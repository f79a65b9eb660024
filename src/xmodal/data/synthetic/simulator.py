"""Simulated subjects: the protocol, the subject's variation and the physiology put together.

``uninformative=("chest.ECG", ...)`` makes the named modalities carry no class information:
they are rendered for the same subject (same subject-level parameters, e.g. resting heart rate,
EDA level, effect sizes) from a second, independent random stream under a decoy schedule
instead of the protocol (see :func:`~xmodal.data.synthetic.protocol.decoy_protocol`). So every
parameter the simulator varies by class or segment (heart rate and its time course, RSA/LF HRV,
breathing rate and depth, EDA tonic level, SCR rate and size, EMG bursts, movement, walking,
posture, wrist temperature, vasoconstriction) follows the same distribution in every class and
changes at times unrelated to the label sequence; the rendered modality is the same whatever
the labels are. Other modalities are unchanged (identical to the default for the same seed);
a modality derived from another one keeps its own source (e.g. an uninformative
``chest.ECG`` leaves the informative ``wrist.BVP`` and the ECG crosstalk in ``chest.EMG`` as
they are; an uninformative ``chest.EMG`` has crosstalk only from the decoy ECG).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xmodal.data.synthetic.physiology import render
from xmodal.data.synthetic.protocol import (
    CHEST_RATE,
    Segment,
    SimulationError,
    check_uninformative,
    decoy_protocol,
    label_array,
    protocol_segments,
    subject_ids,
)
from xmodal.data.synthetic.responders import (
    CHANNELS,
    SILENT_P,
    STRENGTH,
    apply_profile,
    draw_profile,
    profile_summary,
    responder_rng,
)
from xmodal.data.synthetic.variation import segment_table, subject_params
from xmodal.data.synthetic.wesad_writer import readme_text, write_subject
from xmodal.files import atomic_write_bytes

#: file beside the subjects holding each subject's drawn response profile (``responders``)
RESPONDERS_FILE = "responders.json"

__all__ = ["RESPONDERS_FILE", "responders_json", "simulate_subject", "simulate_wesad"]


def _side_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator whose stream does not overlap ``rng``'s; ``rng`` is not advanced."""
    bg = rng.bit_generator
    if hasattr(bg, "jumped"):
        return np.random.Generator(bg.jumped())
    return np.random.default_rng(bg.seed_seq.spawn(1)[0])


def _simulate(
    subject: str,
    minutes: float,
    rng: np.random.Generator,
    coupled: bool,
    uninformative: tuple[str, ...] = (),
    responders: bool = False,
) -> tuple[dict, list[Segment], dict]:
    """The WESAD dict plus the protocol segments and subject metadata.

    With ``responders`` the metadata hold the drawn response profile under ``"profile"``.
    """
    try:
        minutes = float(minutes)
    except (TypeError, ValueError):
        raise SimulationError(f"minutes must be a positive number, got {minutes!r}") from None
    if not (math.isfinite(minutes) and minutes > 0):
        raise SimulationError(f"minutes must be a positive number, got {minutes!r}")
    # taken before any draw, so the decoy stream is the same whatever the protocol is
    side = _side_rng(rng) if uninformative else None
    profile = draw_profile(responder_rng(rng)) if responders else None
    n = int(round(minutes * 60 * CHEST_RATE))
    stress_first = bool(rng.random() < 0.5)
    segs = protocol_segments(n, stress_first)
    p = subject_params(rng)
    if profile is not None:
        apply_profile(p["effects"], profile)
    table = segment_table(rng, segs, p, coupled)
    chest, wrist = render(n, segs, table, p, rng, coupled)
    if uninformative:
        # the same subject under a decoy protocol that has nothing to do with the labels
        decoy = decoy_protocol(side, n / CHEST_RATE)
        d_chest, d_wrist = render(n, decoy, segment_table(side, decoy, p, False), p, side, False)
        for name in uninformative:
            device, key = name.split(".")
            if device == "chest":
                chest[key] = d_chest[key]
            else:
                wrist[key] = d_wrist[key]
        del d_chest, d_wrist

    def col(x):
        return np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(len(x), -1))

    data = {
        "subject": subject,
        "signal": {
            "chest": {k: col(chest[k]) for k in ("ACC", "ECG", "EMG", "EDA", "Temp", "Resp")},
            "wrist": {k: col(wrist[k]) for k in ("ACC", "BVP", "EDA", "TEMP")},
        },
        "label": label_array(segs, n),
    }
    meta = {
        "stress_first": stress_first,
        "age": int(rng.integers(21, 36)),
        "gender": "female" if rng.random() < 0.2 else "male",
        "height": int(rng.integers(160, 195)),
        "weight": int(rng.integers(55, 95)),
        "hand": "left" if rng.random() < 0.1 else "right",
    }
    if profile is not None:
        meta["profile"] = profile
    return data, segs, meta


def simulate_subject(
    subject: str,
    minutes: float,
    rng: np.random.Generator,
    coupled: bool = False,
    uninformative: Sequence[str] = (),
    responders: bool = False,
) -> dict:
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
        If true, classes are separable only from ECG and EDA together (see
        :func:`~xmodal.data.synthetic.protocol.coupled_levels`).
    uninformative : sequence of str
        Modalities (names in ``MODALITIES``, e.g. ``"chest.ECG"``) rendered from
        class-independent physiology; see :func:`simulate_wesad`.
    responders : bool
        Draw the subject's response profile (see :mod:`~xmodal.data.synthetic.responders`).

    Returns
    -------
    dict
        ``{"subject", "signal": {"chest": {...}, "wrist": {...}}, "label"}`` with float64
        arrays of shape (n, 1) / (n, 3) and int32 labels at 700 Hz.
    """
    _check_responders(responders, coupled)
    names = check_uninformative(uninformative, coupled)
    return _simulate(subject, minutes, rng, coupled, names, responders)[0]


def _check_responders(responders: bool, coupled: bool) -> None:
    if responders and coupled:
        raise SimulationError(
            "responders cannot be combined with coupled: coupled mode switches off the class "
            "effects that a response profile scales"
        )


def simulate_wesad(
    out: Path,
    subjects: int = 6,
    minutes: float = 20.0,
    seed: int = 0,
    coupled: bool = False,
    uninformative: Sequence[str] = (),
    responders: bool = False,
) -> list[str]:
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
        Classes separable only from ECG and EDA together (see
        :func:`~xmodal.data.synthetic.protocol.coupled_levels`).
    uninformative : sequence of str
        Modalities (names in ``MODALITIES``, e.g. ``"chest.ECG"``) that carry no class
        information: they are rendered for the same subject under a decoy schedule drawn
        independently of the labels (see this module's docs). All other modalities, the labels
        and the quest file are identical to those written without this option. Cannot be
        combined with ``coupled``, where each modality alone is already uninformative.
    responders : bool
        A responder population: each subject draws which response channels (cardiac,
        electrodermal, thermal, motor) respond to stress and to amusement, and how strongly
        (see :mod:`~xmodal.data.synthetic.responders`). The profiles are written to
        ``out/responders.json``. Everything else (protocol, labels, noise) is identical to the
        dataset written without this option. Cannot be combined with ``coupled``.

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
    uninformative = check_uninformative(uninformative, coupled)
    _check_responders(responders, coupled)
    out = Path(out)
    ids = subject_ids(int(subjects))
    profiles = {}
    for sid in ids:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(sid[1:])]))
        data, segs, meta = _simulate(sid, minutes, rng, coupled, uninformative, responders)
        write_subject(
            out, data, segs, readme_text(sid, meta, seed, minutes, coupled, uninformative)
        )
        if responders:
            profiles[sid] = meta["profile"]
    stale = out / RESPONDERS_FILE
    if responders:
        atomic_write_bytes(stale, responders_json(profiles, seed).encode())
    elif stale.is_file():  # a profile file from an earlier responder run would mislead
        stale.unlink()
    return ids


def responders_json(profiles: dict[str, dict], seed: int) -> str:
    """The text of ``responders.json``: how profiles are drawn and each subject's profile."""
    doc = {
        "seed": int(seed),
        "silent_probability": SILENT_P,
        "strength_range": list(STRENGTH),
        "channels": {ch: list(mods) for ch, (_, mods) in CHANNELS.items()},
        "subjects": {
            sid: {**prof, "responding": profile_summary(prof)} for sid, prof in profiles.items()
        },
    }
    return json.dumps(doc, indent=2) + "\n"

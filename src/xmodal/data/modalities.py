"""WESAD modality names, native sampling rates and channel counts."""

from __future__ import annotations

from xmodal.errors import ConfigError

CHEST_RATE = 700.0
LABEL_RATE = 700.0

#: modality name -> (native rate in Hz, number of channels)
WESAD_MODALITIES: dict[str, tuple[float, int]] = {
    "chest.ECG": (700.0, 1),
    "chest.EDA": (700.0, 1),
    "chest.EMG": (700.0, 1),
    "chest.Resp": (700.0, 1),
    "chest.Temp": (700.0, 1),
    "chest.ACC": (700.0, 3),
    "wrist.BVP": (64.0, 1),
    "wrist.EDA": (4.0, 1),
    "wrist.TEMP": (4.0, 1),
    "wrist.ACC": (32.0, 3),
}

#: WESAD raw label codes
WESAD_LABELS = {0: "transient", 1: "baseline", 2: "stress", 3: "amusement", 4: "meditation"}

#: WESAD subjects (S1 and S12 do not exist)
WESAD_SUBJECTS = tuple(f"S{i}" for i in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17))


def signal_kind(modality: str) -> str:
    """Physiological kind of a modality name: ``ecg``, ``eda``, ``bvp``, ``resp``, ...

    ``"chest.ECG"`` -> ``"ecg"``; ``"wrist.TEMP"`` -> ``"temp"``; ``"hand_gsr"`` -> ``"eda"``.
    """
    name = modality.split(".")[-1].lower()
    aliases = {
        "gsr": "eda",
        "hand_gsr": "eda",
        "foot_gsr": "eda",
        "resp": "resp",
        "rsp": "resp",
        "ppg": "bvp",
        "hr": "hr",
    }
    return aliases.get(name, name)


def validate_wesad_modalities(modalities: list[str] | tuple[str, ...]) -> None:
    """Raise a ConfigError naming the valid WESAD modalities if one is unknown or repeated."""
    unknown = [m for m in modalities if m not in WESAD_MODALITIES]
    if unknown:
        raise ConfigError(f"unknown modality {unknown[0]!r}; valid: {', '.join(WESAD_MODALITIES)}")
    if len(set(modalities)) != len(modalities):
        raise ConfigError(f"modality listed twice in {list(modalities)}")
    if not modalities:
        raise ConfigError("no modality given")

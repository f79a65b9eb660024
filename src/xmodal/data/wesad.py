"""WESAD adapter: ``ROOT/SX/SX.pkl`` files -> :class:`~xmodal.data.recording.Recording`.

Each ``SX.pkl`` holds ``{"signal": {"chest": {...}, "wrist": {...}}, "label": (n,),
"subject": "SX"}``: chest signals (RespiBAN) and labels at 700 Hz on one time base starting at
t = 0, wrist signals (Empatica E4) at their native rates on the same time base. Files are read
with the restricted unpickler of :mod:`xmodal.data.safe_pickle`, one subject at a time; only the
requested modalities are kept (as float32) and every other array is released as soon as the
file is parsed. NaN and inf are left in place for preprocessing to repair or reject.

The module is long because an untrusted pickle is checked key by key and array by array, each
with a one-line error naming the file and key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.data.adapter import DatasetAdapter
from xmodal.data.modalities import (
    LABEL_RATE,
    WESAD_LABELS,
    WESAD_MODALITIES,
    validate_wesad_modalities,
)
from xmodal.data.recording import Recording, Signal
from xmodal.data.safe_pickle import load_pickle
from xmodal.data.tasks import Task
from xmodal.errors import DataError

__all__ = ["WESAD_TASKS", "WesadAdapter", "find_wesad_subjects", "load_wesad_subject", "load_wesad"]

_SUBJECT_RE = re.compile(r"^[Ss](\d+)$")

#: WESAD tasks (the default is :data:`WESAD_DEFAULT_TASK`)
WESAD_TASKS: dict[str, Task] = {
    "binary": Task("binary", ("non-stress", "stress"), {1: 0, 3: 0, 2: 1}),
    "3class": Task("3class", ("baseline", "stress", "amusement"), {1: 0, 2: 1, 3: 2}),
    "4class": Task(
        "4class", ("baseline", "stress", "amusement", "meditation"), {1: 0, 2: 1, 3: 2, 4: 3}
    ),
}
#: modalities and task used when none are given
WESAD_DEFAULT_MODALITIES = ("chest.ECG", "chest.EDA")
WESAD_DEFAULT_TASK = "3class"

#: Largest valid WESAD label code (0 transient, 1-4 conditions, 5-7 ignore).
MAX_LABEL = 7
#: A wrist signal may differ from the label duration by max(2 s, 1 %) before it is rejected.
WRIST_TOLERANCE_S = 2.0
WRIST_TOLERANCE_FRAC = 0.01


def _subject_number(name: str) -> int | None:
    m = _SUBJECT_RE.match(name)
    return int(m.group(1)) if m else None


def _normalise_subject(subject: Any) -> str:
    """``"S2"``, ``"s2"``, ``"2"`` or ``2`` -> ``"S2"``; anything else is returned stripped."""
    text = str(subject).strip()
    if text.isdigit():
        return f"S{int(text)}"
    number = _subject_number(text)
    return f"S{number}" if number is not None else text


def _sort_key(name: str) -> tuple[int, int, str]:
    number = _subject_number(name)
    return (0, number, "") if number is not None else (1, 0, name)


def find_wesad_subjects(root: Path | str, subjects: Sequence[str] = ()) -> dict[str, Path]:
    """Find the subjects' pickle files under a WESAD root.

    Parameters
    ----------
    root : Path
        One of: the WESAD folder (``root/S2/S2.pkl``, ``root/S3/S3.pkl``, ...; any
        ``S<number>`` folder holding ``S<number>.pkl`` counts, flat ``root/S<number>.pkl`` files
        too), a single subject folder (``.../S2`` holding ``S2.pkl``), or a single ``.pkl`` file
        (its stem names the subject).
    subjects : sequence of str
        Subjects to return (``"S2"``; ``"2"`` is accepted too); empty for all found.

    Returns
    -------
    dict of str to Path
        Subject -> pickle path, sorted numerically (S2, S3, ..., S10, ...).

    Raises
    ------
    DataError
        ``root`` is missing, is neither a folder nor a ``.pkl`` file, holds no subject, a
        requested subject is absent (the message lists those found), or a subject folder lacks
        its pickle.
    """
    root = Path(root)
    wanted = list(dict.fromkeys(_normalise_subject(s) for s in subjects))
    if not root.exists():
        raise DataError(f"{root}: WESAD data not found (no such file or directory)")

    found: dict[str, Path] = {}
    without_pkl: dict[str, Path] = {}
    if root.is_file():
        if root.suffix.lower() != ".pkl":
            raise DataError(f"{root}: not a WESAD folder nor a .pkl file")
        found[_normalise_subject(root.stem)] = root
    elif not root.is_dir():
        raise DataError(f"{root}: not a WESAD folder nor a .pkl file")
    elif _subject_number(root.name) is not None and (root / f"{root.name}.pkl").is_file():
        found[_normalise_subject(root.name)] = root / f"{root.name}.pkl"
    else:
        try:
            entries = sorted(root.iterdir())
        except OSError as e:
            raise DataError(f"{root}: cannot list folder ({e.strerror or e})") from None
        for entry in entries:
            if entry.is_dir() and _subject_number(entry.name) is not None:
                name = _normalise_subject(entry.name)
                pkl = entry / f"{entry.name}.pkl"
                if pkl.is_file():
                    found[name] = pkl
                elif name not in found:
                    without_pkl[name] = pkl
        for entry in entries:  # flat layout: root/S2.pkl (a folder S2/S2.pkl wins)
            if (
                entry.is_file()
                and entry.suffix.lower() == ".pkl"
                and _subject_number(entry.stem) is not None
            ):
                name = _normalise_subject(entry.stem)
                if name not in found:
                    found[name] = entry
                    without_pkl.pop(name, None)
        if not found and not without_pkl:
            raise DataError(
                f"{root}: no WESAD subject found (expected folders S<number> "
                "holding S<number>.pkl, e.g. S2/S2.pkl)"
            )

    if wanted:
        for name in wanted:
            if name in without_pkl:
                raise DataError(
                    f"{without_pkl[name].parent}: subject folder without its "
                    f"pickle {without_pkl[name].name}"
                )
            if name not in found:
                listed = ", ".join(sorted(found, key=_sort_key)) or "none"
                raise DataError(f"{root}: subject {name} not found (found: {listed})")
        selected = {name: found[name] for name in wanted}
    else:
        for name in sorted(without_pkl, key=_sort_key):
            raise DataError(
                f"{without_pkl[name].parent}: subject folder without its "
                f"pickle {without_pkl[name].name}"
            )
        selected = found
    return {name: selected[name] for name in sorted(selected, key=_sort_key)}


def _key(modality: str) -> str:
    """``"chest.ECG"`` -> ``"signal/chest/ECG"`` (the key path named in error messages)."""
    return "signal/" + modality.replace(".", "/", 1)


def _release(d: Any, depth: int = 3) -> None:
    """Clear nested dicts (to ``depth`` levels) so that the arrays they hold are freed."""
    if isinstance(d, dict):
        if depth > 1:
            for value in d.values():
                _release(value, depth - 1)
        d.clear()


def _text(value: Any) -> Any:
    return value.decode("latin1") if isinstance(value, bytes) else value


def _as_dict(value: Any, where: str, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(f"{where}: {key} is a {type(value).__name__}, expected a dict")
    if any(isinstance(k, bytes) for k in value):
        # Python-2 pickles read with encoding="bytes" have bytes keys; keep the objects.
        value = {_text(k): v for k, v in value.items()}
    return value


def _check_array(value: Any, where: str, key: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise DataError(
            f"{where}: {key} is a {type(value).__name__}, expected a numeric numpy array"
        )
    if value.dtype.kind not in "biuf":
        raise DataError(f"{where}: {key} has dtype {value.dtype}, expected a numeric array")
    if value.size == 0:
        raise DataError(f"{where}: {key} is empty (shape {value.shape})")
    return value


def _labels(value: Any, where: str) -> np.ndarray:
    labels = _check_array(value, where, "label")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{where}: label has shape {labels.shape}, expected (n,)")
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{where}: label holds non-integer value {float(labels[i]):g} at sample "
                f"{i} (t = {i / LABEL_RATE:.3f} s)"
            )
    lo, hi = labels.min(), labels.max()
    if lo < 0 or hi > MAX_LABEL:
        bad_value = lo if lo < 0 else hi
        raise DataError(f"{where}: label holds code {bad_value:g} outside 0..{MAX_LABEL}")
    return labels.astype(np.int8)


def load_wesad_subject(
    path: Path | str, modalities: Sequence[str], subject: str | None = None
) -> Recording:
    """Load one WESAD subject's pickle, keeping only the requested modalities.

    Parameters
    ----------
    path : Path
        The subject's ``SX.pkl`` (a subject folder is accepted too).
    modalities : sequence of str
        WESAD modality names, e.g. ``["chest.ECG", "chest.EDA"]``.
    subject : str, optional
        Subject name; defaults to the pickle's ``subject`` entry, else the file stem.

    Returns
    -------
    Recording
        Signals as float32 ``(n, channels)`` arrays at their native rates (chest 700 Hz,
        wrist ACC 32 / BVP 64 / EDA 4 / TEMP 4 Hz), all starting at t = 0 of the 700 Hz label
        time base; labels as int8 codes 0..7.

    Raises
    ------
    ConfigError
        An unknown or repeated modality name.
    UnsafePickleError
        The pickle references anything but numpy arrays.
    DataError
        Missing, truncated or malformed file; the message names file, subject and key, e.g.
        ``.../S3.pkl (subject S3): missing key signal/chest/ECG``.
    """
    modalities = list(modalities)
    validate_wesad_modalities(modalities)
    path = Path(path)
    if path.is_dir():
        found = find_wesad_subjects(path, [subject] if subject else ())
        if len(found) != 1:
            raise DataError(f"{path}: holds {len(found)} subjects; pass one subject's .pkl")
        path = next(iter(found.values()))

    obj = load_pickle(path)
    try:
        return _parse(obj, path, modalities, subject)
    finally:
        del obj


def _parse(obj: Any, path: Path, modalities: list[str], subject: str | None) -> Recording:
    if not isinstance(obj, dict):
        raise DataError(
            f"{path}: top level is a {type(obj).__name__}, expected the WESAD "
            "dict with keys signal, label, subject"
        )
    top = _as_dict(obj, str(path), "top level")
    if subject is None:
        stored = _text(top.get("subject"))
        subject = stored.strip() if isinstance(stored, str) and stored.strip() else path.stem
    where = f"{path} (subject {subject})"

    signal: dict[str, Any] = {}
    devices: dict[str, dict[str, Any]] = {}
    raw: dict[str, np.ndarray] = {}
    try:
        if "label" not in top:
            raise DataError(f"{where}: missing key label")
        if "signal" not in top:
            raise DataError(f"{where}: missing key signal")
        signal = _as_dict(top["signal"], where, "signal")
        for modality in modalities:
            device, key = modality.split(".", 1)
            if device not in devices:
                if device not in signal:
                    present = ", ".join(f"signal/{d}" for d in signal) or "none"
                    raise DataError(f"{where}: missing key signal/{device} (present: {present})")
                devices[device] = _as_dict(signal[device], where, f"signal/{device}")
            if key not in devices[device]:
                present = ", ".join(str(k) for k in devices[device]) or "none"
                raise DataError(f"{where}: missing key signal/{device}/{key} (present: {present})")
            raw[modality] = _check_array(devices[device][key], where, _key(modality))
        labels = _labels(top["label"], where)
    finally:
        # Drop every reference the pickle holds except the requested arrays (in ``raw``), so
        # that unrequested arrays are freed before anything is converted.
        for d in (obj, top, signal, *devices.values()):
            _release(d)

    n_labels = len(labels)
    label_seconds = n_labels / LABEL_RATE
    signals: dict[str, Signal] = {}
    for modality in modalities:
        x = raw.pop(modality)
        key = _key(modality)
        rate, channels = WESAD_MODALITIES[modality]
        if x.ndim == 1 and channels == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != channels:
            expected = "(n, 3)" if channels == 3 else "(n,) or (n, 1)"
            raise DataError(f"{where}: {key} has shape {x.shape}, expected {expected}")
        n = x.shape[0]
        if modality.startswith("chest."):
            if n != n_labels:
                raise DataError(
                    f"{where}: {key} has {n} samples but label has {n_labels} "
                    f"(chest signals share the {LABEL_RATE:g} Hz label time base)"
                )
        else:
            seconds = n / rate
            tolerance = max(WRIST_TOLERANCE_S, WRIST_TOLERANCE_FRAC * label_seconds)
            if abs(seconds - label_seconds) > tolerance:
                raise DataError(
                    f"{where}: {key} lasts {seconds:.1f} s ({n} samples at "
                    f"{rate:g} Hz) but label lasts {label_seconds:.1f} s "
                    f"({n_labels} samples at {LABEL_RATE:g} Hz)"
                )
        data = np.array(x, dtype=np.float32, order="C", copy=True)
        del x  # the float64 original is freed here (the pickle no longer holds it)
        signals[modality] = Signal(data=data, rate=float(rate))

    return Recording(
        subject=subject,
        signals=signals,
        labels=labels,
        label_rate=LABEL_RATE,
        source=path,
        dataset="wesad",
    )


def load_wesad(root: Path | str, modalities: Sequence[str], subjects: Sequence[str] = ()):
    """Yield the requested subjects' recordings one at a time (see :func:`find_wesad_subjects`).

    Only one subject's full pickle is in memory at any moment.
    """
    validate_wesad_modalities(list(modalities))
    for name, path in find_wesad_subjects(root, subjects).items():
        yield load_wesad_subject(path, modalities, subject=name)


def load_wesad_present(path: Path | str, subject: str | None = None) -> Recording:
    """Load every known modality present in one subject's pickle (for ``xmodal datasets``).

    The pickle is read once; a chest-only or wrist-only file gives only its own modalities.
    """
    path = Path(path)
    obj = load_pickle(path)
    try:
        top = _as_dict(obj, str(path), "top level") if isinstance(obj, dict) else {}
        signal = top.get("signal", {})
        signal = _as_dict(signal, str(path), "signal") if isinstance(signal, dict) else {}
        present = []
        for modality in WESAD_MODALITIES:
            device, key = modality.split(".", 1)
            entry = signal.get(device)
            if isinstance(entry, dict) and key in _as_dict(entry, str(path), f"signal/{device}"):
                present.append(modality)
        if not present:
            raise DataError(
                f"{path} (subject {subject or path.stem}): no known signal under "
                f"signal/chest or signal/wrist (valid: {', '.join(WESAD_MODALITIES)})"
            )
        return _parse(obj, path, present, subject)
    finally:
        del obj


class WesadAdapter(DatasetAdapter):
    """WESAD: ``ROOT/SX/SX.pkl`` pickles with chest and wrist signals and labels at 700 Hz."""

    name = "wesad"

    def detects(self, path: Path) -> bool:
        """A ``.pkl`` file, a subject folder ``SX`` or a folder of ``SX``/``SX.pkl`` entries."""
        path = Path(path)
        if path.is_file():
            return path.suffix.lower() == ".pkl"
        if not path.is_dir():
            return False
        return any(
            _subject_number(p.stem if p.is_file() else p.name) is not None
            and (p.is_dir() or p.suffix.lower() == ".pkl")
            for p in path.iterdir()
        )

    def find_subjects(self, path: Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
        return find_wesad_subjects(Path(path), tuple(subjects))

    def load(
        self,
        file: Path,
        modalities: Sequence[str],
        subject: str,
        root: Path | None = None,
        labels: Path | None = None,
    ) -> Recording:
        """Load one pickle (``root`` and ``labels`` are not used: labels are in the pickle)."""
        return load_wesad_subject(Path(file), tuple(modalities), subject)

    def load_present(
        self, file: Path, subject: str, root: Path | None = None, labels: Path | None = None
    ) -> Recording:
        return load_wesad_present(file, subject)

    def modalities(self, path: Path | None = None) -> tuple[str, ...]:
        return tuple(WESAD_MODALITIES)

    def default_modalities(self, path: Path | None = None) -> tuple[str, ...]:
        return WESAD_DEFAULT_MODALITIES

    def validate_modalities(self, modalities: Sequence[str], path: Path | None = None) -> None:
        validate_wesad_modalities(tuple(modalities))

    def tasks(self, path: Path | None = None) -> dict[str, Task]:
        return WESAD_TASKS

    def default_task(self, path: Path | None = None) -> str:
        return WESAD_DEFAULT_TASK

    def label_names(self, path: Path | None = None) -> dict[int, str]:
        return {**WESAD_LABELS, 5: "ignore (5)", 6: "ignore (6)", 7: "ignore (7)"}

    def label_files(self, path: Path, labels: Path | None = None) -> list[Path]:
        """None: the labels are part of each pickle."""
        return []

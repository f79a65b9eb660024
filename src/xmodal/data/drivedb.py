"""PhysioNet drivedb adapter: WFDB records -> :class:`~xmodal.data.recording.Recording`.

"Stress Recognition in Automobile Drivers" (Healey & Picard, IEEE T-ITS 2005; PhysioNet,
ODC-By). Each record ``driveNN`` is a ``.hea`` header plus a ``.dat`` file read with the
``wfdb`` package. Records are multi-rate: every signal has its own samples per frame (drive05:
ECG 32 x 15.5 = 496 Hz, GSR and RESP 31 Hz, EMG and HR 15.5 Hz), so signals are read
unsmoothed at their native rates; all start at t = 0 of the record. Modality names are the
header names normalised to identifiers (``"hand GSR"`` -> ``hand_gsr``); the ``marker`` channel
is not offered (it marks the segment boundaries, i.e. the labels).

Labels come from a segments CSV (``record,segment,stress_level,start_s,end_s``; 0 rest,
1 highway, 2 city), given explicitly or found beside the records. They are stored as raw codes
at :data:`LABEL_RATE`: 0 unlabelled, 1 rest, 2 highway, 3 city. Records without segments load
unlabelled (for prediction).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xmodal.data.adapter import DatasetAdapter
from xmodal.data.recording import Recording, Signal
from xmodal.data.segments import Segment, read_segments, segments_to_labels
from xmodal.data.tasks import Task
from xmodal.errors import ConfigError, DataError

__all__ = [
    "DRIVEDB_MODALITIES",
    "DRIVEDB_LABELS",
    "DRIVEDB_TASKS",
    "LABEL_RATE",
    "DrivedbAdapter",
    "normalise_name",
    "find_drivedb_records",
    "drivedb_signals",
    "find_segments",
    "load_drivedb_record",
]

#: modality names of the published records (the headers' names, normalised)
DRIVEDB_MODALITIES = ("ecg", "emg", "foot_gsr", "hand_gsr", "hr", "resp")
#: header channels never offered as modalities
IGNORED_CHANNELS = ("marker",)
#: raw label codes (0 = unlabelled, so that the published 0 "rest" is code 1)
DRIVEDB_LABELS = {0: "unlabelled", 1: "rest", 2: "highway", 3: "city"}
#: tasks over the raw codes, the default first
DRIVEDB_TASKS: dict[str, Task] = {
    "drive3": Task("drive3", ("rest", "highway", "city"), {1: 0, 2: 1, 3: 2}),
    "drive2": Task("drive2", ("rest", "city"), {1: 0, 3: 1}),
}
#: modalities preferred as the default pair, in order
PREFERRED_MODALITIES = ("ecg", "hand_gsr", "foot_gsr")
#: label samples per second (segment bounds are given to 0.1 s at best)
LABEL_RATE = 10.0
#: segment label text -> raw code
_LABEL_CODES = {"0": 1, "1": 2, "2": 3, "rest": 1, "highway": 2, "city": 3}


def normalise_name(name: str) -> str:
    """Header signal name to a modality identifier: ``"foot GSR"`` -> ``"foot_gsr"``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _natural(name: str) -> tuple:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else -1, name)


def find_drivedb_records(root: Path | str, records: Sequence[str] = ()) -> dict[str, Path]:
    """Records (``.hea`` headers) under ``root``: a folder, a ``.hea``/``.dat`` file or a record path.

    Returns
    -------
    dict of str to Path
        Record name -> header path, in natural order.

    Raises
    ------
    DataError
        Nothing found, or a requested record is absent (the message lists those found).
    """
    root = Path(root)
    if root.is_dir():
        try:
            found = {p.stem: p for p in root.iterdir() if p.suffix == ".hea" and p.is_file()}
        except OSError as exc:
            raise DataError(f"{root}: cannot list folder ({exc.strerror or exc})") from None
        if not found:
            raise DataError(f"{root}: no WFDB record found (expected driveNN.hea + driveNN.dat)")
    else:
        if root.suffix in (".hea", ".dat"):
            header = root.with_suffix(".hea")
        else:
            header = root.parent / f"{root.name}.hea"
        if not header.is_file():
            raise DataError(f"{root}: drivedb data not found (no such record, file or folder)")
        found = {header.stem: header}
    wanted = list(dict.fromkeys(str(r).strip() for r in records))
    for name in wanted:
        if name not in found:
            raise DataError(
                f"{root}: record {name} not found (found: {', '.join(sorted(found, key=_natural))})"
            )
    names = wanted or list(found)
    return {name: found[name] for name in sorted(names, key=_natural)}


def _read_header(header: Path):
    import wfdb

    try:
        return wfdb.rdheader(str(header.with_suffix("")))
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on malformed headers
        raise DataError(
            f"{header}: not a readable WFDB header ({type(exc).__name__}: {exc})"
        ) from None


def drivedb_signals(header: Path | str) -> dict[str, tuple[int, float]]:
    """Modality name -> (channel index, native rate in Hz) from a record's header."""
    header = Path(header)
    h = _read_header(header)
    if not h.fs or h.fs <= 0 or not h.sig_name:
        raise DataError(f"{header}: header without sampling frequency or signals")
    spf = h.samps_per_frame or [1] * len(h.sig_name)
    out: dict[str, tuple[int, float]] = {}
    for i, (name, k) in enumerate(zip(h.sig_name, spf)):
        key = normalise_name(name)
        if not key or key in IGNORED_CHANNELS:
            continue
        if key in out:
            n = 2
            while f"{key}_{n}" in out:
                n += 1
            key = f"{key}_{n}"
        out[key] = (i, float(h.fs) * int(k or 1))
    if not out:
        raise DataError(f"{header}: record without signals (only {', '.join(h.sig_name)})")
    return out


def find_segments(
    record: str, folder: Path, labels: Path | str | None = None
) -> tuple[list[Segment], Path | None]:
    """Segments of ``record`` from ``labels`` or, when None, from a segments CSV beside it.

    Looks for ``<record>_segments.csv`` and then every ``*segments*.csv`` in ``folder``; the
    first file with rows for the record wins. Returns ``([], None)`` when none has any.
    """
    if labels:
        path = Path(labels)
        if not path.is_file():
            raise DataError(f"{path}: labels file not found (--labels)")
        rows = [s for s in read_segments(path) if s.record == record]
        return rows, (path if rows else None)
    candidates = [folder / f"{record}_segments.csv"]
    candidates += sorted(p for p in folder.glob("*segments*.csv") if p not in candidates)
    for path in candidates:
        if path.is_file():
            rows = [s for s in read_segments(path) if s.record == record]
            if rows:
                return rows, path
    return [], None


def _codes(segments: list[Segment], where: Path) -> list[int]:
    codes = []
    for seg in segments:
        code = _LABEL_CODES.get(seg.label.strip().lower())
        if code is None:
            raise DataError(
                f"{where}: record {seg.record}, segment {seg.name!r}: unknown "
                f"stress_level {seg.label!r} (valid: 0 rest, 1 highway, 2 city)"
            )
        codes.append(code)
    return codes


def load_drivedb_record(
    path: Path | str,
    modalities: Sequence[str],
    record: str | None = None,
    labels: Path | str | None = None,
) -> Recording:
    """Load the requested modalities of one drivedb record at their native rates.

    Parameters
    ----------
    path : Path
        The record's ``.hea`` (or ``.dat``, or the record path without extension).
    modalities : sequence of str
        Normalised names, e.g. ``["ecg", "hand_gsr"]``.
    record : str, optional
        Record name used as the subject; defaults to the file stem.
    labels : Path, optional
        Segments CSV; default: found beside the record (see :func:`find_segments`).

    Raises
    ------
    ConfigError
        A modality the record does not have (the message lists those it has).
    DataError
        Unreadable or truncated record, malformed segments file.
    """
    import wfdb

    header = next(iter(find_drivedb_records(path).values()))
    record = record or header.stem
    available = drivedb_signals(header)
    missing = [m for m in modalities if m not in available]
    if missing:
        raise ConfigError(
            f"{header} (record {record}): no signal {missing[0]!r}; valid: {', '.join(available)}"
        )
    if not modalities:
        raise ConfigError("no modality given")
    channels = [available[m][0] for m in modalities]
    try:
        rec = wfdb.rdrecord(str(header.with_suffix("")), channels=channels, smooth_frames=False)
    except Exception as exc:
        raise DataError(
            f"{header} (record {record}): cannot read signals ({type(exc).__name__}: {exc})"
        ) from None
    signals: dict[str, Signal] = {}
    for modality, x in zip(modalities, rec.e_p_signal):
        rate = available[modality][1]
        x = np.asarray(x, dtype=np.float32)
        if x.size == 0:
            raise DataError(f"{header} (record {record}): signal {modality} is empty")
        signals[modality] = Signal(np.ascontiguousarray(x.reshape(-1, 1)), rate)
    duration = float(rec.sig_len) / float(rec.fs)
    segments, seg_file = find_segments(record, header.parent, labels)
    label_array = None
    if segments:
        where = f"{seg_file} (record {record})"
        label_array = segments_to_labels(
            segments, _codes(segments, seg_file), duration, LABEL_RATE, where
        )
    return Recording(
        subject=record,
        signals=signals,
        labels=label_array,
        label_rate=LABEL_RATE if label_array is not None else None,
        source=header,
        dataset="drivedb",
    )


class DrivedbAdapter(DatasetAdapter):
    """PhysioNet drivedb: WFDB records ``driveNN.hea``/``.dat`` plus segments CSVs."""

    name = "drivedb"
    unit = "record"

    def detects(self, path: Path) -> bool:
        """A ``.hea``/``.dat`` file or a folder holding ``.hea`` headers."""
        path = Path(path)
        return path.suffix in (".hea", ".dat") or (path.is_dir() and any(path.glob("*.hea")))

    def find_subjects(self, path: Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
        return find_drivedb_records(Path(path), tuple(subjects))

    def load(
        self,
        file: Path,
        modalities: Sequence[str],
        subject: str,
        root: Path | None = None,
        labels: Path | None = None,
    ) -> Recording:
        return load_drivedb_record(Path(file), tuple(modalities), subject, labels or None)

    def load_present(
        self, file: Path, subject: str, root: Path | None = None, labels: Path | None = None
    ) -> Recording:
        return self.load(file, list(drivedb_signals(file)), subject, root, labels)

    def modalities(self, path: Path | None = None) -> tuple[str, ...]:
        """The signals of the records' headers under ``path`` (the published names without)."""
        if not path or not Path(path).exists():
            return DRIVEDB_MODALITIES
        names: dict[str, None] = {}
        for header in find_drivedb_records(path).values():
            names.update(dict.fromkeys(drivedb_signals(header)))
        return tuple(names)

    def default_modalities(self, path: Path | None = None) -> tuple[str, ...]:
        """ECG and hand GSR (else foot GSR; else the first two signals)."""
        valid = self.modalities(path)
        preferred = [m for m in PREFERRED_MODALITIES if m in valid][:2]
        return tuple(preferred) if len(preferred) == 2 else tuple(valid[:2])

    def tasks(self, path: Path | None = None) -> dict[str, Task]:
        return DRIVEDB_TASKS

    def label_names(self, path: Path | None = None) -> dict[int, str]:
        return dict(DRIVEDB_LABELS)

    def label_files(self, path: Path, labels: Path | None = None) -> list[Path]:
        """``--labels``, the segments CSVs and the records' ``.dat`` files beside the records."""
        root = Path(path)
        folder = root if root.is_dir() else root.parent
        return (
            super().label_files(path, labels)
            + sorted(folder.glob("*segments*.csv"))
            + sorted(folder.glob("*.dat"))
        )

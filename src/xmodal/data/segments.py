"""Segment label files: ``record,segment,label,start_s,end_s`` rows -> label arrays.

The drivedb format (``record,segment,stress_level,start_s,end_s``) and the ``csv`` dataset's
segments files share this reader. The record column may be called ``record`` or ``subject``, the
label column ``stress_level``, ``label`` or ``class``; ``segment`` (a name) is optional.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.errors import DataError

#: a segment may end this many seconds (or this fraction of the record) after the record
END_TOLERANCE_S = 5.0
END_TOLERANCE_FRAC = 0.01

_RECORD_COLUMNS = ("record", "subject")
_LABEL_COLUMNS = ("stress_level", "label", "class")


@dataclass(frozen=True)
class Segment:
    """One labelled stretch of a record, in seconds on the record's time base."""

    record: str
    name: str
    label: str
    start: float
    end: float


def read_segments(
    path: Path | str,
    text: str | None = None,
    record_columns: tuple[str, ...] = _RECORD_COLUMNS,
    label_columns: tuple[str, ...] = _LABEL_COLUMNS,
    record_required: bool = True,
) -> list[Segment]:
    """Read a segments CSV; raise a one-line DataError naming file, row and column.

    Parameters
    ----------
    path : Path
        CSV with a header holding ``record`` (or ``subject``), ``start_s``, ``end_s`` and
        ``stress_level`` (or ``label`` / ``class``); ``segment`` is optional.
    text : str, optional
        The file's content, when it is not read from ``path`` (a member of a zip; ``path``
        then only names it in messages).
    record_columns, label_columns : tuple of str
        Accepted names of the record and label columns, the first present is used.
    record_required : bool
        False: a file without a record column is accepted (its segments get record ``""``).

    Returns
    -------
    list of Segment
        Labels kept as text (the caller maps them to codes).
    """
    path = Path(path)
    if text is None:
        if not path.is_file():
            raise DataError(f"{path}: segments file not found")
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read segments file ({exc})") from None
    else:
        rows = list(csv.reader(text.lstrip("\ufeff").splitlines()))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path}: segments file is empty")
    header = [c.strip().lower() for c in rows[0]]

    def column(options: tuple[str, ...]) -> int:
        for name in options:
            if name in header:
                return header.index(name)
        raise DataError(
            f"{path}: missing column {' or '.join(options)} (header: {','.join(header)})"
        )

    has_record = any(name in header for name in record_columns)
    i_rec = column(record_columns) if has_record or record_required else None
    i_lab = column(label_columns)
    i_start, i_end = column(("start_s",)), column(("end_s",))
    i_name = header.index("segment") if "segment" in header else None
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            raise DataError(f"{path}: row {line} has {len(row)} fields, header has {len(header)}")
        try:
            start, end = float(row[i_start]), float(row[i_end])
        except ValueError:
            raise DataError(
                f"{path}: row {line}: start_s/end_s must be numbers, got "
                f"{row[i_start]!r}, {row[i_end]!r}"
            ) from None
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end <= start:
            raise DataError(
                f"{path}: row {line}: segment {start:g}..{end:g} s is empty or "
                "negative (need 0 <= start_s < end_s)"
            )
        label = row[i_lab].strip()
        if not label:
            raise DataError(f"{path}: row {line}: empty label")
        name = row[i_name].strip() if i_name is not None else f"row {line}"
        record = row[i_rec].strip() if i_rec is not None else ""
        out.append(Segment(record, name, label, start, end))
    return out


def segments_to_labels(
    segments: list[Segment], codes: list[int], duration: float, label_rate: float, where: str
) -> np.ndarray:
    """Label codes at ``label_rate`` over ``duration`` seconds; 0 outside every segment.

    Parameters
    ----------
    segments : list of Segment
        The record's segments (already filtered to one record).
    codes : list of int
        Code of each segment (>= 1; 0 means unlabelled).
    duration : float
        Record duration in seconds.
    where : str
        Named in error messages (file and record).

    Raises
    ------
    DataError
        Overlapping segments, or a segment outside the record.
    """
    n = int(np.floor(duration * label_rate + 1e-9))
    labels = np.zeros(n, dtype=np.int8)
    tolerance = max(END_TOLERANCE_S, END_TOLERANCE_FRAC * duration)
    order = sorted(range(len(segments)), key=lambda i: segments[i].start)
    previous = None
    for i in order:
        seg = segments[i]
        if seg.start >= duration or seg.end > duration + tolerance:
            raise DataError(
                f"{where}: segment {seg.name!r} ({seg.start:g}-{seg.end:g} s) lies "
                f"beyond the end of the record ({duration:.1f} s)"
            )
        if previous is not None and seg.start < previous.end - 1e-6:
            raise DataError(
                f"{where}: segments {previous.name!r} and {seg.name!r} overlap "
                f"({previous.start:g}-{previous.end:g} s and {seg.start:g}-{seg.end:g} s)"
            )
        begin = int(round(seg.start * label_rate))
        end = min(int(round(seg.end * label_rate)), n)
        labels[begin:end] = codes[i]
        previous = seg
    return labels

"""Empatica E4 exports: one folder or ``.zip`` per session -> :class:`~xmodal.data.recording.Recording`.

An E4 session (what E4 connect downloads and what many public wrist datasets ship) holds

``ACC.csv``, ``BVP.csv``, ``EDA.csv``, ``TEMP.csv``
    row 1: the start time in unix seconds (one value per column), row 2: the sampling rate in
    Hz (one per column), then the samples (ACC: x, y, z in 1/64 g; BVP; EDA in microsiemens;
    TEMP in degrees Celsius).
``tags.csv``
    unix times of event-button presses, one per row (may be empty).
``HR.csv``, ``IBI.csv``
    heart rate and inter-beat intervals that the device software derives from BVP. They are
    not read: a model that uses the pulse learns it from ``wrist.BVP`` itself.

The signals are named as WESAD's wrist signals (``wrist.ACC``, ``wrist.BVP``, ``wrist.EDA``,
``wrist.TEMP``; same units, ACC as ``(n, 3)`` in 1/64 g), so a model trained on WESAD's wrist
data predicts on an E4 session unchanged. Each file's own start time and rate are honoured:
t = 0 of the recording is the latest start among the session's signal files, and a file that
starts earlier loses its first ``round((t0 - start) * rate)`` samples (files of one session
must start within :data:`MAX_START_SPREAD_S` of each other).

Beside the device's files, all optional:

``segments.csv``
    labelled stretches, columns ``label`` or ``condition``, ``start_s``, ``end_s`` (and
    ``segment``, a name). In a session it labels that session; beside the sessions it needs a
    ``session`` column. Times are seconds from the session start (t = 0 above), or unix
    seconds: a file whose times are all above :data:`UNIX_TIME_MIN` (September 2001) is read
    as unix times. Labels are WESAD's codes (1 baseline, 2 stress, 3 amusement,
    4 meditation, 0 unlabelled) or those names (see :func:`label_code`).
``e4.toml``
    ``timezone = "Europe/Berlin"`` (wall-clock times of predictions; default UTC) and a
    ``[tags]`` table that labels the intervals between consecutive tags,
    ``intervals = ["baseline", "stress", "rest"]`` with ``ignore = ["rest"]`` for intervals
    that are not a class. In a session it overrides the one beside the sessions.
``subjects.csv``
    columns ``session``, ``subject``: sessions of one person form one group of
    leave-one-subject-out evaluation.

A ``segments.csv`` wins over a tags mapping; without either, a session can be inspected
(``xmodal datasets``) and predicted on, not trained on.

The module is long because one device format is one concept here: the files' headers, session
discovery in folders and zips (with the zip's safety checks), the alignment of the signals'
start times and the labels beside the sessions.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.config import tomllib
from xmodal.data.adapter import DatasetAdapter
from xmodal.data.recording import Recording, Signal
from xmodal.data.safe_zip import SessionFiles, is_zip
from xmodal.data.segments import Segment, read_segments, segments_to_labels
from xmodal.data.tasks import Task
from xmodal.errors import ConfigError, DataError

__all__ = [
    "E4_FILES",
    "E4_TASKS",
    "E4Adapter",
    "E4Spec",
    "find_e4_sessions",
    "label_code",
    "load_e4_session",
    "read_e4_signal",
]

#: modality -> (file, channels)
E4_FILES: dict[str, tuple[str, int]] = {
    "wrist.ACC": ("ACC.csv", 3),
    "wrist.BVP": ("BVP.csv", 1),
    "wrist.EDA": ("EDA.csv", 1),
    "wrist.TEMP": ("TEMP.csv", 1),
}
SIGNAL_FILES = tuple(f for f, _ in E4_FILES.values())
SPEC_NAME = "e4.toml"
SEGMENTS_NAME = "segments.csv"
TAGS_NAME = "tags.csv"
SUBJECTS_NAME = "subjects.csv"
#: every file read from a session (HR.csv, IBI.csv and info.txt are recognised, not read)
SESSION_FILES = (*SIGNAL_FILES, TAGS_NAME, SEGMENTS_NAME, SPEC_NAME, "HR.csv", "IBI.csv")

#: label samples per second (segments are given to 0.1 s)
LABEL_RATE = 10.0
#: the signal files of one session must start within this many seconds of each other
MAX_START_SPREAD_S = 60.0
#: segment times above this (2001-09-09) are unix times, below it seconds from the start
UNIX_TIME_MIN = 1e9
#: start times and tags must lie in 2000..2100 (anything else is not a unix time)
_UNIX_RANGE = (946684800.0, 4102444800.0)

#: WESAD's label codes, so that E4 and WESAD recordings share tasks
E4_LABELS = {0: "unlabelled", 1: "baseline", 2: "stress", 3: "amusement", 4: "meditation"}
#: names accepted for each code (case-insensitive; trailing numbers ignored: "Medi 2")
_ALIASES = {
    "unlabelled": 0,
    "unlabeled": 0,
    "transient": 0,
    "-": 0,
    "baseline": 1,
    "base": 1,
    "stress": 2,
    "tsst": 2,
    "amusement": 3,
    "fun": 3,
    "meditation": 4,
    "medi": 4,
}
E4_TASKS: dict[str, Task] = {
    "binary": Task("binary", ("non-stress", "stress"), {1: 0, 3: 0, 2: 1}),
    "3class": Task("3class", ("baseline", "stress", "amusement"), {1: 0, 2: 1, 3: 2}),
    "4class": Task(
        "4class", ("baseline", "stress", "amusement", "meditation"), {1: 0, 2: 1, 3: 2, 4: 3}
    ),
}
E4_DEFAULT_MODALITIES = ("wrist.BVP", "wrist.EDA")
E4_DEFAULT_TASK = "binary"

_NATURAL = re.compile(r"(\d+)")


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in _NATURAL.split(name)]


def label_code(value: str, where: str, ignore: frozenset[str] = frozenset()) -> int:
    """A label as a WESAD code: ``"2"``, ``"stress"``, ``"TSST"`` -> 2; ``ignore`` names -> 0.

    Accepted: the codes 0-4; baseline/base, stress/tsst, amusement/fun, meditation/medi (any
    case, a trailing number ignored: ``"Medi 2"``); unlabelled, transient and ``-`` for 0.
    """
    text = value.strip()
    if text in ignore:
        return 0
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if number.is_integer() and int(number) in E4_LABELS:
            return int(number)
    else:
        key = re.sub(r"[\s_]*\d+$", "", text.lower())
        if key in _ALIASES:
            return _ALIASES[key]
    raise DataError(
        f"{where}: unknown label {value!r}; valid: 0-4 or "
        f"{', '.join(n for n in E4_LABELS.values())} (or list it under ignore)"
    )


@dataclass(frozen=True)
class E4Spec:
    """A parsed ``e4.toml`` (all defaults when there is none)."""

    path: str = ""
    timezone: str | None = None
    intervals: tuple[str, ...] = ()
    ignore: frozenset[str] = frozenset()


def _parse_spec(text: str, where: str) -> E4Spec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{where}: not valid TOML ({exc})") from None
    unknown = [k for k in raw if k not in ("timezone", "tags")]
    if unknown:
        raise DataError(f"{where}: unknown key {unknown[0]!r}; valid: timezone, tags")
    zone = raw.get("timezone")
    if zone is not None:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(zone)
        except Exception:
            raise DataError(
                f"{where}: timezone {zone!r} is not an IANA time zone (e.g. Europe/Berlin)"
            ) from None
    tags = raw.get("tags", {})
    if not isinstance(tags, dict):
        raise DataError(f"{where}: [tags] must be a table")
    bad = [k for k in tags if k not in ("intervals", "ignore")]
    if bad:
        raise DataError(f"{where}: [tags] unknown key {bad[0]!r}; valid: intervals, ignore")
    intervals, ignore = tags.get("intervals", []), tags.get("ignore", [])
    for key, value in (("intervals", intervals), ("ignore", ignore)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise DataError(f"{where}: [tags] {key} must be a list of names")
    if "ignore" in tags and not intervals:
        raise DataError(f"{where}: [tags] ignore given without intervals")
    spec = E4Spec(where, zone, tuple(intervals), frozenset(ignore))
    for name in spec.intervals:
        label_code(name, f"{where}: [tags] intervals", spec.ignore)
    return spec


def _read_text(files: SessionFiles, name: str) -> str:
    raw = files.read(name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{files.where(name)}: not a text file (not UTF-8)") from None


def load_e4_spec(files: SessionFiles) -> E4Spec:
    """The session's ``e4.toml``, else the one beside the session, else defaults."""
    if files.has(SPEC_NAME):
        return _parse_spec(_read_text(files, SPEC_NAME), files.where(SPEC_NAME))
    beside = files.path.parent / SPEC_NAME
    if beside.is_file():
        try:
            return _parse_spec(beside.read_text(encoding="utf-8"), str(beside))
        except UnicodeDecodeError:
            raise DataError(f"{beside}: not a text file (not UTF-8)") from None
    return E4Spec()


def _numbers(line: str, where: str, what: str, channels: int) -> float:
    """The one value a header row repeats per column (start time or rate)."""
    fields = [f.strip() for f in line.strip().split(",")]
    if len(fields) != channels:
        raise DataError(
            f"{where}: row {1 if what == 'start time' else 2} has {len(fields)} value(s), "
            f"expected the {what} once per column ({channels})"
        )
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise DataError(
            f"{where}: row {1 if what == 'start time' else 2}: {what} {line.strip()!r} is "
            "not a number (an E4 file starts with the start time in unix seconds, then the "
            "sample rate in Hz)"
        ) from None
    if len(set(values)) != 1:
        raise DataError(f"{where}: the columns give different {what}s: {line.strip()!r}")
    return values[0]


def parse_e4_header(head: bytes, where: str, channels: int) -> tuple[float, float]:
    """Start time (unix s) and rate (Hz) from the first two rows of an E4 signal file.

    Raises
    ------
    DataError
        Empty file, a missing header row, a start time outside 2000-2100, a non-numeric, zero
        or negative rate; the message names the file.
    """
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{where}: not a text file (not UTF-8)") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(f"{where}: empty file (expected the start time, the rate, then samples)")
    if len(lines) < 2:
        raise DataError(f"{where}: no sample-rate row (row 2)")
    start = _numbers(lines[0], where, "start time", channels)
    if not _UNIX_RANGE[0] <= start <= _UNIX_RANGE[1]:
        raise DataError(
            f"{where}: row 1: start time {start:g} is not a unix time of 2000-2100; is the "
            "header row missing? (an E4 file starts with the start time, then the rate)"
        )
    rate = _numbers(lines[1], where, "sample rate", channels)
    if not np.isfinite(rate) or rate <= 0:
        raise DataError(
            f"{where}: row 2: sample rate must be a positive number of Hz, got {rate:g}"
        )
    return start, rate


def _first_bad_row(body: str, channels: int) -> str:
    """Where and why a body that numpy refused is malformed (row numbers of the file)."""
    for number, line in enumerate(body.splitlines(), start=3):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != channels:
            return f"row {number} has {len(fields)} value(s), expected {channels} (truncated?)"
        for field in fields:
            try:
                float(field)
            except ValueError:
                return f"row {number}: {field.strip()!r} is not a number"
    return "malformed samples"


def read_e4_signal(raw: bytes, where: str, channels: int) -> tuple[float, float, np.ndarray]:
    """Start time, rate and samples ``(n, channels)`` float64 of one E4 signal file.

    Raises
    ------
    DataError
        A malformed header (:func:`parse_e4_header`), a non-numeric or truncated row, or no
        samples; the message names the file and the row.
    """
    head_end = raw.find(b"\n", raw.find(b"\n") + 1)
    head = raw if head_end < 0 else raw[: head_end + 1]
    start, rate = parse_e4_header(head, where, channels)
    body = raw[len(head) :].decode("utf-8", errors="replace")
    if not body.strip():
        raise DataError(f"{where}: no samples after the two header rows")
    try:
        data = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        raise DataError(f"{where}: {_first_bad_row(body, channels)}") from None
    if data.shape[1] != channels:
        raise DataError(f"{where}: {data.shape[1]} columns, expected {channels}")
    if not np.isfinite(data).all():
        row = int(np.argmax(~np.isfinite(data).all(axis=1)))
        raise DataError(f"{where}: sample {row + 1} is not a finite number")
    return start, rate, data


def read_tags(text: str, where: str) -> np.ndarray:
    """Event-button times (unix s) of a ``tags.csv``, sorted; an empty file gives none."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        field = line.split(",")[0].strip()
        if not field:
            continue
        try:
            value = float(field)
        except ValueError:
            raise DataError(f"{where}: row {number}: {field!r} is not a unix time") from None
        if not _UNIX_RANGE[0] <= value <= _UNIX_RANGE[1]:
            raise DataError(f"{where}: row {number}: {value:g} is not a unix time of 2000-2100")
        out.append(value)
    return np.sort(np.asarray(out, dtype=np.float64))


def _signals_in(folder: Path) -> bool:
    return any((folder / f).is_file() for f in SIGNAL_FILES)


def _zip_has_signals(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.rsplit("/", 1)[-1] in SIGNAL_FILES for n in zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def is_e4_session(path: Path) -> bool:
    """A folder holding an E4 signal file, or a zip with one."""
    path = Path(path)
    return _zip_has_signals(path) if is_zip(path) else path.is_dir() and _signals_in(path)


def read_subjects(folder: Path) -> dict[str, str]:
    """``subjects.csv`` beside the sessions: session -> subject (empty when there is none)."""
    path = Path(folder) / SUBJECTS_NAME
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if "session" not in header or "subject" not in header:
        raise DataError(f"{path}: needs the columns session and subject (header: {header})")
    i_session, i_subject = header.index("session"), header.index("subject")
    out: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            raise DataError(f"{path}: row {number} has {len(row)} fields, header has {len(header)}")
        session, subject = row[i_session].strip(), row[i_subject].strip()
        if not session or not subject:
            raise DataError(f"{path}: row {number}: empty session or subject")
        if session in out:
            raise DataError(f"{path}: row {number}: session {session} listed twice")
        out[session] = subject
    return out


def session_name(path: Path) -> str:
    """A session's name: its folder's name, or its zip's name without ``.zip``."""
    return Path(path).stem if is_zip(Path(path)) else Path(path).name


def find_e4_sessions(path: Path | str, subjects: Sequence[str] = ()) -> dict[str, Path]:
    """Session name -> folder or zip, in natural order.

    Parameters
    ----------
    path : Path
        A session (folder or zip holding E4 signal files), or a folder of sessions (one
        sub-folder or zip each; a folder wins over a zip of the same name).
    subjects : sequence of str
        Only these sessions, or all sessions of these subjects (``subjects.csv``).

    Raises
    ------
    DataError
        Nothing found, or a requested name is neither a session nor a subject.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if is_e4_session(path) or is_zip(path):
        found = {session_name(path): path}
        owners = read_subjects(path.parent)
    elif path.is_dir():
        found = {}
        try:
            entries = sorted(path.iterdir(), key=lambda p: _natural_key(p.name))
        except OSError as exc:
            raise DataError(f"{path}: cannot list folder ({exc.strerror or exc})") from None
        for entry in entries:
            if entry.is_dir() and _signals_in(entry):
                found[entry.name] = entry
        for entry in entries:
            if is_zip(entry) and entry.stem not in found and _zip_has_signals(entry):
                found[entry.stem] = entry
        found = {k: found[k] for k in sorted(found, key=_natural_key)}
        owners = read_subjects(path)
    else:
        raise DataError(f"{path}: neither an E4 session (folder or .zip) nor a folder of them")
    if not found:
        raise DataError(
            f"{path}: no E4 session found (expected folders or .zip files holding "
            f"{', '.join(SIGNAL_FILES)})"
        )
    if not subjects:
        return found
    out: dict[str, Path] = {}
    for name in subjects:
        matched = [s for s in found if s == name or owners.get(s) == name]
        if not matched:
            raise DataError(
                f"{path}: session or subject {name} not found (sessions: {', '.join(found)})"
            )
        out.update((s, found[s]) for s in matched)
    return out


def _segments(files: SessionFiles, session: str, labels: Path | None, where_folder: Path):
    """The segments of a session and the file they came from, or ``None``."""
    columns = dict(
        record_columns=("session", "record", "subject"), label_columns=("label", "condition")
    )
    if labels is not None:
        rows = read_segments(labels, record_required=False, **columns)
        return [s for s in rows if s.record in ("", session)], str(labels)
    if files.has(SEGMENTS_NAME):
        text = _read_text(files, SEGMENTS_NAME)
        rows = read_segments(
            files.where(SEGMENTS_NAME), text=text, record_required=False, **columns
        )
        return rows, files.where(SEGMENTS_NAME)
    beside = where_folder / SEGMENTS_NAME
    if beside.is_file():
        rows = read_segments(beside, record_required=True, **columns)
        return [s for s in rows if s.record == session], str(beside)
    return None, ""


def _on_time_base(rows: list[Segment], t0: float, where: str) -> list[Segment]:
    """Segments in seconds from t0: unix times (all above UNIX_TIME_MIN) are shifted."""
    if not rows:
        return rows
    unix = [s.start >= UNIX_TIME_MIN for s in rows] + [s.end >= UNIX_TIME_MIN for s in rows]
    if all(unix):
        shifted = []
        for s in rows:
            start, end = s.start - t0, s.end - t0
            if end <= 0:
                raise DataError(
                    f"{where}: segment {s.name!r} ends before the session starts "
                    f"({end:.1f} s from its start)"
                )
            shifted.append(Segment(s.record, s.name, s.label, max(start, 0.0), end))
        return shifted
    if any(unix):
        raise DataError(
            f"{where}: mixes unix times and seconds from the session start; use one kind"
        )
    return rows


def _tag_segments(tags: np.ndarray, spec: E4Spec, where: str) -> list[Segment]:
    """Segments between consecutive tags (seconds), named by ``[tags] intervals``."""
    if len(tags) - 1 != len(spec.intervals):
        raise DataError(
            f"{where}: {len(tags)} tags make {max(len(tags) - 1, 0)} intervals, but "
            f"{spec.path} [tags] intervals names {len(spec.intervals)}"
        )
    return [
        Segment("", name, name, float(a), float(b))
        for name, a, b in zip(spec.intervals, tags[:-1], tags[1:])
        if b > a
    ]


def load_e4_session(
    path: Path | str,
    modalities: Sequence[str] = (),
    subject: str | None = None,
    labels: Path | str | None = None,
) -> Recording:
    """Load one E4 session (folder or zip) with the requested modalities (default: all present).

    Parameters
    ----------
    path : Path
        The session folder or ``.zip``.
    modalities : sequence of str
        Of ``wrist.ACC``, ``wrist.BVP``, ``wrist.EDA``, ``wrist.TEMP``.
    subject : str, optional
        The recording's subject (default: from ``subjects.csv`` beside the session, else the
        session name).
    labels : Path, optional
        A segments CSV replacing the one found with the session.

    Returns
    -------
    Recording
        Signals at their files' rates from t = 0, the latest start of the session's signal
        files; WESAD label codes at :data:`LABEL_RATE` Hz (or None), the start time, the time
        zone and the tags (seconds) of the session.

    Raises
    ------
    DataError
        A missing or malformed file (named in the message), files starting more than
        :data:`MAX_START_SPREAD_S` apart, or labels that do not fit the session.
    """
    path = Path(path)
    files = SessionFiles(path, SESSION_FILES)
    session = session_name(path)
    subject = subject or read_subjects(path.parent).get(session, session)
    present = {m: spec for m, spec in E4_FILES.items() if files.has(spec[0])}
    if not present:
        raise DataError(f"{path}: no E4 signal file ({', '.join(SIGNAL_FILES)})")
    modalities = list(modalities) or list(present)
    for m in modalities:
        if m not in E4_FILES:
            raise ConfigError(
                f"unknown modality {m!r} for dataset 'e4'; valid: {', '.join(E4_FILES)}"
            )
        if m not in present:
            raise DataError(f"{path} (session {session}): no {E4_FILES[m][0]} for {m}")
    headers = {
        m: parse_e4_header(files.head(f), files.where(f), ch) for m, (f, ch) in present.items()
    }
    starts = {m: h[0] for m, h in headers.items()}
    first, last = min(starts, key=starts.get), max(starts, key=starts.get)
    spread = starts[last] - starts[first]
    if spread > MAX_START_SPREAD_S:
        raise DataError(
            f"{files.where(E4_FILES[last][0])}: starts {spread / 3600:.2f} h after "
            f"{E4_FILES[first][0]} ({spread:.0f} s; the files of one session must start within "
            f"{MAX_START_SPREAD_S:g} s of each other)"
        )
    t0 = starts[last]
    notes = []
    if spread > 0:
        notes.append(
            f"files start up to {spread:.3f} s apart; t = 0 is the start of "
            f"{E4_FILES[last][0]} and earlier samples are left out"
        )
    signals: dict[str, Signal] = {}
    for m in modalities:
        name, channels = E4_FILES[m]
        start, rate, data = read_e4_signal(files.read(name), files.where(name), channels)
        skip = int(round((t0 - start) * rate))
        if skip >= len(data):
            raise DataError(f"{files.where(name)}: ends before the other files start")
        signals[m] = Signal(np.ascontiguousarray(data[skip:], dtype=np.float32), float(rate))
    durations = {m: s.duration for m, s in signals.items()}
    if max(durations.values()) - min(durations.values()) > 1.0:
        short = min(durations, key=durations.get)
        notes.append(
            f"{E4_FILES[short][0]} ends {max(durations.values()) - durations[short]:.1f} s "
            "before the longest file"
        )
    unused = [f for f in ("HR.csv", "IBI.csv") if files.has(f)]
    if unused:
        notes.append(f"{', '.join(unused)} present, not read (derived from BVP by the device)")

    spec = load_e4_spec(files)
    tags = np.zeros(0)
    if files.has(TAGS_NAME):
        tags = read_tags(_read_text(files, TAGS_NAME), files.where(TAGS_NAME)) - t0
    duration = min(durations.values())
    rows, where = _segments(files, session, Path(labels) if labels else None, path.parent)
    if rows is None and spec.intervals:
        rows, where = _tag_segments(tags, spec, files.where(TAGS_NAME)), files.where(TAGS_NAME)
    label_array = None
    if rows is not None:
        where_session = f"{where} (session {session})"
        rows = _on_time_base(rows, t0, where_session)
        codes = [
            label_code(s.label, f"{where_session}: segment {s.name!r}", spec.ignore) for s in rows
        ]
        label_array = segments_to_labels(rows, codes, duration, LABEL_RATE, where_session)
    return Recording(
        subject=subject,
        signals=signals,
        labels=label_array,
        label_rate=LABEL_RATE if label_array is not None else None,
        source=path,
        dataset="e4",
        start_unix=t0,
        timezone=spec.timezone,
        events=tuple(float(t) for t in tags),
        notes=tuple(notes),
    )


def _has_labels(path: Path) -> bool:
    """Whether any session under ``path`` can have labels (a segments file or a tags mapping)."""
    try:
        sessions = find_e4_sessions(path)
    except DataError:
        return False
    folders = {p.parent for p in sessions.values()}
    for folder in folders:
        if (folder / SEGMENTS_NAME).is_file():
            return True
    for session in sessions.values():
        try:
            files = SessionFiles(session, SESSION_FILES)
            if files.has(SEGMENTS_NAME) or load_e4_spec(files).intervals:
                return True
        except DataError:
            continue
    return False


class E4Adapter(DatasetAdapter):
    """Empatica E4 exports: a session folder or zip, or a folder of them (see the module)."""

    name = "e4"
    unit = "session"

    def detects(self, path: Path) -> bool:
        """A session (folder with E4 signal files, or any zip: no other format is zipped) or a
        folder holding sessions."""
        path = Path(path)
        if is_zip(path) or is_e4_session(path):
            return True
        if not path.is_dir():
            return False
        try:
            return any(
                (p.is_dir() and _signals_in(p)) or (is_zip(p) and _zip_has_signals(p))
                for p in path.iterdir()
            )
        except OSError:
            return False

    def find_subjects(self, path: Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
        return find_e4_sessions(Path(path), tuple(subjects))

    def load(
        self,
        file: Path,
        modalities: Sequence[str],
        subject: str,
        root: Path | None = None,
        labels: Path | None = None,
    ) -> Recording:
        """Load one session; ``subject`` here is the session name (the person comes from
        ``subjects.csv``)."""
        return load_e4_session(Path(file), tuple(modalities), None, labels)

    def load_present(
        self, file: Path, subject: str, root: Path | None = None, labels: Path | None = None
    ) -> Recording:
        return load_e4_session(Path(file), (), None, labels)

    def modalities(self, path: Path | None = None) -> tuple[str, ...]:
        return tuple(E4_FILES)

    def default_modalities(self, path: Path | None = None) -> tuple[str, ...]:
        return E4_DEFAULT_MODALITIES

    def tasks(self, path: Path | None = None) -> dict[str, Task]:
        """WESAD's tasks (the labels are WESAD codes); ConfigError for a folder without labels."""
        if path is not None and Path(path).exists() and not _has_labels(Path(path)):
            raise ConfigError(
                f"{path}: no segments.csv and no [tags] intervals in e4.toml, so no labels: "
                "the sessions can be inspected and predicted on, not trained on"
            )
        return E4_TASKS

    def default_task(self, path: Path | None = None) -> str:
        return E4_DEFAULT_TASK

    def label_names(self, path: Path | None = None) -> dict[int, str]:
        return dict(E4_LABELS)

    def label_files(self, path: Path, labels: Path | None = None) -> list[Path]:
        """``--labels``, the files beside the sessions and every folder session's files (a
        folder's own identity does not change when a file in it is edited)."""
        path = Path(path)
        out = super().label_files(path, labels)
        try:
            sessions = find_e4_sessions(path)
        except DataError:
            return out
        for folder in sorted({p.parent for p in sessions.values()}):
            out += [folder / n for n in (SPEC_NAME, SEGMENTS_NAME, SUBJECTS_NAME)]
        for session in sessions.values():
            if session.is_dir():
                out += [session / n for n in SESSION_FILES]
        return out

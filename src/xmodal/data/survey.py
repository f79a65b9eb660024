"""What a data folder holds: subjects, modalities, rates, durations, labels and signal problems.

Backs ``xmodal datasets DATA``; nothing is preprocessed or trained. Problems are reported, not
repaired: runs of NaN/inf, flat lines (a value repeated for at least :data:`FLAT_SECONDS`),
clipping (many samples exactly at the signal's extreme value, the mark of a saturated sensor) and
a wrist EDA near zero for minutes (the band off the wrist). Recordings that know their wall-clock
start (E4 sessions) also show it, their tags and the loader's notes on the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmodal.data.modalities import signal_kind
from xmodal.data.recording import Recording, wall_clock
from xmodal.data.registry import get_adapter
from xmodal.errors import ConfigError, XmodalError

#: a value repeated this long (seconds) is a flat line
FLAT_SECONDS = 5.0
#: a signal is clipped when this fraction (and at least CLIP_MIN_SAMPLES) sits at its min or max
CLIP_FRACTION = 0.002
CLIP_MIN_SAMPLES = 20
#: a wrist EDA (microsiemens) below this for at least OFF_WRIST_SECONDS: the band off the wrist?
OFF_WRIST_EDA = 0.02
OFF_WRIST_SECONDS = 60.0


@dataclass
class ModalitySurvey:
    """One modality of one subject."""

    name: str
    rate: float
    channels: int
    duration: float
    problems: list[str] = field(default_factory=list)


@dataclass
class SubjectSurvey:
    """One subject (record, file)."""

    subject: str
    source: str
    modalities: list[ModalitySurvey] = field(default_factory=list)
    label_rate: float | None = None
    label_seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    start: str | None = None
    tags: tuple[float, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        return [f"{m.name}: {p}" for m in self.modalities for p in m.problems]


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the True runs of a boolean vector."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return edges[0::2], edges[1::2] - edges[0::2]


#: skin temperature (degC) outside this range: the sensor is likely off the skin (a signal
#: whose median lies outside 15-45 is taken to be in other units and not checked)
SKIN_TEMP = (25.0, 42.0)

#: kinds whose constant stretches are normal (slow or coarsely quantised: temperature, a wrist
#: at rest); only a signal constant over the whole recording is reported for them
STEADY_KINDS = ("temp", "acc")


def off_wrist(x: np.ndarray, rate: float) -> str | None:
    """A wrist EDA (µS) below :data:`OFF_WRIST_EDA` for :data:`OFF_WRIST_SECONDS` or longer."""
    starts, lengths = _runs(np.asarray(x, dtype=np.float64) < OFF_WRIST_EDA)
    long = lengths >= OFF_WRIST_SECONDS * rate
    if not long.any():
        return None
    k = int(np.argmax(np.where(long, lengths, 0)))
    return (
        f"near zero (< {OFF_WRIST_EDA:g} uS) for {int(lengths[long].sum()) / rate / 60:.1f} min "
        f"in {int(long.sum())} run{'s' if long.sum() != 1 else ''} (longest "
        f"{lengths[k] / rate:.0f} s at {starts[k] / rate:.0f} s): band off the wrist?"
    )


def signal_problems(x: np.ndarray, rate: float, kind: str = "", wrist: bool = False) -> list[str]:
    """Problems of one signal ``(n, channels)``: NaN runs, flat lines, clipping, zero variance.

    ``kind`` (``signal_kind`` of the modality) in :data:`STEADY_KINDS` skips the flat-line check;
    a ``wrist`` EDA is also checked for :func:`off_wrist` stretches.
    """
    out: list[str] = []
    for c in range(x.shape[1]):
        v = x[:, c].astype(np.float64)
        tag = f"channel {c}: " if x.shape[1] > 1 else ""
        bad = ~np.isfinite(v)
        if bad.any():
            starts, lengths = _runs(bad)
            k = int(np.argmax(lengths))
            out.append(
                f"{tag}{int(bad.sum())} NaN/inf samples in {len(starts)} run{'s' if len(starts) != 1 else ''} (longest "
                f"{lengths[k] / rate:.1f} s at {starts[k] / rate:.1f} s)"
            )
        finite = v[~bad]
        if finite.size == 0:
            out.append(f"{tag}no finite sample")
            continue
        if np.ptp(finite) == 0:
            out.append(f"{tag}flat: constant {finite[0]:g} over the whole recording")
            continue
        same = np.concatenate([[False], v[1:] == v[:-1]])  # sample equals its predecessor
        starts, lengths = _runs(same)
        lengths = lengths + 1  # the run's first sample too
        long = lengths >= FLAT_SECONDS * rate
        if kind in STEADY_KINDS:
            long[:] = False
        if long.any():
            k = int(np.argmax(np.where(long, lengths, 0)))
            out.append(
                f"{tag}flat line: {int(lengths[long].sum()) / rate:.1f} s in "
                f"{int(long.sum())} run{'s' if long.sum() != 1 else ''} of >= {FLAT_SECONDS:g} s (longest "
                f"{lengths[k] / rate:.1f} s at {(starts[k] - 1) / rate:.1f} s)"
            )
        for name, extreme in (("max", finite.max()), ("min", finite.min())):
            count = int((finite == extreme).sum())
            if count >= max(CLIP_MIN_SAMPLES, CLIP_FRACTION * finite.size):
                out.append(
                    f"{tag}clipped? {count} samples ({100 * count / finite.size:.1f} %) at "
                    f"the {name} value {extreme:g}"
                )
        if kind == "eda" and wrist:
            found = off_wrist(v, rate)
            if found:
                out.append(f"{tag}{found}")
        if kind == "temp":
            out += _off_skin(finite, rate, tag)
    return out


def _off_skin(v: np.ndarray, rate: float, tag: str) -> list[str]:
    """A skin temperature (degC) outside :data:`SKIN_TEMP`: the sensor was off the skin?"""
    if not 15.0 <= float(np.median(v)) <= 45.0:
        return []
    lo, hi = SKIN_TEMP
    outside = (v < lo) | (v > hi)
    if int(outside.sum()) < CLIP_MIN_SAMPLES:
        return []
    return [
        f"{tag}off the skin? {outside.sum() / rate:.1f} s ({100 * outside.mean():.1f} %) "
        f"outside {lo:g}-{hi:g} degC"
    ]


def survey_recording(recording: Recording, names: dict[int, str]) -> SubjectSurvey:
    """Describe one loaded recording."""
    out = SubjectSurvey(recording.subject, str(recording.source))
    for name, sig in recording.signals.items():
        out.modalities.append(
            ModalitySurvey(
                name,
                sig.rate,
                sig.n_channels,
                sig.duration,
                signal_problems(sig.data, sig.rate, signal_kind(name), name.startswith("wrist.")),
            )
        )
    if recording.start_unix is not None:
        out.start = wall_clock(recording.start_unix, recording.timezone)
    out.tags, out.notes = tuple(recording.events), tuple(recording.notes)
    if recording.labels is not None and recording.label_rate:
        out.label_rate = recording.label_rate
        counts = np.bincount(recording.labels.astype(np.int64))
        for code in np.flatnonzero(counts):
            out.label_seconds[names.get(int(code), f"code {code}")] = (
                counts[code] / recording.label_rate
            )
    return out


def survey_dataset(
    dataset: str,
    path: str | Path,
    modalities: Sequence[str] = (),
    subjects: Sequence[str] = (),
    labels: str | Path | None = None,
) -> list[SubjectSurvey]:
    """Load every subject (all modalities unless given) and describe it; errors are recorded.

    Raises
    ------
    XmodalError
        The folder itself cannot be used (nothing found, malformed dataset.toml, unknown names).
    """
    adapter = get_adapter(dataset)
    path = Path(path)
    files = adapter.find_subjects(path, tuple(subjects))
    if modalities:
        valid = adapter.modalities(path)
        unknown = [m for m in modalities if m not in valid]
        if unknown:
            raise ConfigError(
                f"unknown modality {unknown[0]!r} for dataset {dataset!r}; valid: "
                f"{', '.join(valid)}"
            )
    labels = Path(labels) if labels else None
    out = []
    for subject, file in files.items():
        try:
            if modalities:
                rec = adapter.load(file, tuple(modalities), subject, root=path, labels=labels)
            else:
                rec = adapter.load_present(file, subject, root=path, labels=labels)
            survey = survey_recording(rec, adapter.label_names(path))
            if rec.subject != subject:  # a session of a subject (E4 subjects.csv)
                survey.subject = f"{subject} ({rec.subject})"
            out.append(survey)
            del rec
        except XmodalError as exc:
            out.append(SubjectSurvey(subject, str(file), error=str(exc)))
    return out


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def format_survey(dataset: str, path: str | Path, surveys: list[SubjectSurvey]) -> str:
    """The report ``xmodal datasets`` prints."""
    adapter = get_adapter(dataset)
    unit = adapter.unit
    lines = [
        f"{dataset} dataset at {path}: {len(surveys)} "
        f"{unit}{'s' if len(surveys) != 1 else ''} "
        f"({', '.join(s.subject for s in surveys)})"
    ]
    data_path = Path(path) if path else None
    try:
        tasks = adapter.tasks(data_path)
        lines.append(
            "tasks: "
            + "; ".join(f"{t.name} ({', '.join(t.classes)})" for t in tasks.values())
            + f" [default: {adapter.default_task(data_path)}]"
        )
    except ConfigError as exc:
        lines.append(f"tasks: none ({exc})")
    n_problems = 0
    for s in surveys:
        lines.append("")
        if s.error:
            lines.append(f"{s.subject}  {s.source}")
            lines.append(f"  error: {s.error}")
            continue
        duration = min((m.duration for m in s.modalities), default=0.0)
        lines.append(f"{s.subject}  {s.source}  {_minutes(duration)}")
        if s.start is not None:
            lines.append(f"  start: {s.start}")
        width = max(len(m.name) for m in s.modalities)
        for m in s.modalities:
            ch = f"{m.channels} channels" if m.channels > 1 else "1 channel"
            lines.append(f"  {m.name:<{width}}  {m.rate:>7g} Hz  {ch:<10}  {_minutes(m.duration)}")
        if s.label_rate is None:
            lines.append("  labels: none (usable for prediction only)")
        else:
            total = sum(s.label_seconds.values())
            parts = ", ".join(
                f"{name} {_minutes(sec)} ({100 * sec / total:.0f} %)"
                for name, sec in s.label_seconds.items()
            )
            lines.append(f"  labels ({s.label_rate:g} Hz): {parts}")
        if s.start is not None:
            shown = ", ".join(_minutes(t) for t in s.tags[:6]) + (
                ", ..." if len(s.tags) > 6 else ""
            )
            lines.append(f"  tags: {len(s.tags)}" + (f" at {shown}" if s.tags else ""))
        for note in s.notes:
            lines.append(f"  note: {note}")
        problems = s.problems
        n_problems += len(problems)
        if problems:
            lines.append("  problems:")
            lines.extend(f"    - {p}" for p in problems)
        else:
            lines.append("  problems: none")
    errors = sum(1 for s in surveys if s.error)
    lines.append("")
    lines.append(
        f"{len(surveys) - errors} of {len(surveys)} readable, {n_problems} signal problems found"
    )
    return "\n".join(lines)

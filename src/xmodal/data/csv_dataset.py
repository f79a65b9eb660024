"""Users' own recordings: a folder of CSV/Parquet files described by ``dataset.toml``.

One file per subject (the file stem is the subject, unless ``[files]`` names them); every column
of a file shares one sampling rate, given as ``rate`` (Hz) or derived from ``time_column``
(seconds). ``[signals]`` maps modality names to columns; ``[labels]`` (optional) gives a per-row
label column or a segments file (``subject,segment,label,start_s,end_s``; times in seconds from
the file's first row), the class names and, optionally, the raw values meaning each class.
Extra tasks merge classes (``[tasks.NAME]``). See README "Your own recordings" for an example.

Raw label codes in a :class:`Recording` are ``class index + 1``; 0 is unlabelled.

The module is long because the ``dataset.toml`` schema, its validation with one-line errors
naming the file and key, and reading the tables are one format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.config import tomllib
from xmodal.data.adapter import DatasetAdapter
from xmodal.data.recording import Recording, Signal
from xmodal.data.segments import read_segments, segments_to_labels
from xmodal.data.tasks import Task
from xmodal.errors import ConfigError, DataError

__all__ = [
    "SPEC_NAME",
    "CsvSpec",
    "CsvAdapter",
    "load_spec",
    "find_csv_subjects",
    "load_csv_subject",
]

SPEC_NAME = "dataset.toml"
#: label samples per second when labels come from a segments file
SEGMENT_LABEL_RATE = 10.0
#: relative deviation of a time step from the median step above which samples are re-gridded
_JITTER = 0.01
#: a re-gridded recording holds at most this many samples per row of its file: a time column
#: with a huge gap (or a wrong unit) is refused instead of filling memory with interpolation
MAX_GRID_RATIO = 2.0
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_TOP_KEYS = ("name", "rate", "time_column", "signals", "labels", "tasks", "files")
_LABEL_KEYS = ("column", "segments", "classes", "values", "ignore", "task")
_SUFFIXES = (".csv", ".parquet")


def _value_text(value: Any) -> str:
    """A label value as text; integral numbers without a decimal point (``1.0`` -> ``"1"``)."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if np.isfinite(number) and number.is_integer() else text


@dataclass
class CsvSpec:
    """A parsed ``dataset.toml``."""

    path: Path
    name: str
    rate: float | None
    time_column: str | None
    signals: dict[str, tuple[str, ...]]
    label_column: str | None = None
    segments: Path | None = None
    classes: tuple[str, ...] = ()
    values: dict[str, int] = field(default_factory=dict)  # raw value text -> code (>= 1)
    ignore: frozenset[str] = frozenset()
    tasks: dict[str, Task] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def labelled(self) -> bool:
        return bool(self.classes)

    @property
    def default_task(self) -> str | None:
        return next(iter(self.tasks), None)


def _spec_path(path: Path | str) -> Path:
    path = Path(path)
    if path.is_dir():
        spec = path / SPEC_NAME
    elif path.name == SPEC_NAME or path.suffix == ".toml":
        spec = path
    else:
        spec = path.parent / SPEC_NAME
    if not spec.is_file():
        raise DataError(
            f"{path}: no {SPEC_NAME} found (a csv dataset is a folder with one file "
            f"per subject plus {SPEC_NAME}; see README)"
        )
    return spec


def load_spec(path: Path | str) -> CsvSpec:
    """Read and check ``dataset.toml`` (``path``: the folder, the TOML, or a file beside it).

    Raises
    ------
    DataError
        Missing or malformed description; the message names the file and the key.
    """
    spec_path = _spec_path(path)
    where = str(spec_path)
    try:
        raw = tomllib.loads(spec_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not valid TOML ({exc})") from None
    unknown = [k for k in raw if k not in _TOP_KEYS]
    if unknown:
        raise DataError(f"{where}: unknown key {unknown[0]!r}; valid: {', '.join(_TOP_KEYS)}")

    rate = raw.get("rate")
    time_column = raw.get("time_column")
    if rate is None and time_column is None:
        raise DataError(f"{where}: unknown sampling rate: give rate = HZ or time_column = NAME")
    if rate is not None and time_column is not None:
        raise DataError(f"{where}: give either rate or time_column, not both")
    if rate is not None:
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not rate > 0
            or not np.isfinite(rate)
        ):
            raise DataError(f"{where}: rate must be a positive number of Hz, got {rate!r}")
        rate = float(rate)
    if time_column is not None and (not isinstance(time_column, str) or not time_column):
        raise DataError(f"{where}: time_column must be a column name, got {time_column!r}")

    signals_raw = raw.get("signals")
    if not isinstance(signals_raw, dict) or not signals_raw:
        raise DataError(f'{where}: missing [signals] table (modality = "column")')
    signals: dict[str, tuple[str, ...]] = {}
    for name, value in signals_raw.items():
        if not _NAME_RE.match(name):
            raise DataError(
                f"{where}: [signals] {name!r} is not a valid modality name "
                "(letters, digits, _ . -; starting with a letter)"
            )
        if isinstance(value, dict):
            extra = [k for k in value if k != "column"]
            if extra:
                raise DataError(
                    f"{where}: [signals] {name}: unknown key {extra[0]!r}; valid: column"
                )
            value = value.get("column")
        columns = [value] if isinstance(value, str) else value
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) and c for c in columns)
        ):
            raise DataError(
                f"{where}: [signals] {name}: expected a column name or a list of "
                f"column names, got {value!r}"
            )
        signals[name] = tuple(columns)

    spec = CsvSpec(
        spec_path, str(raw.get("name", spec_path.parent.name)), rate, time_column, signals
    )
    _parse_labels(spec, raw.get("labels"), raw.get("tasks"), where)
    files = raw.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise DataError(f'{where}: [files] must map subject = "file"')
    spec.files = {str(s): (spec.root / f).resolve() for s, f in files.items()}
    return spec


def _parse_labels(spec: CsvSpec, labels: Any, tasks: Any, where: str) -> None:
    if labels is None:
        if tasks:
            raise DataError(f"{where}: [tasks] given but no [labels] table")
        return
    if not isinstance(labels, dict):
        raise DataError(f"{where}: [labels] must be a table")
    unknown = [k for k in labels if k not in _LABEL_KEYS]
    if unknown:
        raise DataError(
            f"{where}: [labels] unknown key {unknown[0]!r}; valid: {', '.join(_LABEL_KEYS)}"
        )
    column, segments = labels.get("column"), labels.get("segments")
    if (column is None) == (segments is None):
        raise DataError(f"{where}: [labels] needs exactly one of column = NAME or segments = FILE")
    if column is not None:
        if not isinstance(column, str) or not column:
            raise DataError(f"{where}: [labels] column must be a column name")
        spec.label_column = column
    else:
        if not isinstance(segments, str) or not segments:
            raise DataError(f"{where}: [labels] segments must be a file name")
        spec.segments = (spec.root / segments).resolve()
    classes = labels.get("classes")
    if (
        not isinstance(classes, list)
        or not classes
        or not all(isinstance(c, str) and c for c in classes)
    ):
        raise DataError(f"{where}: [labels] classes must be a non-empty list of class names")
    if len(set(classes)) != len(classes):
        raise DataError(f"{where}: [labels] classes lists a class twice: {classes}")
    values = labels.get("values", classes)
    if not isinstance(values, list) or len(values) != len(classes):
        raise DataError(
            f"{where}: [labels] values must list one raw value per class ({len(classes)} classes)"
        )
    texts = [_value_text(v) for v in values]
    if len(set(texts)) != len(texts):
        raise DataError(f"{where}: [labels] values lists a value twice: {values}")
    ignore = labels.get("ignore", [])
    if not isinstance(ignore, list):
        raise DataError(f"{where}: [labels] ignore must be a list of values")
    spec.classes = tuple(classes)
    spec.values = {t: i + 1 for i, t in enumerate(texts)}
    spec.ignore = frozenset(_value_text(v) for v in ignore) - set(spec.values)

    task_name = labels.get("task", "all")
    spec.tasks = {
        str(task_name): Task(
            str(task_name), tuple(classes), {i + 1: i for i in range(len(classes))}
        )
    }
    if tasks is None:
        return
    if not isinstance(tasks, dict):
        raise DataError(f"{where}: [tasks] must hold tables [tasks.NAME]")
    for name, table in tasks.items():
        if name in spec.tasks:
            raise DataError(f"{where}: [tasks.{name}] repeats the task of all classes")
        if not isinstance(table, dict) or not table:
            raise DataError(f"{where}: [tasks.{name}] must map class = [label classes]")
        mapping: dict[int, int] = {}
        for index, (cls, members) in enumerate(table.items()):
            members = [members] if isinstance(members, str) else members
            if not isinstance(members, list) or not members:
                raise DataError(f"{where}: [tasks.{name}] {cls}: expected a list of classes")
            for member in members:
                if member not in classes:
                    raise DataError(
                        f"{where}: [tasks.{name}] {cls}: unknown class {member!r}; "
                        f"valid: {', '.join(classes)}"
                    )
                code = classes.index(member) + 1
                if code in mapping:
                    raise DataError(f"{where}: [tasks.{name}]: class {member!r} is used twice")
                mapping[code] = index
        spec.tasks[name] = Task(name, tuple(table), mapping)


def find_csv_subjects(
    path: Path | str, subjects: Sequence[str] = (), spec: CsvSpec | None = None
) -> dict[str, Path]:
    """Subject -> data file: the ``[files]`` table, else every ``.csv``/``.parquet`` beside the TOML."""
    spec = spec or load_spec(path)
    if spec.files:
        found = dict(spec.files)
        for subject, file in found.items():
            if not file.is_file():
                raise DataError(f"{spec.path}: [files] {subject}: {file} not found")
    else:
        skip = {spec.segments} if spec.segments else set()
        found = {
            p.stem: p
            for p in sorted(spec.root.iterdir())
            if p.suffix.lower() in _SUFFIXES and p.is_file() and p.resolve() not in skip
        }
    if not found:
        raise DataError(f"{spec.root}: no .csv or .parquet file beside {SPEC_NAME}")
    wanted = list(dict.fromkeys(str(s) for s in subjects))
    for name in wanted:
        if name not in found:
            raise DataError(f"{spec.root}: subject {name} not found (found: {', '.join(found)})")
    return {name: found[name] for name in (wanted or found)}


def _columns(file: Path, where: str) -> list[str]:
    if file.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(
                f"{where}: reading Parquet needs pyarrow (pip install pyarrow)"
            ) from None
        try:
            return list(pq.read_schema(file).names)
        except Exception as exc:
            raise DataError(f"{where}: not a readable Parquet file ({exc})") from None
    import pandas as pd

    try:
        return [str(c) for c in pd.read_csv(file, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise DataError(f"{where}: empty file (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not a readable CSV file ({exc})") from None


def _read_table(file: Path, columns: list[str], label_column: str | None, where: str):
    import pandas as pd

    try:
        if file.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            frame = pq.read_table(file, columns=columns).to_pandas()
        else:
            dtype = {label_column: str} if label_column else None
            frame = pd.read_csv(file, usecols=columns, dtype=dtype)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(f"{where}: cannot read ({exc})") from None
    if len(frame) == 0:
        raise DataError(f"{where}: empty file (header only, no data rows)")
    return frame


def _numeric(frame, column: str, where: str) -> np.ndarray:
    import pandas as pd

    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & raw.notna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{where}: column {column!r} holds non-numeric value {raw.iloc[i]!r} at "
            f"data row {i + 1}"
        )
    return values


def load_csv_subject(
    path: Path | str,
    modalities: Sequence[str],
    subject: str | None = None,
    spec: CsvSpec | None = None,
    labels: Path | str | None = None,
) -> Recording:
    """Load one subject's file with the requested modalities (all signals when empty).

    Parameters
    ----------
    path : Path
        The subject's ``.csv``/``.parquet``.
    modalities : sequence of str
        Names from ``[signals]``.
    spec : CsvSpec, optional
        The dataset description; default: ``dataset.toml`` beside ``path``.
    labels : Path, optional
        A segments file overriding ``[labels] segments``.
    """
    path = Path(path)
    spec = spec or load_spec(path)
    subject = subject or path.stem
    where = f"{path} (subject {subject})"
    modalities = list(modalities) or list(spec.signals)
    unknown = [m for m in modalities if m not in spec.signals]
    if unknown:
        raise ConfigError(
            f"unknown modality {unknown[0]!r} in {spec.path}; valid: {', '.join(spec.signals)}"
        )
    present = _columns(path, where)
    needed = [c for m in modalities for c in spec.signals[m]]
    if spec.time_column:
        needed.append(spec.time_column)
    if spec.label_column:
        needed.append(spec.label_column)
    for column in needed:
        if column not in present:
            raise DataError(f"{where}: missing column {column!r} (columns: {', '.join(present)})")
    frame = _read_table(path, list(dict.fromkeys(needed)), spec.label_column, where)
    n = len(frame)

    rate = spec.rate
    grid = None
    if spec.time_column:
        t = _numeric(frame, spec.time_column, where)
        if n < 2:
            raise DataError(
                f"{where}: one row only: cannot derive a rate from {spec.time_column!r}"
            )
        if not np.isfinite(t).all():
            i = int(np.argmax(~np.isfinite(t)))
            raise DataError(
                f"{where}: time column {spec.time_column!r} is empty or not finite at "
                f"data row {i + 1}"
            )
        steps = np.diff(t)
        if (steps <= 0).any():
            i = int(np.argmax(steps <= 0)) + 1
            raise DataError(
                f"{where}: time column {spec.time_column!r} is not increasing at data "
                f"row {i + 1} ({t[i - 1]:g} then {t[i]:g})"
            )
        rate = float(f"{1.0 / float(np.median(steps)):.6g}")  # 99.9999997 -> 100
        step = 1.0 / rate
        t0 = t[0]
        t = t - t0
        if np.abs(steps - step).max() > _JITTER * step:
            n_grid = np.floor(t[-1] / step + 1e-9) + 1
            if n_grid > MAX_GRID_RATIO * n:  # checked before the grid is allocated
                i = int(np.argmax(steps)) + 1
                raise DataError(
                    f"{where}: time column {spec.time_column!r} jumps by {steps[i - 1]:g} s "
                    f"at data row {i + 1} ({t[i - 1] + t0:g} then {t[i] + t0:g}); "
                    f"resampled at {rate:g} Hz its {n} rows would become {n_grid:.0f} "
                    f"samples (at most {MAX_GRID_RATIO:g}x the rows): split the file at the "
                    f"gap or fix the time column"
                )
            grid = np.arange(int(n_grid)) * step
            times = t

    signals: dict[str, Signal] = {}
    for modality in modalities:
        data = np.stack([_numeric(frame, c, where) for c in spec.signals[modality]], axis=1)
        if grid is not None:
            data = np.stack([np.interp(grid, times, data[:, k]) for k in range(data.shape[1])], 1)
        if np.isnan(data).all():
            raise DataError(
                f"{where}: signal {modality} ({', '.join(spec.signals[modality])}) holds no numbers"
            )
        signals[modality] = Signal(np.ascontiguousarray(data, dtype=np.float32), float(rate))

    label_array, label_rate = None, None
    if spec.label_column:
        label_array = _label_codes(frame[spec.label_column], spec, where)
        if grid is not None:
            label_array = label_array[np.searchsorted(times, grid, side="right") - 1]
        label_rate = float(rate)
    segments_file = Path(labels) if labels else spec.segments
    if segments_file is not None and spec.labelled and not spec.label_column:
        rows = [s for s in read_segments(segments_file) if s.record == subject]
        if rows:
            codes = []
            for seg in rows:
                code = spec.values.get(_value_text(seg.label))
                if code is None:
                    if _value_text(seg.label) in spec.ignore:
                        code = 0
                    else:
                        raise DataError(
                            f"{segments_file}: subject {subject}, segment {seg.name!r}: "
                            f"unknown label {seg.label!r}; classes: "
                            f"{', '.join(spec.values)}"
                        )
                codes.append(code)
            duration = (len(grid) if grid is not None else n) / rate
            label_array = segments_to_labels(
                rows, codes, duration, SEGMENT_LABEL_RATE, f"{segments_file} (subject {subject})"
            )
            label_rate = SEGMENT_LABEL_RATE
    return Recording(
        subject=subject,
        signals=signals,
        labels=label_array,
        label_rate=label_rate,
        source=path,
        dataset="csv",
    )


def _label_codes(column, spec: CsvSpec, where: str) -> np.ndarray:
    """Per-row label values -> codes (0 for empty cells and ``ignore`` values)."""
    import pandas as pd

    values = column.to_numpy(dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = np.zeros(len(uniques) + 1, dtype=np.int16)  # last entry: the NA sentinel -1
    for k, value in enumerate(uniques):
        text = _value_text(value)
        if text == "" or text in spec.ignore:
            continue
        if text not in spec.values:
            row = int(np.argmax(codes == k)) + 1
            raise DataError(
                f"{where}: label column {spec.label_column!r} holds unknown value "
                f"{value!r} at data row {row}; valid: {', '.join(spec.values)} "
                "(add it to [labels] ignore to treat it as unlabelled)"
            )
        lookup[k] = spec.values[text]
    out = lookup[codes]
    if out.max(initial=0) > 127:
        raise DataError(f"{where}: more than 127 classes are not supported")
    return out.astype(np.int8)


class CsvAdapter(DatasetAdapter):
    """Users' own recordings: CSV/Parquet files described by ``dataset.toml``."""

    name = "csv"

    def detects(self, path: Path) -> bool:
        """``dataset.toml`` itself, or a folder (a file's folder) holding one."""
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        return path.name == SPEC_NAME or (folder / SPEC_NAME).is_file()

    def find_subjects(self, path: Path, subjects: Sequence[str] = ()) -> dict[str, Path]:
        return find_csv_subjects(Path(path), tuple(subjects))

    def load(
        self,
        file: Path,
        modalities: Sequence[str],
        subject: str,
        root: Path | None = None,
        labels: Path | None = None,
    ) -> Recording:
        """Load one file; ``root`` is where ``dataset.toml`` is (default: beside ``file``)."""
        spec = load_spec(root if root else file)
        return load_csv_subject(Path(file), tuple(modalities), subject, spec, labels or None)

    def load_present(
        self, file: Path, subject: str, root: Path | None = None, labels: Path | None = None
    ) -> Recording:
        return self.load(file, (), subject, root, labels)

    def modalities(self, path: Path | None = None) -> tuple[str, ...]:
        """The ``[signals]`` of ``dataset.toml`` (so ``path`` is needed)."""
        if not path:
            raise ConfigError(
                "the modalities of a csv dataset come from its dataset.toml: give the data path"
            )
        return tuple(load_spec(path).signals)

    def tasks(self, path: Path | None = None) -> dict[str, Task]:
        """The ``[labels]`` task and the ``[tasks.NAME]`` of ``dataset.toml``."""
        if not path:
            raise ConfigError(
                "the tasks of a csv dataset come from its dataset.toml: give the data path"
            )
        spec = load_spec(path)
        if not spec.tasks:
            raise ConfigError(
                f"{spec.path}: no [labels] table, so no task: the dataset can be "
                "inspected and predicted on, not trained on"
            )
        return spec.tasks

    def label_names(self, path: Path | None = None) -> dict[int, str]:
        spec = load_spec(path)
        return {0: "unlabelled", **{i + 1: c for i, c in enumerate(spec.classes)}}

    def label_files(self, path: Path, labels: Path | None = None) -> list[Path]:
        """``--labels``, ``dataset.toml`` and its segments file."""
        spec = load_spec(path)
        files = super().label_files(path, labels) + [spec.path]
        return files + [spec.segments] if spec.segments is not None else files

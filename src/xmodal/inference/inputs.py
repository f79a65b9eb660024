"""Recordings to predict on, from the command line: dataset adapters or a plain CSV file."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.errors import ConfigError, DataError


@dataclass
class InputRecording:
    """Signals of one recording for prediction.

    Parameters
    ----------
    name : str
        Subject or file name.
    signals : dict of str to np.ndarray
        ``{modality: (n, channels)}`` at ``rates``.
    rates : dict of str to float
        Sampling rate per modality in Hz.
    labels, label_rate
        Raw label codes and their rate, when the recording has them (for plots).
    start_unix, timezone
        Wall-clock start (unix seconds) and IANA time zone, when the files record them.
    events : tuple of float
        Marked moments (E4 tags) in seconds from the start, drawn in plots.
    """

    name: str
    signals: dict
    rates: dict
    labels: np.ndarray | None = None
    label_rate: float | None = None
    start_unix: float | None = None
    timezone: str | None = None
    events: tuple = ()


def parse_mapping(text: str, flag: str) -> dict[str, str]:
    """``"a=x,b=y"`` -> ``{"a": "x", "b": "y"}``; ConfigError naming ``flag`` otherwise."""
    out = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{flag}: expected MODALITY=VALUE[,...], got {item!r}")
        out[key.strip()] = value.strip()
    return out


def read_plain_csv(
    path: str | Path, modalities: Sequence[str], columns: dict[str, str], rates: dict[str, str]
) -> InputRecording:
    """Columns of a CSV file with a header row (one sample per row) as the given modalities.

    Raises
    ------
    ConfigError
        A modality without ``--columns``/``--rates`` entry, or differing rates (one row is one
        sample of every column, so all columns share one rate).
    DataError
        Missing file or column, or non-numeric values.
    """
    path = Path(path)
    for m in modalities:
        if m not in columns:
            raise ConfigError(
                f"--columns has no column for {m} (the model needs {', '.join(modalities)})"
            )
        if m not in rates:
            raise ConfigError(f"--rates has no rate for {m}")
    try:
        values = {m: float(rates[m]) for m in modalities}
    except ValueError:
        raise ConfigError(f"--rates: not a number in {rates}") from None
    if len(set(values.values())) > 1:
        raise ConfigError(
            f"a plain CSV holds one sample of every column per row, so all rates "
            f"must be equal; got {values}"
        )
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise DataError(f"{path}: empty file (expected a header row)")
    header = [h.strip() for h in header]
    index = {}
    for m in modalities:
        if columns[m] not in header:
            raise DataError(
                f"{path}: no column {columns[m]!r} for {m} (columns: {', '.join(header)})"
            )
        index[m] = header.index(columns[m])
    used = sorted(set(index.values()))
    try:
        data = np.loadtxt(
            path,
            delimiter=",",
            skiprows=1,
            usecols=used,
            dtype=np.float64,
            ndmin=2,
            encoding="utf-8-sig",
        )
    except ValueError as exc:
        raise DataError(f"{path}: non-numeric value ({exc})") from None
    signals = {m: data[:, used.index(index[m])][:, None].astype(np.float32) for m in modalities}
    return InputRecording(path.stem, signals, values)


def read_dataset_input(
    path: str | Path, modalities: Sequence[str], dataset: str | None = None
) -> InputRecording:
    """One recording through the dataset adapters (:mod:`xmodal.data.registry`).

    ``dataset`` defaults to the adapter recognising the path; the input must hold exactly
    one subject (record).
    """
    from xmodal.data.registry import detect_adapter, get_adapter

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    adapter = get_adapter(dataset) if dataset is not None else detect_adapter(path)
    found = adapter.find_subjects(path)
    if len(found) != 1:
        raise DataError(
            f"{path}: holds {len(found)} recordings ({', '.join(found)}); pass one "
            f"subject's folder or file"
        )
    subject, file = next(iter(found.items()))
    rec = adapter.load(file, tuple(modalities), subject, root=path)
    return InputRecording(
        subject,
        {m: s.data for m, s in rec.signals.items()},
        {m: s.rate for m, s in rec.signals.items()},
        rec.labels,
        rec.label_rate,
        rec.start_unix,
        rec.timezone,
        tuple(rec.events),
    )

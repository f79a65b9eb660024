"""Files written atomically: a temporary file in the same folder, flushed, then renamed.

Readers see the old file or the new one, never half of one; every result file, checkpoint,
cache entry and simulated recording is written through here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from xmodal.errors import XmodalError

#: name of the lock file that one command at a time holds in an output folder
LOCK_NAME = ".lock"


def atomic_write_stream(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` on a temporary binary file next to ``path``, then move it there.

    The parent folder is created if needed; the temporary file is removed on any error
    (also Ctrl-C). An OSError without a file name (a full disk: ``ENOSPC``, a file-size limit:
    ``EFBIG``) is raised again naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write_stream(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python values, tuples as lists and
    non-finite floats as None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented strict JSON (see :func:`jsonable`) atomically."""
    atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")


def read_json(path: Path) -> Any:
    """The content of a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_state_dict(path: Path, state: dict) -> None:
    """Write a torch state dict (tensors only; load with ``weights_only=True``) atomically."""
    import torch  # here: the data and signal layers do not need torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` (an exclusive ``flock``) for the duration of a ``with`` block.

    One command at a time writes into an output folder: a second one fails at once with an
    :class:`~xmodal.errors.XmodalError` naming the process that holds the lock. The lock is
    released by the kernel when the holder exits, however it ends. A folder this call created
    and that holds nothing but the lock file afterwards is removed again.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise XmodalError(
                f"{folder} is in use by another xmodal command (pid {holder}); wait for it "
                f"to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            if created and [p.name for p in folder.iterdir()] == [LOCK_NAME]:
                lock.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    folder.rmdir()
    finally:
        os.close(fd)

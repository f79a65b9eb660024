"""One recording session as a folder or a ``.zip``: named files read safely, never extracted.

A :class:`SessionFiles` gives the bytes of a session's files by name (``EDA.csv``,
``tags.csv``, ...), whether they lie in a folder or in a zip archive. A zip is read in memory
only, member by member, so nothing is written to disk and a member name such as
``../../etc/passwd`` can never become a path; such names (absolute, ``..``, backslashes) are
rejected all the same, as the mark of a crafted archive. Against zip bombs, a member is refused
when its declared size exceeds :data:`MAX_MEMBER_BYTES`, when it expands more than
:data:`MAX_RATIO` times its compressed size, or when the members read from one archive add up
to more than :data:`MAX_TOTAL_BYTES`; reading stops at the declared size, so an archive that
lies about it cannot deliver more (``zipfile`` checks each member's length and CRC).

The session's files may lie at the top of the archive or in one folder in it (what zipping a
folder gives); archives holding them in several folders, or deeper, are refused: which folder
would be the session is not known. macOS resource entries (``__MACOSX/``, ``._*``) are skipped.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from xmodal.errors import DataError

__all__ = [
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "SessionFiles",
    "is_zip",
]

#: largest uncompressed member read from a zip (a 36-hour E4 BVP.csv is about 90 MB)
MAX_MEMBER_BYTES = 1 << 30
#: largest uncompressed total read from one zip
MAX_TOTAL_BYTES = 4 << 30
#: largest expansion (uncompressed / compressed size) of a member above RATIO_MIN_BYTES
MAX_RATIO = 200.0
#: members smaller than this are not checked for their expansion ratio
RATIO_MIN_BYTES = 1 << 20


def is_zip(path: Path) -> bool:
    """True for an existing file named ``*.zip``."""
    return path.suffix.lower() == ".zip" and path.is_file()


def _skipped(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1].startswith("._"))


class SessionFiles:
    """The files of one session folder or zip, by file name.

    Parameters
    ----------
    path : Path
        A folder, or a ``.zip`` archive.
    wanted : iterable of str
        The file names the caller may ask for (others are ignored, wherever they lie).

    Raises
    ------
    DataError
        Not a readable zip, a member name that is absolute or climbs out (``..``), or the
        wanted files in nested or several folders of the archive.
    """

    def __init__(self, path: Path, wanted) -> None:
        self.path = Path(path)
        self.wanted = frozenset(wanted)
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._read_total = 0
        self.is_zip = is_zip(self.path)
        if self.is_zip:
            self._index_zip()

    def _index_zip(self) -> None:
        try:
            with zipfile.ZipFile(self.path) as zf:
                infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise DataError(f"{self.path}: not a readable zip archive ({exc})") from None
        folders: dict[str, str] = {}  # folder inside the zip -> one member name found there
        for info in infos:
            name = info.filename
            if info.is_dir() or _skipped(name):
                continue
            pure = PurePosixPath(name)
            if "\\" in name or pure.is_absolute() or ".." in pure.parts or ":" in pure.parts[0]:
                raise DataError(
                    f"{self.path}: member {name!r} has an absolute or climbing path; "
                    "refusing the archive"
                )
            if pure.name not in self.wanted:
                continue
            if len(pure.parts) > 2:
                raise DataError(
                    f"{self.path}: {pure.name} lies in nested folders ({name}); put one "
                    "session's files at the top of the zip or in one folder"
                )
            folders.setdefault(str(pure.parent), name)
            if len(folders) > 1:
                shown = ", ".join(f"{f}/" if f != "." else "top level" for f in sorted(folders))
                raise DataError(
                    f"{self.path}: session files lie in several folders ({shown}); one zip "
                    "holds one session"
                )
            if pure.name in self._members:
                raise DataError(f"{self.path}: {name} found twice in the zip")
            self._members[pure.name] = info

    def where(self, name: str) -> str:
        """How a file is named in messages: ``folder/EDA.csv`` or ``session.zip:EDA.csv``."""
        if self.is_zip:
            info = self._members.get(name)
            return f"{self.path}:{info.filename if info else name}"
        return str(self.path / name)

    def has(self, name: str) -> bool:
        """Whether the session holds the file ``name``."""
        if self.is_zip:
            return name in self._members
        return (self.path / name).is_file()

    def names(self) -> list[str]:
        """The wanted files present, sorted."""
        return sorted(n for n in self.wanted if self.has(n))

    def file_path(self, name: str) -> Path | None:
        """The file on disk (a folder session), ``None`` inside a zip."""
        return None if self.is_zip else self.path / name

    def read(self, name: str) -> bytes:
        """The bytes of file ``name``; DataError when absent, oversized or a likely zip bomb."""
        if name not in self.wanted:
            raise ValueError(f"{name!r} is not among the wanted files")
        if not self.is_zip:
            try:
                return (self.path / name).read_bytes()
            except FileNotFoundError:
                raise DataError(f"{self.path}: no {name}") from None
            except OSError as exc:
                raise DataError(
                    f"{self.path / name}: cannot read ({exc.strerror or exc})"
                ) from None
        info = self._members.get(name)
        if info is None:
            raise DataError(f"{self.path}: no {name} in the zip")
        where = self.where(name)
        if info.file_size > MAX_MEMBER_BYTES:
            raise DataError(
                f"{where}: declares {info.file_size / 2**20:.0f} MiB uncompressed, more than "
                f"the {MAX_MEMBER_BYTES / 2**20:.0f} MiB read from one member"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_MIN_BYTES and ratio > MAX_RATIO:
            raise DataError(
                f"{where}: expands {ratio:.0f} times ({info.compress_size} -> "
                f"{info.file_size} bytes), more than {MAX_RATIO:g}: a zip bomb?"
            )
        if self._read_total + info.file_size > MAX_TOTAL_BYTES:
            raise DataError(
                f"{where}: the archive expands to more than {MAX_TOTAL_BYTES / 2**30:.0f} GiB"
            )
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(info) as fh:
                data = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise DataError(f"{where}: cannot read from the zip ({exc})") from None
        if len(data) != info.file_size:
            raise DataError(f"{where}: holds {len(data)} bytes, the zip declares {info.file_size}")
        self._read_total += len(data)
        return data

    def head(self, name: str, lines: int = 2) -> bytes:
        """The first ``lines`` lines of file ``name`` (without reading the rest)."""
        if not self.is_zip:
            out = []
            try:
                with open(self.path / name, "rb") as fh:
                    for _ in range(lines):
                        out.append(fh.readline(1 << 16))
            except OSError as exc:
                raise DataError(
                    f"{self.path / name}: cannot read ({exc.strerror or exc})"
                ) from None
            return b"".join(out)
        info = self._members.get(name)
        if info is None:
            raise DataError(f"{self.path}: no {name} in the zip")
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(info) as fh:
                return b"".join(fh.readline(1 << 16) for _ in range(lines))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise DataError(f"{self.where(name)}: cannot read from the zip ({exc})") from None

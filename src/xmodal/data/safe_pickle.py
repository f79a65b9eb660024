"""Restricted unpickling of numpy-array pickles (WESAD ``SX.pkl`` files).

A pickle is a program: ``pickle.load`` on an untrusted file may call any importable function.
:func:`load_pickle` runs it under an unpickler whose ``find_class`` admits only the handful of
globals that numpy needs to rebuild arrays, dtypes and scalars, plus the two builtins that
Python-3 protocol-2 pickles use to spell ``bytes``. Every admitted global is replaced by a
wrapper that checks its arguments before calling numpy, so even an admitted name cannot be
abused (``numpy.ndarray`` is only a marker for ``_reconstruct``; ``_codecs.encode`` only
encodes a ``str`` as latin-1). Anything else -- ``os.system``, ``builtins.eval``, a class
instance, a persistent id, an out-of-band buffer -- raises
:class:`~xmodal.errors.UnsafePickleError` before the referenced object is looked up, let alone
called.

Both the original Python-2 pickles of WESAD (loaded with ``encoding="latin1"``, numpy 1.x names
``numpy.core.multiarray``) and Python-3 re-pickles (protocol 5, ``numpy._core`` or
``numpy.core`` names, ``_frombuffer``) load, on numpy 1.x and 2.x alike: module names of either
numpy generation map to the installed numpy's functions, which are imported once, here, from a
fixed list (the pickle never makes this module import anything).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.errors import DataError, UnsafePickleError, XmodalError

__all__ = ["load_pickle", "ALLOWED_GLOBALS"]

if int(np.__version__.split(".")[0]) >= 2:
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
else:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

_np_reconstruct = _multiarray._reconstruct
_np_scalar = _multiarray.scalar
_np_frombuffer = _numeric._frombuffer

_LATIN1 = {"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1"}


class _Refused(Exception):
    """Raised inside the unpickler; :func:`load_pickle` turns it into UnsafePickleError."""


class _Global:
    """A stand-in for an admitted global: callable only through an argument-checking function.

    It has no ``__dict__`` and refuses ``BUILD`` (``__setstate__``), so a pickle cannot alter it.
    """

    __slots__ = ("qualname", "_func")

    def __init__(self, qualname: str, func: Callable[..., Any] | None) -> None:
        self.qualname = qualname
        self._func = func

    def __call__(self, *args: Any) -> Any:
        if self._func is None:
            raise _Refused(
                f"a call of {self.qualname} (allowed only as the first argument "
                "of numpy's _reconstruct)"
            )
        return self._func(*args)

    def __setstate__(self, state: Any) -> None:
        raise _Refused(f"BUILD applied to the global {self.qualname}")

    def __reduce__(self) -> Any:  # never pickle the wrappers themselves
        raise TypeError(f"cannot pickle the safe-unpickler stand-in for {self.qualname}")

    def __repr__(self) -> str:
        return f"<safe {self.qualname}>"


_NDARRAY = _Global("numpy.ndarray", None)


def _check_dtype_spec(name: str, spec: Any) -> None:
    if not isinstance(spec, (str, bytes, np.dtype)):
        raise _Refused(f"{name} with a dtype of type {type(spec).__name__}")


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not _NDARRAY:
        raise _Refused(f"numpy _reconstruct of {subtype!r} (only numpy.ndarray is allowed)")
    if not isinstance(shape, tuple) or not all(isinstance(s, int) for s in shape):
        raise _Refused("numpy _reconstruct with a non-integer shape")
    _check_dtype_spec("numpy _reconstruct", dtype)
    return _np_reconstruct(np.ndarray, shape, dtype)


def _dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    _check_dtype_spec("numpy.dtype", spec)
    if isinstance(spec, bytes):
        spec = spec.decode("latin1")
    if not isinstance(align, (bool, int)) or not isinstance(copy, (bool, int)):
        raise _Refused("numpy.dtype with non-boolean flags")
    return np.dtype(spec, bool(align), bool(copy))


def _scalar(dtype: Any, *obj: Any) -> Any:
    if not isinstance(dtype, np.dtype) or len(obj) > 1:
        raise _Refused("numpy scalar with unsupported arguments")
    if obj and not isinstance(obj[0], (bytes, str, int, float, complex, bool, type(None))):
        raise _Refused(f"numpy scalar of a {type(obj[0]).__name__}")
    return _np_scalar(dtype, *obj)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if not isinstance(buf, (bytes, bytearray)):
        raise _Refused(f"numpy _frombuffer of a {type(buf).__name__} buffer")
    if not isinstance(dtype, np.dtype) or not isinstance(order, str):
        raise _Refused("numpy _frombuffer with unsupported arguments")
    if not isinstance(shape, tuple) or not all(isinstance(s, int) for s in shape):
        raise _Refused("numpy _frombuffer with a non-integer shape")
    return _np_frombuffer(buf, dtype, shape, order)


def _codecs_encode(text: Any, encoding: Any = "utf-8", *errors: Any) -> bytes:
    # Python 3 writes ``bytes`` in protocol <= 2 as ``_codecs.encode(str, 'latin1')``.
    if (
        not isinstance(text, str)
        or not isinstance(encoding, str)
        or encoding.lower() not in _LATIN1
        or errors not in ((), ("strict",))
    ):
        raise _Refused("_codecs.encode with arguments other than (str, 'latin1')")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    # Python 3 writes ``b""`` in protocol <= 2 as ``__builtin__.bytes()``.
    if args:
        raise _Refused("builtins.bytes with arguments (only bytes() is allowed)")
    return b""


_WRAPPERS: dict[str, tuple[Callable[..., Any] | None, tuple[str, ...]]] = {
    # name: (checked implementation, module names of numpy 1.x / 2.x / Python 2 / Python 3)
    "_reconstruct": (_reconstruct, ("numpy.core.multiarray", "numpy._core.multiarray")),
    "scalar": (_scalar, ("numpy.core.multiarray", "numpy._core.multiarray")),
    "_frombuffer": (_frombuffer, ("numpy.core.numeric", "numpy._core.numeric")),
    "ndarray": (None, ("numpy",)),
    "dtype": (_dtype, ("numpy",)),
    "encode": (_codecs_encode, ("_codecs",)),
    "bytes": (_empty_bytes, ("builtins", "__builtin__")),
}

#: (module, name) -> stand-in; the complete allow-list of globals a pickle may reference.
ALLOWED_GLOBALS: dict[tuple[str, str], _Global] = {}
for _name, (_func, _modules) in _WRAPPERS.items():
    _stand_in = _NDARRAY if _name == "ndarray" else _Global(f"{_modules[0]}.{_name}", _func)
    for _module in _modules:
        ALLOWED_GLOBALS[(_module, _name)] = _stand_in
del _name, _func, _modules, _module, _stand_in


class _RefuseBuffers:
    """Iterator handed to the unpickler as ``buffers``: any out-of-band buffer is refused."""

    def __iter__(self) -> _RefuseBuffers:
        return self

    def __next__(self) -> Any:
        raise _Refused("out-of-band buffer (pickle protocol 5 NEXT_BUFFER)")


class _SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(f"global {module}.{name} (neither imported nor called)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused(f"persistent id {str(pid)[:60]!r}")


def load_pickle(path: Path | str) -> object:
    """Load a pickle that may contain only builtin containers and numpy arrays.

    Parameters
    ----------
    path : Path
        Pickle file: a Python-2 pickle (strings are decoded as latin-1) or a Python-3 pickle of
        any protocol (in-band buffers only).

    Returns
    -------
    object
        The unpickled object (dicts, lists, tuples, str, numbers, numpy arrays and scalars).

    Raises
    ------
    UnsafePickleError
        The pickle references any other global (named as ``module.name`` in the message), a
        persistent id or an out-of-band buffer, or calls an admitted numpy function with
        arguments it never needs. The referenced object is neither imported nor called.
    DataError
        The file is missing, unreadable, truncated or corrupt.
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a pickle file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    with f:
        if os.fstat(f.fileno()).st_size == 0:
            raise DataError(f"{path}: truncated or corrupt pickle (empty file)")
        unpickler = _SafeUnpickler(f, encoding="latin1", buffers=_RefuseBuffers())
        try:
            return unpickler.load()
        except _Refused as e:
            raise UnsafePickleError(
                f"{path}: unsafe pickle, refused {e}; only numpy arrays and builtin "
                "containers may be loaded"
            ) from None
        except XmodalError:
            raise
        except MemoryError:
            raise DataError(
                f"{path}: out of memory while unpickling (corrupt length field or "
                "file too large for this machine)"
            ) from None
        except RecursionError:
            raise DataError(f"{path}: truncated or corrupt pickle (nested too deeply)") from None
        except Exception as e:  # EOFError, UnpicklingError, ValueError, TypeError, ...
            detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            raise DataError(f"{path}: truncated or corrupt pickle ({detail})") from None
        finally:
            del unpickler

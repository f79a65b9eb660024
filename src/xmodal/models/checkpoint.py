"""Reading saved weights safely: ``torch.load(..., weights_only=True)`` with one-line errors."""

from __future__ import annotations

from pathlib import Path

import torch

from xmodal.errors import DataError


def _refusal(exc: Exception) -> str:
    """What torch's weights-only unpickler refused, as the end of a one-line message."""
    import re

    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"it refers to {found.group(1)}, which a state dict of tensors never does; "
            f"refused, nothing in it was run"
        )
    lines = [
        ln.strip().rstrip(".") for ln in text.splitlines() if ln.strip() and "Unsupported" in ln
    ]
    return f"not a PyTorch checkpoint ({lines[0] if lines else type(exc).__name__})"


def read_checkpoint(path: Path, device="cpu") -> dict:
    """A ``model.pt`` state dict, read with ``torch.load(..., weights_only=True)``.

    Only tensors and plain containers are unpickled: a file that refers to anything else (a
    function, a class) is refused before any of it runs.

    Raises
    ------
    DataError
        Unreadable, truncated, not a PyTorch file, refused by the weights-only unpickler, or not
        a state dict of tensors; the message names the file.
    """
    import pickle
    import warnings
    import zipfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on a foreign pickle protocol
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: cannot load checkpoint: {_refusal(exc)}") from None
    except (EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{path}: cannot load checkpoint: empty or truncated file ({type(exc).__name__})"
        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot load checkpoint ({exc.strerror or exc})") from None
    except Exception as exc:  # torch's zip reader and unpickler raise many kinds
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        what = (
            "truncated or corrupt file"
            if "zip archive" in text or "central directory" in text
            else f"not a PyTorch checkpoint ({type(exc).__name__}"
            f"{': ' + text[:120] if text else ''})"
        )
        raise DataError(f"{path}: cannot load checkpoint: {what}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise DataError(
            f"{path}: cannot load checkpoint: holds a {type(state).__name__}, not "
            f"a state dict of tensors"
        )
    return state

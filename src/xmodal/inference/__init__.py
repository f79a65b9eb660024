"""Using a trained run: offline prediction, streaming, export, attention inspection.

``Predictor``, ``StreamingPredictor`` and ``PredictionTable`` are imported on first use, so that
the command line does not load torch before it needs it.
"""

from __future__ import annotations

_EXPORTS = {
    "Predictor": "xmodal.inference.predictor",
    "StreamingPredictor": "xmodal.inference.streaming",
    "PredictionTable": "xmodal.inference.table",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'xmodal.inference' has no attribute {name!r}")

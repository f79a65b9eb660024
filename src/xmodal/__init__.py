"""xmodal: emotion recognition from wearable physiology with attentive cross-modal connections.

The names below are imported on first use, so ``import xmodal`` stays light (no torch).
"""

from xmodal.errors import DataError, XmodalError
from xmodal.version import __version__

#: public name -> module defining it, or ``module:name`` where the name differs (imported by
#: :func:`__getattr__` when first used)
_LAZY = {
    "Predictor": "xmodal.inference",
    "StreamingPredictor": "xmodal.inference",
    "PredictionTable": "xmodal.inference",
    "RunConfig": "xmodal.config",
    "WindowDataset": "xmodal.api",
    "XModalClassifier": "xmodal.api",
    "benchmark": "xmodal.api",
    "load_dataset": "xmodal.api",
    "person_experts": "xmodal.api",
    "run_experiment": "xmodal.api",
    "ModelEntry": "xmodal.models.registry",
    "get_model": "xmodal.models.registry",
    "model_names": "xmodal.models.registry",
    "register_model": "xmodal.models.registry",
    "unregister_model": "xmodal.models.registry",
    "register_dataset": "xmodal.data.registry:register",
}

__all__ = ["DataError", "XmodalError", "__version__", *_LAZY]


def __getattr__(name: str):
    """``from xmodal import XModalClassifier`` etc. (imported on first use)."""
    if name in _LAZY:
        import importlib

        module, _, attribute = _LAZY[name].partition(":")
        return getattr(importlib.import_module(module), attribute or name)
    raise AttributeError(f"module 'xmodal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

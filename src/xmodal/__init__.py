"""xmodal: emotion recognition from wearable physiology with attentive cross-modal connections."""

from xmodal.errors import DataError, XmodalError
from xmodal.version import __version__

__all__ = ["DataError", "Predictor", "StreamingPredictor", "XmodalError", "__version__"]


def __getattr__(name: str):
    """``from xmodal import Predictor`` (imported on first use: it loads torch)."""
    if name in ("Predictor", "StreamingPredictor", "PredictionTable"):
        from xmodal import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'xmodal' has no attribute {name!r}")

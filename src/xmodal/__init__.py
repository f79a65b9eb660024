"""xmodal: emotion recognition from wearable physiology with attentive cross-modal connections."""

from xmodal.errors import DataError, XmodalError

__version__ = "0.1.0"

__all__ = ["DataError", "XmodalError", "__version__"]

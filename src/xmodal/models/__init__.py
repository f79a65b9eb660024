"""Networks: convolutional streams, cross-modal connections, fusion baselines, registry."""

from xmodal.models.align import Align, align, alignment_matrix
from xmodal.models.base import XModalModel
from xmodal.models.blocks import BlockPlan, ClassifierHead, ConvBlock, StreamEncoder, plan_stream
from xmodal.models.complexity import count_parameters, flops_per_window
from xmodal.models.connections import CrossModalConnection
from xmodal.models.early_fusion import EarlyFusionNet
from xmodal.models.multimodal import CrossModalNet, connection_pairs
from xmodal.models.registry import (
    MODELS,
    ModelEntry,
    build_model,
    get_model,
    model_names,
    register_model,
)
from xmodal.models.score_fusion import ScoreFusionNet

__all__ = [
    "MODELS",
    "Align",
    "BlockPlan",
    "ClassifierHead",
    "ConvBlock",
    "CrossModalConnection",
    "CrossModalNet",
    "EarlyFusionNet",
    "ModelEntry",
    "ScoreFusionNet",
    "StreamEncoder",
    "XModalModel",
    "align",
    "alignment_matrix",
    "build_model",
    "connection_pairs",
    "count_parameters",
    "flops_per_window",
    "get_model",
    "model_names",
    "plan_stream",
    "register_model",
]

"""Networks: convolutional streams, cross-modal connections, fusion baselines, registry."""

from xmodal.models.align import Align, align, alignment_matrix
from xmodal.models.base import XModalModel
from xmodal.models.blocks import BlockPlan, ClassifierHead, ConvBlock, StreamEncoder, plan_stream
from xmodal.models.complexity import count_parameters, flops_per_window
from xmodal.models.connections import CrossModalConnection
from xmodal.models.early_fusion import EarlyFusionNet
from xmodal.models.multimodal import CrossModalNet, connection_pairs
from xmodal.models.registry import MODEL_NAMES, build_model
from xmodal.models.score_fusion import ScoreFusionNet

__all__ = [
    "MODEL_NAMES",
    "Align",
    "BlockPlan",
    "ClassifierHead",
    "ConvBlock",
    "CrossModalConnection",
    "CrossModalNet",
    "EarlyFusionNet",
    "ScoreFusionNet",
    "StreamEncoder",
    "XModalModel",
    "align",
    "alignment_matrix",
    "build_model",
    "connection_pairs",
    "count_parameters",
    "flops_per_window",
    "plan_stream",
]

"""Architectures with the CAM interface (``features`` -> GAP -> linear ``classifier``) and helpers."""

from .cam_adapter import CAMAdapter
from .cam_net import CAMNet
from .evaluation_mode import evaluation_mode
from .normalize import Normalize
from .pool import Pool
from .resnet20 import ResNet20
from .small import Small
from .surrogate import softplus_surrogate
from .wide_resnet import WideResNet

__all__ = [
    "CAMAdapter",
    "CAMNet",
    "Normalize",
    "Pool",
    "ResNet20",
    "Small",
    "WideResNet",
    "evaluation_mode",
    "softplus_surrogate",
]

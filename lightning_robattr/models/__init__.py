"""Architectures with the CAM interface (``features`` -> GAP -> linear ``classifier``) and helpers."""

from .cam_adapter import CAMAdapter
from .cam_net import CAMNet
from .evaluation_mode import evaluation_mode
from .normalize import Normalize
from .pool import Pool
from .resnet20 import ResNet20
from .rts_net import RTSNet
from .small import Small
from .surrogate import SmoothDerivativeReLU, relu_derivative_surrogate, softplus_surrogate
from .wide_resnet import WideResNet

__all__ = [
    "CAMAdapter",
    "CAMNet",
    "Normalize",
    "Pool",
    "RTSNet",
    "ResNet20",
    "Small",
    "SmoothDerivativeReLU",
    "WideResNet",
    "evaluation_mode",
    "relu_derivative_surrogate",
    "softplus_surrogate",
]

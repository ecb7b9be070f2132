"""Architectures with the CAM interface (``features`` -> GAP -> linear ``classifier``) and helpers."""

from ._cam_adapter import CAMAdapter
from ._cam_net import CAMNet
from ._evaluation_mode import evaluation_mode
from ._normalize import Normalize
from ._pool import Pool
from ._resnet20 import ResNet20
from ._rts_net import RTSNet
from ._small import Small
from ._surrogate import SmoothDerivativeReLU, flushed_denormals, relu_derivative_surrogate, softplus_surrogate
from ._wide_resnet import WideResNet

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
    "flushed_denormals",
    "relu_derivative_surrogate",
    "softplus_surrogate",
]

"""``WideResNet``: pre-activation residual networks, Madry's WRN and the Int paper's narrow variant."""

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ._cam_net import CAMNet, init_conv_fan_in
from ._normalize import Normalize
from ._resnet20 import CIFAR10_MEAN, CIFAR10_STD


def _activation(leaky_slope: float) -> nn.Module:
    return nn.ReLU() if leaky_slope == 0 else nn.LeakyReLU(leaky_slope)


class _PreActBlock(nn.Module):
    """``conv(act(bn(conv(act(bn(x)))))) + shortcut``; the shortcut average-pools and zero-pads channels."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, *, batch_norm: bool, leaky_slope: float, activate_before_residual: bool
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels) if batch_norm else nn.Identity()
        self.act1 = _activation(leaky_slope)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.act2 = _activation(leaky_slope)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.stride, self.pad = stride, out_channels - in_channels
        self.activate_before_residual = activate_before_residual

    def forward(self, x: Tensor) -> Tensor:
        h = self.act1(self.bn1(x))
        shortcut = h if self.activate_before_residual else x
        y = self.conv2(self.act2(self.bn2(self.conv1(h))))
        if self.stride > 1:
            shortcut = F.avg_pool2d(shortcut, self.stride)
        if self.pad:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return y + shortcut


class WideResNet(CAMNet):
    """Pre-activation ResNet with three stages of widths ``16k, 32k, 64k`` (strides 1, 2, 2).

    The defaults are Madry's CIFAR-10 challenge WRN (5 units per stage, width factor 10, BN,
    leaky ReLU 0.1, a final BN + activation, a biased head). The BN-free network that
    "Proper Network Interpretability Helps Adversarial Robustness" calls WResnet is
    ``WideResNet(widen_factor=1, batch_norm=False, leaky_slope=0.0, head_bias=False,
    final_activation=False)``.

    Args:
        in_channels: input channels.
        num_classes: number of logits.
        blocks_per_stage: residual units in each of the three stages.
        widen_factor: width multiplier ``k``.
        batch_norm: whether the units use BatchNorm.
        leaky_slope: negative slope of the activation (0 gives ReLU).
        head_bias: whether the final linear layer has a bias.
        final_activation: whether BN + activation precede the pooling.
        mean, std: per-channel normalisation applied inside the network.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        blocks_per_stage: int = 5,
        widen_factor: int = 10,
        batch_norm: bool = True,
        leaky_slope: float = 0.1,
        head_bias: bool = True,
        final_activation: bool = True,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1, bias=not batch_norm)
        blocks, channels = [], 16
        for stage, stride in enumerate((1, 2, 2)):
            width = 16 * 2**stage * widen_factor
            for i in range(blocks_per_stage):
                first = i == 0
                blocks.append(
                    _PreActBlock(
                        channels,
                        width,
                        stride if first else 1,
                        batch_norm=batch_norm,
                        leaky_slope=leaky_slope,
                        activate_before_residual=batch_norm and stage == 0 and first,
                    )
                )
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.head = (
            nn.Sequential(nn.BatchNorm2d(channels) if batch_norm else nn.Identity(), _activation(leaky_slope))
            if final_activation
            else nn.Identity()
        )
        self.classifier = nn.Linear(channels, num_classes, bias=head_bias)
        init_conv_fan_in(self)

    def features(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(self.normalize(x))))

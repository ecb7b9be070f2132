"""``ResNet20``: the CIFAR ResNet v1 (n = 3) of "Smoothed Geometry for Robust Attribution"."""

from collections.abc import Sequence

from torch import Tensor, nn

from ._cam_net import CAMNet
from ._normalize import Normalize

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class _BasicBlock(nn.Module):
    """``ReLU(shortcut(x) + BN(conv(ReLU(BN(conv(x))))))``; a 1x1 strided conv shortcut on a stage change."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        self.shortcut = (
            nn.Identity() if stride == 1 and in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1, stride=stride)
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(self.shortcut(x) + y)


class ResNet20(CAMNet):
    """conv 3x3/16 + BN + ReLU, three stages of three basic blocks (16/32/64 channels), GAP, linear.

    About 0.27M parameters; the CAM grid is 8x8 on 32x32 inputs. The head keeps its bias as
    in the paper (zero-initialised, as in Keras), so the mean of a class-c CAM over the cells
    is the logit minus that bias.

    Args:
        in_channels: 3 for CIFAR.
        num_classes: number of logits.
        mean, std: per-channel normalisation applied inside the network (CIFAR-10 statistics by default).
        head_bias: whether the final linear layer has a bias.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
        head_bias: bool = True,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, channels = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(_BasicBlock(channels, width, stride if i == 0 else 1))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(64, num_classes, bias=head_bias)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features(self, x: Tensor) -> Tensor:
        return self.blocks(self.stem(self.normalize(x)))

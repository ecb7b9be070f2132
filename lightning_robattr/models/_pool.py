"""``Pool``: Madry's MNIST CNN with its dense layers replaced by GAP and a linear head."""

from collections.abc import Sequence

from torch import Tensor, nn

from ._cam_net import CAMNet, init_conv_fan_in
from ._normalize import Normalize


class Pool(CAMNet):
    """conv 5x5/32 -> max-pool 2 -> ReLU -> conv 5x5/64 -> max-pool 2 -> GAP -> linear (no bias).

    The CAM grid is 7x7 on 28x28 inputs.

    Args:
        in_channels: 1 for MNIST, 3 for CIFAR.
        num_classes: number of logits.
        mean, std: per-channel normalisation applied inside the network.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean or [0.0] * in_channels, std or [1.0] * in_channels)
        self.conv1 = nn.Conv2d(in_channels, 32, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.pool2 = nn.MaxPool2d(2)
        self.classifier = nn.Linear(64, num_classes, bias=False)
        init_conv_fan_in(self)

    def features(self, x: Tensor) -> Tensor:
        h = self.relu1(self.pool1(self.conv1(self.normalize(x))))
        return self.pool2(self.conv2(h))

"""``Small``: the three-convolution GAP network of "Proper Network Interpretability Helps Adversarial Robustness"."""

from collections.abc import Sequence

from torch import Tensor, nn

from ._cam_net import CAMNet, init_conv_fan_in
from ._normalize import Normalize


class Small(CAMNet):
    """conv 4x4/16 s2 -> ReLU -> conv 4x4/32 s2 -> ReLU -> conv 7x7/100 -> GAP -> linear (no bias).

    No activation follows the last convolution, so the features (and CAM) may be negative.
    The CAM grid is 7x7 on 28x28 inputs and 8x8 on 32x32 inputs.

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
        self.conv1 = nn.Conv2d(in_channels, 16, 4, stride=2, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 4, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(32, 100, 7, stride=1, padding=3)
        self.classifier = nn.Linear(100, num_classes, bias=False)
        init_conv_fan_in(self)

    def features(self, x: Tensor) -> Tensor:
        h = self.conv1(self.normalize(x))
        h = self.conv2(self.relu1(h))
        return self.conv3(self.relu2(h))

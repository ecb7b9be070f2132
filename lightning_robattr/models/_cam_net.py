"""The interface every classifier of the package offers: features, then GAP, then a linear head."""

import torch
from torch import Tensor, nn


def init_conv_fan_in(module: nn.Module) -> None:
    """Initialise conv weights ~ N(0, 1/fan_in) and zero their biases (the Int paper's nets)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            nn.init.normal_(m.weight, std=fan_in**-0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class CAMNet(nn.Module):
    """A classifier ``logits = classifier(mean_{h,w} features(x))``.

    Subclasses implement ``features(x) -> (B, K, h, w)`` on pixel-space input in [0, 1]
    and own an ``nn.Linear`` named ``classifier`` (``K -> num_classes``). That structure is
    what CAM, GradCAM, Int and the representation attribution rely on.
    """

    classifier: nn.Linear

    def features(self, x: Tensor) -> Tensor:
        """Last convolutional feature map ``(B, K, h, w)`` of pixel-space input ``(B, C, H, W)``."""
        raise NotImplementedError(f"{type(self).__name__} must define features(x)")

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` of pixel-space images ``(B, C, H, W)``."""
        return self.classifier(torch.flatten(self.features(x).mean(dim=(2, 3)), 1))

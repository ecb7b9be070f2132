"""The masking network of real-time saliency (Dabkowski & Gal, "Real Time Image Saliency for Black Box Classifiers")."""

from pathlib import Path

import torch
from torch import Tensor, nn


def _block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()
    )


class RTSNet(nn.Module):
    """Encoder, class selector and U-Net decoder mapping an image and a class to a mask on the ``H/2 x W/2`` grid.

    A scaled-down version of the authors' model for small images: a three-scale convolutional
    encoder (``H``, ``H/2``, ``H/4``; ``width``, ``2 width``, ``4 width`` channels) in place of
    their ResNet-50, the same class selector (an embedding ``e_c`` per class; the bottleneck
    features ``s`` are gated by ``sigmoid(<s, e_c> - confidence)`` at every position), one
    upsampling stage with a skip connection, and their two-channel head ``|a| / (|a| + |b|)``. Like
    their encoder (a ResNet-50 with its ImageNet classifier), it has a class head on the pooled
    bottleneck features, read by ``class_logits`` (trained by ``losses.rts_loss``; the ADV2 authors'
    RTS attack adds its cross-entropy to the target class).

    Args:
        in_channels: image channels; num_classes: classes the selector knows.
        width: channels of the first scale.
        confidence: the selector's offset (6 when explaining, as the ADV2 authors run it).

    Shapes: ``forward(x (B, C, H, W) in [0, 1], target (B,)) -> (B, H/2, W/2)`` in [0, 1] (1: keep);
    ``class_logits(x) -> (B, num_classes)``.

    Example:
        >>> RTSNet(1, 10)(torch.rand(2, 1, 28, 28), torch.tensor([3, 5])).shape
        torch.Size([2, 14, 14])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, width: int = 16, confidence: float = 6.0) -> None:
        super().__init__()
        self.num_classes, self.confidence = num_classes, confidence
        self.encode_full = _block(in_channels, width, 1)
        self.encode_half = _block(width, 2 * width, 2)
        self.encode_quarter = nn.Sequential(_block(2 * width, 4 * width, 2), _block(4 * width, 4 * width, 1))
        self.selector = nn.Embedding(num_classes, 4 * width)
        nn.init.normal_(self.selector.weight, std=(4 * width) ** -0.5)
        self.up = nn.Sequential(_block(4 * width, 8 * width, 1), nn.PixelShuffle(2), nn.ReLU())
        self.decode = nn.Sequential(_block(2 * width + 2 * width, 2 * width, 1), nn.Conv2d(2 * width, 2, 1))
        self.class_head = nn.Linear(4 * width, num_classes)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The encoder's ``H/2`` features (the skip connection) and its ``H/4`` bottleneck, of images in [0, 1]."""
        half = self.encode_half(self.encode_full(x * 2 - 1))
        return half, self.encode_quarter(half)

    def class_logits(self, x: Tensor) -> Tensor:
        """``(B, num_classes)``: the class head on the average-pooled bottleneck of images ``x (B, C, H, W)`` in [0, 1]."""
        return self.classify(self.encode(x)[1])

    def masks_and_class_logits(self, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """``(forward(x, target), class_logits(x))`` from one pass of the encoder."""
        half, bottleneck = self.encode(x)
        return self.decode_masks(half, bottleneck, target), self.classify(bottleneck)

    def forward(self, x: Tensor, target: Tensor) -> Tensor:
        return self.decode_masks(*self.encode(x), target)

    def classify(self, bottleneck: Tensor) -> Tensor:
        """``(B, num_classes)``: the class head on the average-pooled ``bottleneck`` of ``encode``."""
        return self.class_head(bottleneck.mean(dim=(2, 3)))

    def decode_masks(self, half: Tensor, bottleneck: Tensor, target: Tensor) -> Tensor:
        """``(B, H/2, W/2)`` in [0, 1]: the masks of classes ``target (B,)`` from the features of ``encode``."""
        selection = (bottleneck * self.selector(target)[:, :, None, None]).sum(dim=1, keepdim=True)
        bottleneck = bottleneck * torch.sigmoid(selection - self.confidence)
        decoded = self.decode(torch.cat([self.up(bottleneck)[..., : half.shape[-2], : half.shape[-1]], half], dim=1))
        keep, drop = decoded.abs().unbind(dim=1)
        return keep / (keep + drop).clamp_min(1e-8)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> "RTSNet":
        """The masking network saved in an ``RTSModule`` checkpoint (its ``saliency_net.*`` weights), in eval mode."""
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        options = checkpoint.get("hyper_parameters", {}).get("saliency_net")
        if options is None:
            raise ValueError(f"{str(path)!r} is not an RTSModule checkpoint (no saliency_net hyperparameters); train one with configs/rts.yaml")
        net = cls(**options)
        prefix = "saliency_net."
        if f"{prefix}class_head.weight" not in checkpoint["state_dict"]:
            raise ValueError(f"{str(path)!r} holds a masking network without the class head ADV2 reads; retrain it with configs/rts.yaml")
        net.load_state_dict({key[len(prefix) :]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)})
        return net.eval()

"""The training objective of real-time saliency masks (Dabkowski & Gal), with the ADV2 authors' defaults."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attributions._mask import gaussian_blur
from ._objective import RegimeObjective


def margin(logits: Tensor, label: Tensor) -> Tensor:
    """``(B,)``: ``z_label - max_{j != label} z_j`` of logits ``(B, K)``."""
    own = logits.gather(1, label[:, None]).squeeze(1)
    others = logits.scatter(1, label[:, None], float("-inf")).amax(dim=1)
    return own - others


def mask_smoothness(m: Tensor, border_coeff: float = 0.3) -> Tensor:
    """``(B,)``: ``sum |dx m|^2 + sum |dy m|^2 + border_coeff * sum of m^2 on the outer ring`` of masks ``(B, h, w)``, halved."""
    rows = (m[:, 1:, :] - m[:, :-1, :]).pow(2).flatten(1).sum(dim=1)
    cols = (m[:, :, 1:] - m[:, :, :-1]).pow(2).flatten(1).sum(dim=1)
    ring = torch.ones_like(m[0], dtype=torch.bool)
    ring[1:-1, 1:-1] = False
    border = m.pow(2)[:, ring].sum(dim=1)
    return (rows + cols + border_coeff * border) / 2


def background(x: Tensor, generator: torch.Generator | None = None, *, blur_probability: float = 0.5) -> Tensor:
    """``(B, C, H, W)``: the image the deleted region is filled from, drawn per image.

    With ``blur_probability`` the image blurred by a Gaussian of std ``11 H / 224`` pixels, otherwise
    a random colour (uniform in ``0.5 +- 0.33``) plus Gaussian noise of std 0.11 (the authors' fills).
    """
    sigma = 11 * x.shape[-2] / 224
    blurred = gaussian_blur(x, sigma, 2 * math.ceil(2.5 * sigma) + 1)
    batch, channels = x.shape[:2]
    colour = 0.5 + 0.66 * (torch.rand(batch, channels, 1, 1, generator=generator, device=x.device) - 0.5)
    noisy = colour + 0.11 * torch.randn(x.shape, generator=generator, device=x.device)
    use_blur = torch.rand(batch, 1, 1, 1, generator=generator, device=x.device) < blur_probability
    return torch.where(use_blur, blurred, noisy.to(x.dtype))


def rts_loss(
    classifier: nn.Module,
    saliency_net: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    area_coeff: float = 8.0,
    area_power: float = 0.3,
    smoothness_coeff: float = 0.5,
    preserver_coeff: float = 0.3,
    preserver_confidence: float = 1.0,
    destroyer_confidence: float = 5.0,
    class_coeff: float = 10.0,
    generator: torch.Generator | None = None,
) -> RegimeObjective:
    """Dabkowski & Gal's objective for the masks ``m = saliency_net(x, y)`` (1: keep) of a fixed ``classifier``.

    ``destroyer + area_coeff * area + smoothness_coeff * smoothness + preserver_coeff * preserver
    + class_coeff * classification``, batch means of:

    * area ``mean((m + 5e-4)^area_power)`` over the mask grid: small masks;
    * smoothness ``mask_smoothness``: no speckle, nothing on the border;
    * preserver ``relu(max_{j != y} z_j - z_y + preserver_confidence)`` on ``up(m) x + (1 - up(m)) b``
      (plus noise of std 0.03): the kept region alone is classified ``y``;
    * destroyer ``relu(z_y - max_{j != y} z_j + destroyer_confidence)`` on ``(1 - up(m)) x + up(m) b``:
      without the region the image is not ``y``;
    * classification ``CE(saliency_net.class_logits(x), y)``: trains the network's class head (the
      authors' encoder comes with an ImageNet classifier's), which the ADV2 attack on RTS reads;

    ``b`` the ``background`` fill, ``up`` bilinear upsampling to the image. Only
    ``saliency_net`` is meant to be trained; keep ``classifier`` in eval mode.

    Returns:
        ``RegimeObjective(loss, logits=classifier(x) (detached), parts)`` with the five terms and the mean mask area.
    """
    mask, class_logits = saliency_net.masks_and_class_logits(x, y)  # one pass of the encoder for both
    up = F.interpolate(mask[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)
    fill = background(x, generator)
    kept = up * x + (1 - up) * fill + 0.03 * torch.randn(x.shape, generator=generator, device=x.device)
    removed = (1 - up) * x + up * fill
    area = (mask + 5e-4).pow(area_power).flatten(1).mean(dim=1).mean()
    smoothness = mask_smoothness(mask).mean()
    preserver = F.relu(preserver_confidence - margin(classifier(kept), y)).mean()
    destroyer = F.relu(margin(classifier(removed), y) + destroyer_confidence).mean()
    classification = F.cross_entropy(class_logits, y)
    loss = destroyer + area_coeff * area + smoothness_coeff * smoothness + preserver_coeff * preserver + class_coeff * classification
    with torch.no_grad():
        logits = classifier(x)
    parts = {"area": area, "smoothness": smoothness, "preserver": preserver, "destroyer": destroyer, "classification": classification, "mask_mean": mask.mean()}
    return RegimeObjective(loss, logits, {name: value.detach() for name, value in parts.items()})

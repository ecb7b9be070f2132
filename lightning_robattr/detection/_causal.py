"""The causal-neighbourhood robustness of a prediction ("Attribution-driven Causal Analysis for Detection of Adversarial Examples").

Mask the pixels that integrated gradients credit most for the predicted class, a growing
fraction at a time, and find the smallest fraction that changes the prediction: benign
inputs keep their label under much more masking than adversarial ones.
"""

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from .._validation import check_batch, check_choice, check_positive_int, require_autograd
from ..attacks._attack_config import AttackConfig, resolve_config
from ..attributions import integrated_gradients
from ..models import evaluation_mode

FRACTIONS_OF = ("positive", "all")


def check_granularity(granularity: float) -> None:
    """Raise unless the step between masking levels lies in (0, 1]."""
    if isinstance(granularity, bool) or not isinstance(granularity, (int, float)) or not 0 < granularity <= 1:
        raise ValueError(f"granularity must lie in (0, 1], got {granularity}; e.g. 0.05 masks 5%, 10%, ... of the pixels")


@dataclass(frozen=True)
class CausalConfig(AttackConfig):
    """How :func:`causal_robustness` masks and attributes (also ``CausalDetector``'s and ``DetectionEval``'s ``detector``).

    Attributes:
        granularity: the step between masking levels, in (0, 1] (0.05: 5 %, 10 %, ..., 100 %).
        ig_steps: integrated-gradients points (right Riemann rule, >= 1).
        baseline: the masked value and IG's baseline: a float, or (from Python) a tensor broadcastable to the images.
        fraction_of: ``"positive"`` (a level is a share of the positively attributed pixels, the
            paper's Algorithm 1) or ``"all"`` (of all pixels, its definition).
        batch_size: masked images per forward pass (>= 1; all levels of an image go together).
    """

    granularity: float = 0.05
    ig_steps: int = 50
    baseline: float | Tensor = 0.0
    fraction_of: Literal["positive", "all"] = "positive"
    batch_size: int = 512

    def check(self) -> None:
        check_granularity(self.granularity)
        check_positive_int(self.ig_steps, "ig_steps")
        check_choice(self.fraction_of, FRACTIONS_OF, name="fraction_of")
        check_positive_int(self.batch_size, "batch_size")


def masking_levels(granularity: float) -> Tensor:
    """``(J,)`` the masked fractions ``granularity, 2 granularity, ..., <= 1`` (float64)."""
    check_granularity(granularity)
    count = math.floor(1 / granularity + 1e-9)
    return torch.arange(1, count + 1, dtype=torch.float64) * granularity


def masked_counts(levels: Tensor, available: Tensor) -> Tensor:
    """``(B, J)`` pixels masked at each level: ``ceil(level * available)`` per image (``available (B,)``), exact for decimal levels."""
    product = levels[None, :] * available[:, None].to(torch.float64)
    return torch.ceil(product - 1e-9 * product.clamp_min(1)).long()


def pixel_ranks(order: Tensor) -> Tensor:
    """``(B, P)``: each pixel's position in ``order (B, P)`` (0: the most attributed)."""
    rank = torch.empty_like(order)
    return rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))


def mask_top_pixels(x: Tensor, order: Tensor, counts: Tensor, baseline: Tensor) -> Tensor:
    """``(B, J, C, H, W)``: for each level ``j``, ``x`` with its first ``counts[:, j]`` pixels of ``order`` set to ``baseline``.

    Args:
        x: images ``(B, C, H, W)``.
        order: ``(B, H*W)`` pixel indices, most attributed first.
        counts: ``(B, J)`` how many of them each level masks.
        baseline: the masked value, broadcastable to ``x`` (all channels of a pixel are masked together).
    """
    batch, _, height, width = x.shape
    masked = pixel_ranks(order)[:, None, :] < counts[:, :, None]  # (B, J, H*W)
    masked = masked.view(batch, counts.shape[1], 1, height, width)
    return torch.where(masked, baseline.expand_as(x)[:, None], x[:, None])


def causal_robustness(
    model: nn.Module, x: Tensor, *, config: CausalConfig | None = None, **options: Any
) -> tuple[Tensor, Tensor]:
    """The smallest masked fraction ``rho`` that changes each image's prediction, and the flip at every level.

    For each image (settings of :class:`CausalConfig`): the predicted class ``c``; its IG map
    (from ``baseline``, ``ig_steps`` points) summed over channels; the pixels ordered by
    attribution (stable, largest first); at each level ``delta`` of ``masking_levels(granularity)``
    the top ``ceil(delta * m)`` pixels are set to the baseline in every channel, with ``m`` the
    number of positively attributed pixels (``fraction_of="positive"``, the paper's Algorithm 1)
    or of all pixels (``"all"``, its definition). ``rho`` is the first level whose masked image is not classified ``c``
    (``1 + granularity`` when none is: the image is robust at every level). An image without a
    positively attributed pixel (``fraction_of="positive"``) has nothing to mask: it gets
    ``1 + granularity`` too, which is no measurement, and a ``UserWarning`` counts such images
    (a number, not NaN, so that ROC metrics and thresholds still take the batch).

    Args:
        model: classifier on pixel-space images (eval mode and fp32 inside, restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        config: the settings (:class:`CausalConfig`, default ``CausalConfig()``).
        **options: fields of :class:`CausalConfig` replaced for this call (``ig_steps=20``).

    Returns:
        ``(rho (B,), flips (B, J))``: ``flips[b, j]`` whether masking level ``j`` changed the prediction.

    Cost: one IG (``ig_steps`` forward and backward passes) and ``J`` forward passes per image.

    Example:
        >>> from lightning_robattr.models import Small
        >>> rho, flips = causal_robustness(Small(), torch.rand(2, 1, 28, 28), ig_steps=4)
        >>> rho.shape, flips.shape
        (torch.Size([2]), torch.Size([2, 20]))
    """
    config = resolve_config(CausalConfig, config, options)
    return robustness_of(model, ranked_pixels(model, x, config), config)


class PixelRanking(NamedTuple):
    """What the masking needs of a batch: the checked images, the predicted classes ``label (B,)``, the
    pixels by decreasing channel-summed IG of that class ``order (B, H*W)``, how many pixels the
    fractions count ``available (B,)`` (the positively attributed ones, or all) and the baseline."""

    x: Tensor
    label: Tensor
    order: Tensor
    available: Tensor
    baseline: Tensor


def ranked_pixels(model: nn.Module, x: Tensor, config: CausalConfig) -> PixelRanking:
    """The ``PixelRanking`` of images ``x``: one IG pass (``config.ig_steps`` points) of the predicted class."""
    require_autograd("causal_robustness")
    (x,) = check_batch(model, x)
    base = torch.as_tensor(config.baseline, dtype=x.dtype, device=x.device)
    with evaluation_mode(model):
        with torch.no_grad():
            label = model(x).argmax(dim=1)
        attribution = integrated_gradients(model, x, label, baseline=base.expand_as(x), steps=config.ig_steps).sum(dim=1).flatten(1)
    order = torch.sort(attribution, dim=1, descending=True, stable=True).indices
    available = (attribution > 0).sum(dim=1) if config.fraction_of == "positive" else torch.full_like(label, attribution.shape[1])
    return PixelRanking(x, label, order, available, base)


def robustness_of(model: nn.Module, ranking: PixelRanking, config: CausalConfig) -> tuple[Tensor, Tensor]:
    """``(rho (B,), flips (B, J))`` of a ranked batch at ``config.granularity``, every level of an image in one forward pass.

    Warns (``UserWarning``) when some images have nothing to mask (no positively attributed pixel).
    """
    x, label, granularity = ranking.x, ranking.label, config.granularity
    levels = masking_levels(granularity).to(x.device)
    unmasked = int((ranking.available == 0).sum())
    if unmasked:
        warnings.warn(
            f"causal_robustness: {unmasked} of the {len(x)} images have no positively attributed pixel (their IG map of the "
            f"predicted class is <= 0 everywhere), so nothing is masked and their rho = {1 + granularity:g} (robust at every "
            "level) is not a measurement; leave them out of the scores, or rank all pixels with fraction_of='all'",
            UserWarning,
            stacklevel=3,
        )
    counts = masked_counts(levels, ranking.available)
    per_pass = max(1, config.batch_size // len(levels))
    flips = []
    with evaluation_mode(model), torch.no_grad():
        for part in torch.arange(len(x), device=x.device).split(per_pass):
            masked = mask_top_pixels(x[part], ranking.order[part], counts[part], ranking.baseline.expand_as(x)[part])
            predicted = model(masked.flatten(0, 1)).argmax(dim=1).view(len(part), len(levels))
            flips.append(predicted != label[part, None])
    flips = torch.cat(flips)
    first = torch.where(flips.any(dim=1), flips.float().argmax(dim=1), torch.full_like(label, len(levels)))
    rho = torch.cat([levels, levels.new_tensor([1 + granularity])])[first].to(x.dtype)
    return rho, flips


def region_of(ranking: PixelRanking, fraction: float) -> Tensor:
    """``(B, H, W)`` bool: the pixels a ranked batch has masked at level ``fraction``."""
    x = ranking.x
    counts = masked_counts(torch.tensor([float(fraction)], dtype=torch.float64, device=x.device), ranking.available)
    return (pixel_ranks(ranking.order) < counts).view(len(x), *x.shape[-2:])


def masked_region(model: nn.Module, x: Tensor, fraction: float, *, config: CausalConfig | None = None, **options: Any) -> Tensor:
    """``(B, H, W)`` bool: the pixels ``causal_robustness`` masks at level ``fraction`` (e.g. to see how many lie in a patch);
    ``config`` and ``options`` as there (its ``ig_steps``, ``baseline`` and ``fraction_of`` matter here)."""
    return region_of(ranked_pixels(model, x, resolve_config(CausalConfig, config, options)), fraction)


def unchanged_fraction(rho: Tensor, levels: Tensor) -> Tensor:
    """``(J,)`` the share of images whose prediction survives masking up to each level: ``mean(rho > level)`` (the paper's S(M, X, delta))."""
    return (rho[None, :].double() > levels[:, None].to(rho.device) + 1e-6).double().mean(dim=1)  # rho may be float32

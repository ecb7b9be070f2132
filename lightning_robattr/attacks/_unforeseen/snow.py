"""The snow attack of Kang et al. (Testing Robustness Against Unforeseen Adversaries).

Seven grids of flake intensities (one flake site every 4 pixels, at seven offsets) are raised
to the 4th power, drawn with seven random motion-blurred line kernels and added, scaled by
``eps``, to a whitened copy of the image. The attack ascends the loss over the intensities by
signed steps, keeping them in (0, 1] with a mean of at most ``budget`` on each 8x8 block.
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..._validation import check_batch, check_nonnegative
from ...models import evaluation_mode
from .._ascent import projected_gradient_ascent
from .._attack_config import resolve_config
from .._classification_losses import classification_loss
from .._records import SuccessRecord, with_success
from .._threat_models import ThreatModel
from .config import UnforeseenConfig

FLAKE_GRIDS = 7
KERNEL_SIZE = 13
BLOCK = 8


def _line(size: int, end: tuple[int, int], width: float) -> Tensor:
    """Anti-aliased segment from the centre of a ``size x size`` grid to ``end``, on rows >= centre.

    Along the major axis each cell gets ``clip(1 + w / 2 - |offset from the line|, 0, 1)`` with
    ``w = width * sqrt(1 + |slope|) / 2``, as in the reference's weighted line.
    """
    mid = size // 2
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    (r1, c1), steep = end, abs(end[0] - mid) > abs(end[1] - mid)
    major, minor = (rows, cols) if steep else (cols, rows)
    major_end, minor_end = (r1, c1) if steep else (c1, r1)
    slope = (minor_end - mid) / (major_end - mid)
    w = width * math.sqrt(1 + abs(slope)) / 2
    offset = (minor - (mid + slope * (major - mid))).abs()
    inside = (major >= min(mid, major_end)) & (major <= max(mid, major_end)) & (rows >= mid)
    return torch.where(inside, (1 + w / 2 - offset).clamp(0, 1), torch.zeros(()))


def snow_kernels(*, generator: torch.Generator | None = None, device=None) -> Tensor:
    """Seven random 13x13 snowflake kernels ``(1, 7, 13, 13)`` (shared by the batch).

    Each is a line from the centre to a random point of the lower-right corner (rows and columns
    in 8..12), of width 1, 3 or 5 (probabilities 0.6, 0.3, 0.1), mirrored through the centre,
    all flipped left-right with probability 1/2, then blurred by a 3x3 Gaussian, sigma ~ U(0.41, 0.6).
    """
    mid = KERNEL_SIZE // 2
    kernels = []
    flip = torch.rand((), generator=generator) < 0.5
    for _ in range(FLAKE_GRIDS):
        end = tuple(int(v) for v in torch.randint(mid + 2, KERNEL_SIZE, (2,), generator=generator))
        width = (1.0, 3.0, 5.0)[int(torch.multinomial(torch.tensor([0.6, 0.3, 0.1]), 1, generator=generator))]
        k = _line(KERNEL_SIZE, end, width)
        k[: mid + 1, : mid + 1] = k.flip(0, 1)[: mid + 1, : mid + 1]
        k = k.flip(1) if flip else k
        sigma = 0.41 + 0.19 * float(torch.rand((), generator=generator))
        taps = torch.exp(-((torch.arange(3.0) - 1) ** 2) / (2 * sigma**2))
        blur = torch.outer(taps, taps) / taps.sum() ** 2
        kernels.append(F.conv2d(k[None, None], blur[None, None], padding=1)[0, 0])
    return torch.stack(kernels)[None].to(device)


def snowfall(intensities: Tensor, kernels: Tensor) -> Tensor:
    """Snow layer ``(B, 1, H, W)`` from intensities ``(B, 7, H/4, W/4)`` and ``kernels (1, 7, k, k)``.

    Grids 0-3 place ``intensity^4`` on rows 0, 4, ... and columns i, i + 4, ...; grids 4-6 on rows
    i + 1, i + 5, ... (i = grid - 4) and columns 0, 4, ...; each grid is drawn with its own kernel.
    """
    b, _, gh, gw = intensities.shape
    flakes = intensities.pow(4)
    sites = intensities.new_zeros(b, FLAKE_GRIDS, 4 * gh, 4 * gw)
    for i in range(4):
        sites[:, i, ::4, i::4] = flakes[:, i]
    for i in range(3):
        sites[:, 4 + i, i + 1 :: 4, ::4] = flakes[:, 4 + i]
    return F.conv2d(sites, kernels, padding=kernels.shape[-1] // 2)


def whiten(x: Tensor) -> Tensor:
    """The snow attack's discolouring ``0.75 x + 0.25 max(x, 1.5 luma(x) + 0.5)``; luma of grey is itself."""
    luma = x if x.shape[1] == 1 else (0.2126 * x[:, 0:1] + 0.7152 * x[:, 1:2] + 0.0722 * x[:, 2:3])
    return 0.75 * x + 0.25 * torch.maximum(x, 1.5 * luma + 0.5)


class SnowBudget(ThreatModel):
    """Intensities in (0, 1] whose mean over each 8x8 block of every grid is at most ``eps`` (the budget).

    Projection as in the reference: clamp to [1e-9, 1], then scale down each block whose mean exceeds the budget.
    """

    norm = "snow"

    def random_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The reference start ``exp(-U / budget)``, ``U ~ U(0, 1)``, shaped like ``x``, projected."""
        return self.project(torch.exp(-torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) / self.eps), x)

    def step(self, grad: Tensor, step_size: float) -> Tensor:
        return step_size * grad.sign()

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        v = x_adv.clamp(1e-9, 1)
        means = F.avg_pool2d(v, BLOCK, ceil_mode=True).clamp_min(self.eps)
        scale = (self.eps / means).repeat_interleave(BLOCK, -2).repeat_interleave(BLOCK, -1)
        return v * scale[..., : v.shape[-2], : v.shape[-1]]


@dataclass(frozen=True)
class SnowConfig(UnforeseenConfig):
    """The hyperparameters of :func:`snow`: the fields of ``UnforeseenConfig`` and the flakes' ``budget``.

    ``step_size`` is the step on the intensities (range [0, 1]); ``None``: ``eps / sqrt(steps)``.

    Attributes:
        budget: largest mean intensity per 8x8 block of flake sites, in (0, 1] (paper: 0.2).
    """

    budget: float = 0.2

    def check(self) -> None:
        super().check()
        if isinstance(self.budget, bool) or not isinstance(self.budget, (int, float)) or not 0 < self.budget <= 1:
            raise ValueError(f"budget must lie in (0, 1] (the largest mean intensity of a block; paper: 0.2), got {self.budget}")


def snow(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float = 2.0,
    config: SnowConfig | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[Tensor, SuccessRecord]:
    """Snow attack: ``x' = clip(whiten(x) + eps * snowfall(intensities), 0, 1)``.

    Images must have a side divisible by 4 (one flake site per 4 pixels). Grey images (MNIST)
    use their own value as luma, which equals attacking the RGB replica and averaging back.
    Unlike the reference, which skips the projection after the last step, every iterate
    (the returned one included) is projected onto the budget, and each example gets its
    highest-loss iterate rather than the last: signed steps spread the intensities evenly, and
    as flakes are ``intensity^4`` that weakens the snow, so the last iterate can be weaker
    than the random start.

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1].
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: true labels ``(B,)``, or target labels when ``targeted``.
        eps: snow amplitude on the [0, 1] pixel scale (the paper's values need no conversion).
            Calibrated sizes (ImageNet-100): 0.0625, 0.125, 0.25, 2, 4, 8; default 2, the Int
            paper's setting for CIFAR-10.
        config: the hyperparameters (:class:`SnowConfig`: ``steps``, ``step_size``, ``budget``, ``targeted``, ``loss``).
        generator: random source for the kernels and the initial intensities.
        **options: fields of :class:`SnowConfig` replaced for this call (``steps=2``).

    Returns:
        ``(x_adv, record)``: ``x_adv (B, C, H, W)`` and a ``SuccessRecord``.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = snow(net, x, y, eps=0.25, steps=2)
        >>> x_adv.shape
        torch.Size([4, 1, 28, 28])
    """
    x, y = check_batch(model, x, {"y": y}, required=("y",))
    check_nonnegative(eps, "eps", unit=" (the snow's amplitude on the [0, 1] pixel scale)")
    config = resolve_config(SnowConfig, config, options)
    if x.shape[-1] % 4 or x.shape[-2] % 4:
        raise ValueError(f"snow needs image sides divisible by 4, got {tuple(x.shape[-2:])}")
    steps, targeted = config.steps, config.targeted
    step_size = eps / math.sqrt(steps) if config.step_size is None else config.step_size
    loss_fn = classification_loss(config.loss)
    x = x.detach()
    kernels = snow_kernels(generator=generator, device=x.device).to(x.dtype)
    base = whiten(x)
    grid = x.new_empty(len(x), FLAKE_GRIDS, x.shape[-2] // 4, x.shape[-1] // 4)

    def render(intensities: Tensor) -> Tensor:
        return (base + eps * snowfall(intensities, kernels)).clamp(0, 1)

    with evaluation_mode(model):
        intensities = projected_gradient_ascent(
            lambda v, _: loss_fn(model(render(v)), y, targeted=targeted), grid, SnowBudget(config.budget),
            steps=steps, step_size=step_size, random_start=True, generator=generator, keep_best=True,
        )
        return with_success(model, render(intensities), y, targeted=targeted)

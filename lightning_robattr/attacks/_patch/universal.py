"""Universal patches: Brown et al.'s adversarial patch and LaVAN (Karmon et al.), and attacking with a patch.

A patch is optimised over many training images at once, a fresh mini-batch (and fresh random
placements) at every step, so unlike the per-example attacks it does not run on the one loop
``ascent.projected_gradient_ascent``: the optimised variable is one ``(C, h, w)`` patch, not a
perturbation per image.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..._validation import check_batch, check_nonnegative, check_positive_int
from ...models import evaluation_mode
from .._attack_config import AttackConfig, resolve_config
from .._records import with_success
from .placement import apply_patch, check_placement, check_size, patch_locations, patch_shape

BROWN_SIZE = 0.25
LAVAN_SIZE = 0.02


@dataclass(frozen=True)
class PatchConfig(AttackConfig):
    """The hyperparameters of :func:`adversarial_patch` and :func:`lavan` (the target class is an argument of the call).

    Attributes:
        size: the patch's share of the image area, in (0, 1]; ``None``: the attack's own, 25 % for
            :func:`adversarial_patch` (the smallest that fooled Inception consistently in "Attribution-driven
            Causal Analysis for Detection of Adversarial Examples"; on MNIST5k's natural Small a random-placed
            25 % patch fools about 60 % of held-out digits, a 10 % one about 15 %), 2 % for :func:`lavan`.
        steps: signed steps (>= 1), each on a fresh mini-batch.
        step_size: the step on the patch's pixels (>= 0; the patch stays in [0, 1]).
        placement: ``"random"`` (a random place per image and step: an expectation over placements)
            or one fixed top-left ``(row, col)`` corner.
        batch_size: training images per step (>= 1).
    """

    size: float | None = None
    steps: int = 500
    step_size: float = 0.01
    placement: Literal["random"] | tuple[int, int] = "random"
    batch_size: int = 64

    def check(self) -> None:
        if self.size is not None:
            check_size(self.size)
        check_positive_int(self.steps, "steps")
        check_nonnegative(self.step_size, "step_size")
        check_placement(self.placement)
        check_positive_int(self.batch_size, "batch_size")


def brown_objective(logits: Tensor, labels: Tensor, target: int) -> Tensor:
    """Brown et al.: the log-probability of the target class, per image ``(B,)``."""
    return F.log_softmax(logits, dim=1)[:, target]


def lavan_objective(logits: Tensor, labels: Tensor, target: int) -> Tensor:
    """LaVAN: the target's log-probability minus the source class's, i.e. ``z_target - z_source`` per image ``(B,)``."""
    return logits[:, target] - logits.gather(1, labels[:, None]).squeeze(1)


def _optimise_patch(
    model: nn.Module, images: Tensor, labels: Tensor, *, target: int, config: PatchConfig, size: float,
    objective: Callable[[Tensor, Tensor, int], Tensor], generator: torch.Generator | None,
) -> Tensor:
    images, labels = check_batch(model, images, {"labels": labels}, required=("labels",))
    keep = labels != target  # images of the target class teach nothing
    if not keep.any():
        raise ValueError(f"every training image is of the target class {target}; give images of other classes")
    images, labels = images[keep], labels[keep]
    hw = patch_shape(images.shape, size)
    patch = torch.rand((images.shape[1], *hw), generator=generator).to(images)
    with evaluation_mode(model):
        for _ in range(config.steps):
            pick = torch.randint(0, len(images), (min(config.batch_size, len(images)),), generator=generator).to(images.device)
            where = patch_locations(len(pick), images.shape, hw, config.placement, generator=generator, device=images.device)
            patch.requires_grad_(True)
            value = objective(model(apply_patch(images[pick], patch, where)), labels[pick], target).mean()
            (grad,) = torch.autograd.grad(value, patch)
            patch = (patch.detach() + config.step_size * grad.sign()).clamp(0, 1)
    return patch.detach()


def adversarial_patch(
    model: nn.Module, images: Tensor, labels: Tensor, *, target: int, config: PatchConfig | None = None,
    generator: torch.Generator | None = None, **options: Any,
) -> Tensor:
    """Brown et al.'s universal adversarial patch ``(C, h, w)``, optimised towards class ``target``.

    Maximises the mean log-probability of ``target`` over the training ``images (N, C, H, W)`` (those
    not labelled ``target``) with the patch pasted (its pixels replace the image's) at a random place
    per image and step (``placement="random"``, an expectation over placements) or at one fixed
    ``(row, col)`` corner; ``steps`` signed steps of ``step_size`` on a fresh ``batch_size``
    mini-batch each, the patch kept in [0, 1].

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1].
        images, labels: the training images ``(N, C, H, W)`` and their labels ``(N,)``.
        target: the class the patch pushes towards.
        config: the hyperparameters (:class:`PatchConfig`; its ``size`` defaults to 25 % here).
        generator: random source for the initial patch, the mini-batches and the placements.
        **options: fields of :class:`PatchConfig` replaced for this call (``steps=150``).
    """
    config = resolve_config(PatchConfig, config, options)
    return _optimise_patch(model, images, labels, target=target, config=config, size=config.size or BROWN_SIZE,
                           objective=brown_objective, generator=generator)


def lavan(
    model: nn.Module, images: Tensor, labels: Tensor, *, target: int, config: PatchConfig | None = None,
    generator: torch.Generator | None = None, **options: Any,
) -> Tensor:
    """LaVAN (Karmon et al., "LaVAN: Localized and Visible Adversarial Noise"): a small universal patch ``(C, h, w)``.

    As :func:`adversarial_patch`, with LaVAN's loss, the target's log-probability minus the true
    (source) class's, ``z_target - z_source``, and a small default ``size`` (2 % of the area).
    """
    config = resolve_config(PatchConfig, config, options)
    return _optimise_patch(model, images, labels, target=target, config=config, size=config.size or LAVAN_SIZE,
                           objective=lavan_objective, generator=generator)


class PatchRecord(NamedTuple):
    """Attributes:
    success: ``(B,)`` bool: the prediction became the target (images already labelled ``target`` never count).
    locations: ``(B, 2)`` the top-left corner ``(row, col)`` of each image's patch.
    """

    success: Tensor
    locations: Tensor


def patch_attack(
    model: nn.Module, x: Tensor, y: Tensor, *, patch: Tensor, target: int, placement: str | Sequence[int] = "random",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, PatchRecord]:
    """Paste ``patch`` on ``x (B, C, H, W)`` at ``placement`` (``"random"`` per image, or one ``(row, col)``).

    Returns ``(x_adv, PatchRecord)``: ``success`` and where each patch went.
    """
    x, y = check_batch(model, x, {"y": y}, required=("y",))
    where = patch_locations(len(x), x.shape, tuple(patch.shape[-2:]), placement, generator=generator, device=x.device)
    with evaluation_mode(model):
        x_adv, record = with_success(model, apply_patch(x, patch.to(x), where), torch.full_like(y, target), targeted=True)
    return x_adv, PatchRecord(record.success & (y != target), where)

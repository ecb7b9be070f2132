"""DeepFool (Moosavi-Dezfooli et al., DeepFool: a simple and accurate method to fool deep neural networks)."""

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_nonnegative, check_positive_int
from ...models import evaluation_mode
from .._attack_config import AttackConfig, resolve_config
from .._records import SuccessRecord


@dataclass(frozen=True)
class DeepFoolConfig(AttackConfig):
    """The hyperparameters of :func:`deepfool` (cleverhans' defaults).

    Attributes:
        steps: maximal number of iterations (>= 1).
        overshoot: relative overshoot of the accumulated step (>= 0).
        candidates: number of classes considered, the original one included (>= 2).
    """

    steps: int = 50
    overshoot: float = 0.02
    candidates: int = 10

    def check(self) -> None:
        check_positive_int(self.steps, "steps")
        check_nonnegative(self.overshoot, "overshoot")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates < 2:
            raise ValueError(f"candidates must be an integer >= 2 (the original class and another), got {self.candidates!r}")


def deepfool(
    model: nn.Module, x: Tensor, y: Tensor | None = None, *, config: DeepFoolConfig | None = None, **options: Any
) -> tuple[Tensor, SuccessRecord]:
    """Untargeted minimal-L2 attack by linearising the decision boundaries.

    At ``x_i``, for each candidate class ``k`` (the ``candidates`` highest clean logits other
    than the original class ``k0``), ``w_k = grad(f_k - f_k0)`` and ``f'_k = f_k - f_k0``; the step
    towards the nearest linearised boundary ``l = argmin |f'_k| / ||w_k||`` is
    ``r_i = (|f'_l| + 1e-4) / ||w_l||^2 * w_l``. Iterates ``x_{i+1} = clip(x + (1 + overshoot) *
    sum r_i, 0, 1)`` until the label leaves ``k0`` (cleverhans defaults: 50 steps, overshoot 0.02,
    10 candidates). Costs one forward and ``candidates`` backward passes per iteration.

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1].
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: original classes ``k0 (B,)``; default the model's predictions on ``x``.
        config: the hyperparameters (:class:`DeepFoolConfig`, default ``DeepFoolConfig()``).
        **options: fields of :class:`DeepFoolConfig` replaced for this call (``steps=5``).

    Returns:
        ``(x_adv, record)``: ``x_adv (B, C, H, W)`` and a ``SuccessRecord`` (label differs from ``y``).

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = deepfool(net, x, steps=5)
        >>> (x_adv - x).flatten(1).norm(dim=1).shape  # the L2 size of each perturbation
        torch.Size([4])
    """
    x, y = check_batch(model, x, {"y": y})
    config = resolve_config(DeepFoolConfig, config, options)
    x = x.detach()
    with evaluation_mode(model):
        with torch.no_grad():
            logits = model(x)
        k0 = logits.argmax(1) if y is None else y
        others = logits.scatter(1, k0[:, None], float("-inf")).topk(min(config.candidates, logits.shape[1]) - 1, dim=1).indices
        r_total = torch.zeros_like(x)
        x_adv = x.clone()
        for _ in range(config.steps):
            x_i = x_adv.requires_grad_(True)
            logits = model(x_i)
            active = logits.argmax(1) == k0
            if not bool(active.any()):
                break
            gaps = logits.gather(1, others) - logits.gather(1, k0[:, None])
            grads = torch.stack(
                [torch.autograd.grad(gaps[:, j].sum(), x_i, retain_graph=j + 1 < gaps.shape[1])[0] for j in range(gaps.shape[1])],
                dim=1,
            )
            norms = grads.flatten(2).norm(dim=2)
            nearest = (gaps.detach().abs() / (norms + 1e-8)).argmin(dim=1)
            w = grads[torch.arange(len(x)), nearest]
            gap, norm = gaps.detach().gather(1, nearest[:, None]).squeeze(1), norms.gather(1, nearest[:, None]).squeeze(1)
            r = ((gap.abs() + 1e-4) / (norm**2 + 1e-12)).view(-1, 1, 1, 1) * w
            r_total = r_total + r * active.view(-1, 1, 1, 1)
            x_adv = (x + (1 + config.overshoot) * r_total).clamp(0, 1).detach()
        with torch.no_grad():
            success = model(x_adv).argmax(1) != k0
    x_adv = x_adv.detach()
    return x_adv, SuccessRecord(success)


"""Carlini & Wagner's L2 attack (Towards Evaluating the Robustness of Neural Networks)."""

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_nonnegative, check_positive_int
from ...models import evaluation_mode
from .._attack_config import AttackConfig, resolve_config
from .._classification_losses import cw_margin, succeeded
from .._records import SuccessRecord


@dataclass(frozen=True)
class CWConfig(AttackConfig):
    """The hyperparameters of :func:`cw_l2` (cleverhans' defaults).

    Attributes:
        c: initial trade-off constant (>= 0).
        kappa: confidence: success needs ``margin >= kappa`` (>= 0).
        steps: Adam steps per binary-search step (>= 1).
        lr: Adam learning rate on ``w`` (>= 0).
        binary_search_steps: optimisations with updated ``c`` (>= 1).
        targeted: reach ``y`` instead of leaving it.
        abort_early: stop an optimisation when the loss has not fallen by 0.01 % over
            ``ceil(steps / 10)`` steps.
    """

    c: float = 1e-2
    kappa: float = 0.0
    steps: int = 1000
    lr: float = 5e-3
    binary_search_steps: int = 5
    targeted: bool = False
    abort_early: bool = True

    def check(self) -> None:
        check_positive_int(self.steps, "steps")
        check_positive_int(self.binary_search_steps, "binary_search_steps")
        for value, name in ((self.c, "c"), (self.kappa, "kappa"), (self.lr, "lr")):
            check_nonnegative(value, name)


def cw_l2(
    model: nn.Module, x: Tensor, y: Tensor, *, config: CWConfig | None = None, **options: Any
) -> tuple[Tensor, SuccessRecord]:
    """Smallest-L2 adversarial images by Adam on ``||x' - x||_2^2 + c * max(-margin(x'), -kappa)``.

    ``x' = (tanh(w) + 1) / 2`` keeps images in [0, 1]; ``margin`` is the Carlini-Wagner logit
    margin (``classification_losses.cw_margin``), positive when the attack succeeds. A binary
    search on ``c`` per example (x10 until the first success, then bisection) runs
    ``binary_search_steps`` optimisations of ``steps`` Adam steps each, every one from ``x``.
    Defaults are cleverhans': kappa 0, lr 5e-3, 5 searches, 1000 steps, initial c 1e-2.

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1].
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: true labels ``(B,)``, or target labels when ``targeted``.
        config: the hyperparameters (:class:`CWConfig`, default ``CWConfig()``).
        **options: fields of :class:`CWConfig` replaced for this call (``steps=100``).

    Returns:
        ``(x_adv, record)``: the smallest-L2 successful image found per example (``x`` itself
        where none was) and a ``SuccessRecord`` (success includes the ``kappa`` margin).

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = cw_l2(net, x, y, steps=5)
        >>> x_adv.shape, record.success.dtype
        (torch.Size([4, 1, 28, 28]), torch.bool)
    """
    x, y = check_batch(model, x, {"y": y}, required=("y",))
    config = resolve_config(CWConfig, config, options)
    steps, kappa, targeted = config.steps, config.kappa, config.targeted
    x = x.detach()
    w0 = torch.atanh((2 * x - 1) * (1 - 1e-6))
    const = torch.full((len(x),), float(config.c), device=x.device, dtype=x.dtype)
    lower, upper = torch.zeros_like(const), torch.full_like(const, 1e10)
    best_adv, best_l2 = x.clone(), torch.full_like(const, float("inf"))
    check_every = math.ceil(steps / 10)
    with evaluation_mode(model):
        for _ in range(config.binary_search_steps):
            w = w0.clone().requires_grad_(True)
            optimizer = torch.optim.Adam([w], lr=config.lr)
            found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
            previous = float("inf")
            for step in range(steps):
                x_adv = (torch.tanh(w) + 1) / 2
                logits = model(x_adv)
                margin = cw_margin(logits, y, targeted=targeted)
                l2 = (x_adv - x).flatten(1).square().sum(1)
                loss = (l2 + const * (-margin).clamp_min(-kappa)).sum()
                (w.grad,) = torch.autograd.grad(loss, w)
                optimizer.step()
                with torch.no_grad():
                    ok = succeeded(logits, y, targeted=targeted) & (margin >= kappa)
                    better = ok & (l2 < best_l2)
                    best_l2 = torch.where(better, l2, best_l2)
                    best_adv[better] = x_adv[better]
                    found |= ok
                if config.abort_early and step % check_every == 0:
                    if loss.item() > 0.9999 * previous:
                        break
                    previous = loss.item()
            upper = torch.where(found, torch.minimum(upper, const), upper)
            lower = torch.where(found, lower, torch.maximum(lower, const))
            const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    success = best_l2 < float("inf")
    return best_adv, SuccessRecord(success)

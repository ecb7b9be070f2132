"""The one projected-gradient loop that every attack and inner maximisation of the package uses."""

from collections.abc import Callable

import torch
from torch import Tensor

from .threat_models import ThreatModel


def projected_gradient_ascent(
    objective: Callable[[Tensor], Tensor],
    x: Tensor,
    threat: ThreatModel,
    *,
    steps: int,
    step_size: float,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    stop_when: Callable[[Tensor], Tensor] | None = None,
    keep_best: bool = False,
) -> Tensor:
    """Maximise ``objective(x_adv)`` over the threat set around ``x`` by projected gradient steps.

    Args:
        objective: maps ``x_adv (B, C, H, W)`` to per-example values ``(B,)`` to maximise;
            examples must not interact, so the gradient of the sum is per-example.
        x: clean images ``(B, C, H, W)`` in [0, 1].
        threat: the feasible set (e.g. ``LinfBall(0.3)``).
        steps: number of gradient steps (>= 0).
        step_size: step length in the threat model's norm, pixel units.
        random_start: start from ``threat.random_start(x)`` rather than ``x``.
        generator: random source for the start.
        stop_when: optional per-example early stop: maps ``x_adv`` to a boolean ``(B,)`` "done"
            mask, evaluated without gradients before every step (one extra forward pass per step);
            done examples keep their iterate from then on, and the loop ends once all are done.
        keep_best: return each example's iterate of highest objective (start and final iterate
            included; one extra forward pass) instead of the final iterate.

    Returns:
        The detached final (or best) iterate ``(B, C, H, W)``. Gradients are taken with
        ``torch.autograd.grad`` w.r.t. the input only, so no parameter ``.grad`` is touched.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x = x.detach()
    x_adv = threat.random_start(x, generator) if random_start else x.clone()
    shape = (-1,) + (1,) * (x.dim() - 1)
    done = best = best_value = None
    for _ in range(steps):
        if stop_when is not None:
            with torch.no_grad():
                done = stop_when(x_adv) if done is None else done | stop_when(x_adv)
            if bool(done.all()):
                break
        x_adv.requires_grad_(True)
        value = objective(x_adv)
        (grad,) = torch.autograd.grad(value.sum(), x_adv)
        x_adv = x_adv.detach()
        if keep_best:
            best, best_value = keep_better(best, best_value, x_adv, value.detach())
        x_next = threat.project(x_adv + threat.step(grad, step_size), x)
        x_adv = x_next if done is None else torch.where(done.view(shape), x_adv, x_next)
    if keep_best:
        with torch.no_grad():
            best, best_value = keep_better(best, best_value, x_adv, objective(x_adv))
        return best
    return x_adv.detach()


def keep_better(best: Tensor | None, best_value: Tensor | None, x: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
    """Per example, the iterate of higher objective among ``best`` and ``x`` (ties keep ``best``)."""
    if best is None:
        return x, value
    take = value > best_value
    return torch.where(take.view((-1,) + (1,) * (x.dim() - 1)), x, best), torch.where(take, value, best_value)

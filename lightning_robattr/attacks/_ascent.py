"""The one first-order ascent loop that every attack and inner maximisation of the package uses."""

from collections.abc import Callable

import torch
from torch import Tensor

from ._threat_models import Radius, ThreatModel, per_example

Objective = Callable[[Tensor, int], Tensor]
"""``objective(x_adv, step) -> (B,)``: per-example values to maximise at iteration ``step`` (from 0)."""


class KeepBest:
    """Per example, the candidate of highest score offered so far; ties keep the earlier one.

    Start empty (the first offer is taken whole) or from a fallback ``x`` with scores ``score``
    (e.g. the clean images with ``-inf``: kept wherever no candidate scores above it).
    """

    def __init__(self, x: Tensor | None = None, score: Tensor | None = None) -> None:
        self.x, self.score = x, score

    def offer(self, x: Tensor, score: Tensor) -> None:
        """Take ``x (B, ...)`` for the examples whose ``score (B,)`` beats the best so far."""
        if self.x is None:
            self.x, self.score = x, score
            return
        take = score > self.score
        self.x = torch.where(per_example(take, x), x, self.x)
        self.score = torch.where(take, score, self.score)


def projected_gradient_ascent(
    objective: Objective,
    x: Tensor,
    threat: ThreatModel,
    *,
    steps: int,
    step_size: Radius,
    start: Tensor | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    stop_when: Callable[[Tensor], Tensor] | None = None,
    keep_best: bool = False,
    on_iterate: Callable[[Tensor, int], None] | None = None,
) -> Tensor:
    """Maximise ``objective`` over the threat set around ``x`` by ``threat.advance`` steps (projected gradient).

    Args:
        objective: ``(x_adv, step) -> (B,)`` per-example values to maximise at iteration ``step``
            (0 to ``steps - 1``; ``steps`` for the final evaluation of ``keep_best``); examples must
            not interact, so the gradient of the sum is per-example.
        x: clean images ``(B, C, H, W)`` in [0, 1] (or the optimised variable's centre).
        threat: the feasible set and its step rule (e.g. ``LinfBall(0.3)``, ``LinfBall(eps (B,))``).
        steps: number of gradient steps (>= 0).
        step_size: step length in the threat model's norm, pixel units: a float or a tensor ``(B,)``.
        start: the first iterate ``(B, C, H, W)``, used as given; default ``threat.random_start(x)``
            with ``random_start``, else ``x``.
        random_start: see ``start``.
        generator: random source for the start.
        stop_when: optional per-example early stop: maps ``x_adv`` to a boolean ``(B,)`` "done"
            mask, evaluated without gradients before every step (one extra forward pass per step);
            done examples keep their iterate from then on, and the loop ends once all are done.
        keep_best: return each example's iterate of highest objective (start and final iterate
            included; one extra forward pass) instead of the final iterate.
        on_iterate: ``(x_adv, step)`` called with every new iterate (``step`` 1 to ``steps``),
            detached; the hook judges or records it (e.g. a ``KeepBest`` on another criterion).

    Returns:
        The detached final (or best) iterate ``(B, C, H, W)``. Gradients are taken with
        ``torch.autograd.grad`` w.r.t. the input only, so no parameter ``.grad`` is touched.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x = x.detach()
    if start is not None:
        x_adv = start.detach().clone()
    else:
        x_adv = threat.random_start(x, generator) if random_start else x.clone()
    done, best = None, KeepBest() if keep_best else None
    for i in range(steps):
        if stop_when is not None:
            with torch.no_grad():
                done = stop_when(x_adv) if done is None else done | stop_when(x_adv)
            if bool(done.all()):
                break
        x_adv.requires_grad_(True)
        value = objective(x_adv, i)
        (grad,) = torch.autograd.grad(value.sum(), x_adv)
        x_adv = x_adv.detach()
        if best is not None:
            best.offer(x_adv, value.detach())
        x_next = threat.advance(x_adv, grad, x, step_size=step_size, step=i)
        x_adv = x_next if done is None else torch.where(per_example(done, x), x_adv, x_next)
        if on_iterate is not None:
            on_iterate(x_adv, i + 1)
    if best is not None:
        with torch.no_grad():
            best.offer(x_adv, objective(x_adv, steps))
        return best.x
    return x_adv.detach()

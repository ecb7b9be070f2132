"""The budget schedule of adversarial regimes: eps ramped linearly from 0 (the Int paper's setup)."""

import math
from typing import Literal

RampUnit = Literal["step", "epoch", "fraction"]


def ramped_eps(eps: float, step: int, *, start: int, end: int) -> float:
    """The budget at optimiser step ``step``: 0 up to ``start``, linear up to ``eps`` at ``end``, then ``eps``.

    Follows the code of "Proper Network Interpretability Helps Adversarial Robustness"
    (MNIST: ``start=2000, end=10000`` steps of batch 50). ``start == end`` means a step change
    at ``start``; ``start = end = 0`` means no ramp.

    Example:
        >>> [ramped_eps(0.3, s, start=10, end=20) for s in (0, 10, 15, 20, 30)]
        [0.0, 0.0, 0.15, 0.3, 0.3]
    """
    if step <= start and end > start:
        return 0.0
    if end <= start:
        return float(eps) if step >= start else 0.0
    return float(eps) * min(1.0, (step - start) / (end - start))


def ramp_steps(
    start: float,
    end: float,
    *,
    unit: RampUnit,
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
) -> tuple[int, int]:
    """Convert ramp bounds given in ``unit`` to optimiser steps for :func:`ramped_eps`.

    Args:
        start, end: where the ramp leaves 0 and reaches the full budget, ``0 <= start <= end``.
        unit: ``"step"`` (optimiser steps), ``"epoch"`` (needs ``steps_per_epoch``) or
            ``"fraction"`` of training (needs ``total_steps``; the Int paper's MNIST ramp is
            ``start=0.017, end=0.083``, its CIFAR ramp ``0.064, 0.897``).

    Example:
        >>> ramp_steps(0.1, 0.5, unit="fraction", total_steps=1000)
        (100, 500)
    """
    if not 0 <= start <= end:
        raise ValueError(f"the eps ramp needs 0 <= start <= end, got start={start}, end={end}")
    if unit == "step":
        scale = 1
    elif unit == "epoch":
        if not steps_per_epoch:
            raise ValueError("an eps ramp in epochs needs steps_per_epoch")
        scale = steps_per_epoch
    elif unit == "fraction":
        if end > 1:
            raise ValueError(f"a fractional eps ramp needs end <= 1, got {end}")
        if not total_steps or not math.isfinite(total_steps):
            raise ValueError("a fractional eps ramp needs a finite training length: set trainer.max_epochs or trainer.max_steps")
        scale = total_steps
    else:
        raise ValueError(f"unknown ramp unit {unit!r}; choose 'step', 'epoch' or 'fraction'")
    return round(start * scale), round(end * scale)

"""``AdversarialRegime``: what the regimes with an inner maximisation over an eps ball share."""

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .._lightning import LRSchedulerCallable, OptimizerCallable
from ..attacks._threat_models import threat_model
from ..losses import RegimeObjective, ramp_steps, ramped_eps
from ..losses._eps_ramp import RampUnit
from ._robust_classifier import RobustClassifier, SchedulerInterval

Norm = Literal["linf", "l2"]  # the norm of the eps ball the inner maximisation searches


class AdversarialRegime(RobustClassifier):
    """A ``RobustClassifier`` whose objective maximises over ``B(x, eps)``, with eps ramped from 0.

    The budget at optimiser step ``s`` is ``losses.ramped_eps(eps, s, start, end)``: 0 until
    ``ramp_start``, linear up to ``eps`` at ``ramp_end``, then ``eps`` (the Int paper's schedule;
    ``ramp_start = ramp_end = 0`` disables it). It is logged as ``train/eps``. Inner loops call
    the raw ``self.net``, never the DDP wrapper, and take their gradients w.r.t. the input only.

    Args:
        net, optimizer, lr_scheduler, scheduler_interval: see ``RobustClassifier``.
        eps: final budget in pixel units of [0, 1] images (MNIST 0.3, CIFAR 8/255).
        steps: iterations of the inner maximisation.
        step_size: its step length in pixel units (constant while eps ramps; projection handles ``step_size > eps``).
        norm: ``"linf"`` or ``"l2"``.
        ramp_start, ramp_end: ramp bounds in ``ramp_unit``.
        ramp_unit: ``"step"`` (optimiser steps), ``"epoch"`` or ``"fraction"`` of training.
        attack_eval_mode: run inner loops with the net in eval mode (BatchNorm running statistics).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: SchedulerInterval = "step",
        *,
        eps: float = 0.3,
        steps: int = 40,
        step_size: float = 0.01,
        norm: Norm = "linf",
        ramp_start: float = 0.0,
        ramp_end: float = 0.0,
        ramp_unit: RampUnit = "fraction",
        attack_eval_mode: bool = True,
    ) -> None:
        super().__init__(net, optimizer, lr_scheduler, scheduler_interval)
        threat_model(norm, eps)
        ramp_steps(ramp_start, ramp_end, unit=ramp_unit, total_steps=1, steps_per_epoch=1)
        if steps < 0 or step_size < 0:
            raise ValueError(f"steps and step_size must be >= 0, got steps={steps}, step_size={step_size}")
        self.eps, self.steps, self.step_size, self.norm = eps, steps, step_size, norm
        self.ramp_start, self.ramp_end, self.ramp_unit = ramp_start, ramp_end, ramp_unit
        self.attack_eval_mode = attack_eval_mode
        self._ramp: tuple[int, int] | None = None

    def attack_options(self, eps: float) -> dict[str, Any]:
        """The keyword arguments every adversarial loss of ``lightning_robattr.losses`` takes, at budget ``eps``."""
        return {
            "eps": eps,
            "steps": self.steps,
            "step_size": self.step_size,
            "norm": self.norm,
            "attack_eval_mode": self.attack_eval_mode,
        }

    def scheduled_eps(self) -> float:
        """The budget at the current optimiser step (``eps`` when no ramp is set)."""
        if self.ramp_end == 0:
            return float(self.eps)
        if self._ramp is None:
            if self._trainer is None:
                raise RuntimeError(
                    f"{type(self).__name__} has an eps ramp, which needs a Trainer; "
                    "set ramp_start = ramp_end = 0 to use it without one"
                )
            self._ramp = ramp_steps(
                self.ramp_start,
                self.ramp_end,
                unit=self.ramp_unit,
                total_steps=self.trainer.estimated_stepping_batches,
                steps_per_epoch=_steps_per_epoch(self.trainer),
            )
        return ramped_eps(self.eps, self.global_step, start=self._ramp[0], end=self._ramp[1])

    def on_fit_start(self) -> None:
        self._ramp = None

    def adversarial_objective(self, x: Tensor, y: Tensor, eps: float) -> RegimeObjective:
        """The regime's loss at budget ``eps`` (use ``attack_options(eps)``); subclasses implement it."""
        raise NotImplementedError

    def regime_loss(self, x: Tensor, y: Tensor) -> RegimeObjective:
        eps = self.scheduled_eps()
        loss, logits, parts = self.adversarial_objective(x, y, eps)
        return RegimeObjective(loss, logits, {**parts, "eps": torch.tensor(eps)})


def _steps_per_epoch(trainer: Any) -> int | None:
    batches = trainer.num_training_batches
    if not isinstance(batches, (int, float)) or not math.isfinite(batches):
        return None
    return max(1, math.ceil(batches / trainer.accumulate_grad_batches))

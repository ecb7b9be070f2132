"""``SSRModule``: Smooth Surface Regularisation ("Smoothed Geometry for Robust Attribution")."""

from typing import Literal

import torch
from torch import Tensor, nn

from .._lightning import LRSchedulerCallable, OptimizerCallable
from ..losses import RegimeObjective, ssr_loss
from ..losses._hessian import ChannelReduce, HessianRoute
from ._robust_classifier import RobustClassifier, SchedulerInterval


class SSRModule(RobustClassifier):
    """SSR: cross-entropy plus ``beta * s * lambda_max`` of the cross-entropy's input Hessian (``losses.ssr_loss``).

    Takes the options of ``RobustClassifier`` (``net``, the optimiser and scheduler), documented there, and:

    Args:
        beta: penalty weight (paper 0.3); with ``form="code"`` the convex weight ``alpha``.
        scale: ``s``; the paper's ``1e6`` on 0-255 CIFAR images is about 15 on [0, 1] images.
        form: ``"paper"`` (``CE + beta s lambda``, Definition 7; default) or ``"code"``
            (``(1 - beta) CE + beta s lambda``, the authors' code).
        route: ``"exact"`` (``n_c x n_c`` eigenproblem; default, cheapest for 10 classes),
            ``"power"`` or ``"lanczos"`` (matrix-free, cost independent of the class count).
        iterations: Hessian-vector products of the matrix-free routes.
        channel_reduce: ``"none"`` (true Hessian; default) or ``"mean"`` (gradients averaged over
            colour channels, as in the authors' code).
        hessian_eval_mode: take the Hessian with BatchNorm in eval mode (a second forward pass
            for nets with BatchNorm or dropout; then each image's Hessian is its own).

    Logs ``train/ce``, ``train/penalty`` (``s * mean lambda``) and ``train/eig_max`` (``mean lambda``).
    Double backward: ``torch.compile`` cannot compile the net.
    """

    regime = "ssr"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: SchedulerInterval = "step",
        *,
        beta: float = 0.3,
        scale: float = 1.0,
        form: Literal["paper", "code"] = "paper",
        route: HessianRoute = "exact",
        iterations: int | None = None,
        channel_reduce: ChannelReduce = "none",
        hessian_eval_mode: bool = True,
    ) -> None:
        super().__init__(net, optimizer, lr_scheduler, scheduler_interval)
        self.ssr_options = {
            "beta": beta,
            "scale": scale,
            "form": form,
            "route": route,
            "iterations": iterations,
            "channel_reduce": channel_reduce,
            "hessian_eval_mode": hessian_eval_mode,
        }

    def regime_loss(self, x: Tensor, y: Tensor) -> RegimeObjective:
        return ssr_loss(self.net, x, y, **self.ssr_options)

"""``RTSModule``: trains a real-time saliency masking network on a fixed, trained classifier."""

import torch
from torch import Tensor, nn

from .._lightning import LRSchedulerCallable, OptimizerCallable, rank_zero_warn
from ..losses import RegimeObjective, rts_loss
from ..models._rts_net import RTSNet
from ._checkpoint import read_checkpoint
from ._robust_classifier import RobustClassifier, SchedulerInterval


class RTSModule(RobustClassifier):
    """Dabkowski & Gal's masking model for ``net``: minimise ``losses.rts_loss`` over ``saliency_net`` only.

    ``net`` (the classifier to explain) is loaded from ``classifier_checkpoint``, frozen and kept in
    eval mode; its accuracy is what ``train/acc`` and ``val/acc`` report. The masking network is an
    ``models.RTSNet`` built from ``saliency_net`` (plain options, saved with the checkpoint, so
    ``RTSNet.from_checkpoint`` rebuilds it and ``attributions.rts`` reads it).

    Args:
        net: the classifier's architecture (or the trained classifier itself, from Python).
        classifier_checkpoint: a checkpoint of any regime whose ``net.*`` weights are loaded into
            ``net``; ``None`` uses ``net`` as given.
        saliency_net: ``RTSNet`` options (``in_channels``, ``num_classes``, ``width``, ``confidence``);
            the classes default to the classifier's.
        loss_options: options of ``rts_loss`` (area, smoothness, preserver coefficients, ...).
        optimizer, lr_scheduler, scheduler_interval: as for every regime.
    """

    regime = "rts"

    def __init__(
        self,
        net: nn.Module,
        classifier_checkpoint: str | None = None,
        saliency_net: dict | None = None,
        loss_options: dict | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: SchedulerInterval = "step",
    ) -> None:
        super().__init__(net, optimizer, lr_scheduler, scheduler_interval)
        if classifier_checkpoint is None:
            rank_zero_warn(
                "RTSModule has no classifier_checkpoint: the masks are trained for `net` as given; from the command line "
                "pass --model.init_args.classifier_checkpoint PATH.ckpt (a trained classifier of any regime)"
            )
        else:
            state = read_checkpoint(classifier_checkpoint)["state_dict"]
            net.load_state_dict({key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")})
        net.requires_grad_(False)
        options = {"num_classes": self.train_acc.num_classes, **(saliency_net or {})}
        self.hparams["saliency_net"] = options
        self.saliency_net = RTSNet(**options)
        self.loss_options = dict(loss_options or {})

    def train(self, mode: bool = True) -> "RTSModule":
        super().train(mode)
        self.net.eval()
        return self

    def regime_loss(self, x: Tensor, y: Tensor) -> RegimeObjective:
        return rts_loss(self.net, self.saliency_net, x, y, **self.loss_options)

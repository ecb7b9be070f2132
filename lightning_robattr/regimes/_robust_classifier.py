"""``RobustClassifier``: the LightningModule every training regime subclasses."""

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from .._lightning import LightningModule, LRSchedulerCallable, OptimizerCallable
from .._validation import num_classes
from ..data import ImageDataModule
from ..losses import RegimeObjective, natural_loss
from ._checkpoint import check_regime

SchedulerInterval = Literal["step", "epoch"]  # how often the LR scheduler steps: every optimiser step or every epoch


class RobustClassifier(LightningModule):
    """Trains ``net`` on the objective of :meth:`regime_loss` and reports accuracy.

    Subclasses override :meth:`regime_loss` (and set ``regime``); everything else, namely
    optimiser and scheduler wiring, accuracy metrics, logging of the objective's parts, the
    non-finite-loss guard and the checkpoint regime check, is shared.

    Args:
        net: a classifier taking pixel-space images ``(B, C, H, W)`` in [0, 1] and returning logits.
        optimizer: builds the optimiser from the parameters (default Adam, lr 1e-3).
        lr_scheduler: builds an LR scheduler from the optimiser; ``OneCycleLR`` gets
            ``total_steps`` from the Trainer when it is not given.
        scheduler_interval: step the scheduler every ``"step"`` or every ``"epoch"``.
    """

    regime: str = "natural"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: SchedulerInterval = "step",
    ) -> None:
        super().__init__()
        # hyperparameters are plain data so that checkpoints load with torch.load(weights_only=True): the
        # network's weights live in the state dict (load_from_checkpoint(path, net=...) rebuilds the module), and
        # the optimiser and scheduler factories, which are classes or partials, are left out (their states are saved)
        self.save_hyperparameters(ignore=["net", "optimizer", "lr_scheduler"])
        self.net = net
        self.optimizer, self.lr_scheduler, self.scheduler_interval = optimizer, lr_scheduler, scheduler_interval
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(_num_classes(net), average="micro") for _ in range(3)
        )
        self._saved_horizon: int | None = None

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:
        """Lightning's ``load_from_checkpoint``, which needs ``net=``: a checkpoint holds the network's weights, not the network.

        Example: ``SSRModule.load_from_checkpoint(path, net=Small())``.
        """
        if "net" not in kwargs:
            raise TypeError(
                f"{cls.__name__}.load_from_checkpoint({str(checkpoint_path)!r}) needs the network: the checkpoint holds its "
                f"weights, not its architecture; pass net=..., e.g. {cls.__name__}.load_from_checkpoint(path, net=Small()) "
                "with the network the run trained (model.init_args.net in the run folder's config.yaml)"
            )
        return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    def setup(self, stage: str) -> None:
        """Refuse a data module whose labels are not all classes of ``net``, before any batch is drawn."""
        data = self.trainer.datamodule
        largest = data.largest_label() if isinstance(data, ImageDataModule) else None
        classes = _num_classes(self.net)
        if largest is not None and largest >= classes:
            raise ValueError(
                f"{type(data).__name__} holds labels up to {largest} ({largest + 1} classes) but the net "
                f"{type(self.net).__name__} predicts {classes} classes (labels 0..{classes - 1}); give the net "
                f"{largest + 1} outputs (e.g. --model.init_args.net.init_args.num_classes {largest + 1}) or fix the data's labels"
            )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def regime_loss(self, x: Tensor, y: Tensor) -> RegimeObjective:
        """The regime's objective on a training batch ``x (B, C, H, W)``, ``y (B,)``; here plain cross-entropy."""
        return natural_loss(self.net, x, y)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss, logits, parts = self.regime_loss(x, y)
        self._check_finite(loss, parts)
        self.train_acc(logits.detach(), y)
        self.log("train/loss", loss.detach(), prog_bar=True)
        self.log_dict({f"train/{name}": value for name, value in parts.items()})
        self.log("train/acc", self.train_acc, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def _check_finite(self, loss: Tensor, parts: dict[str, Tensor]) -> None:
        for name, value in {"loss": loss, **parts}.items():
            if not torch.isfinite(value).all():
                raise FloatingPointError(
                    f"{self.regime} regime: {name} became {value.item() if value.numel() == 1 else value} at global step "
                    f"{self.global_step} (epoch {self.current_epoch}); lower the learning rate or the penalty weight, "
                    "or train in fp32 instead of mixed precision"
                )

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, accuracy: MulticlassAccuracy) -> None:
        x, y = batch
        logits = self.net(x)
        accuracy(logits, y)
        self.log(f"{stage}/loss", F.cross_entropy(logits, y), sync_dist=True)
        self.log(f"{stage}/acc", accuracy, prog_bar=True)
        self.log(f"{stage}/num_images", float(len(y)), reduce_fx="sum", sync_dist=True)  # the subset the accuracy is on

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_acc)

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Predicted class indices ``(B,)``."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.net(x).argmax(dim=1)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer(self.parameters())
        if self.lr_scheduler is None:
            return optimizer
        if _needs_total_steps(self.lr_scheduler):
            horizon = self._scheduler_horizon()
            if self._saved_horizon is not None and self._saved_horizon != horizon:
                raise ValueError(
                    f"the checkpoint's OneCycleLR schedule spans {self._saved_horizon} steps but this run has {horizon} "
                    "(trainer.max_epochs/max_steps or the batch count changed); a one-cycle schedule cannot be extended: "
                    "resume with the original trainer.max_epochs, or start a new run from the weights "
                    "(net.load_state_dict) with its own schedule"
                )
            scheduler = self.lr_scheduler(optimizer, total_steps=horizon)
        else:
            scheduler = self.lr_scheduler(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}

    def on_train_start(self) -> None:
        # Lightning hands a resumed run's loader states (data.ResumableLoader) to the train loaders only when it
        # builds them while restarting mid-epoch, and _scheduler_horizon's estimated_stepping_batches builds them
        # before the checkpoint is even restored: apply the states here, before the first batch is drawn. Lightning has
        # no public API for the states to load nor for applying them (trainer.train_dataloader holds the loaders, not the
        # CombinedLoader that pairs them with their states): tests/test_lightning_internals.py pins the three names used
        loop = self.trainer.fit_loop
        if loop._combined_loader_states_to_load and loop._combined_loader is not None:
            loop._combined_loader._load_state_dicts(loop._combined_loader_states_to_load)
            loop._combined_loader_states_to_load = []

    def _scheduler_horizon(self) -> int:
        steps = self.trainer.estimated_stepping_batches
        if self.scheduler_interval == "epoch":
            steps = self.trainer.max_epochs
        if steps is None or not math.isfinite(steps) or steps < 1:
            raise ValueError("OneCycleLR needs a finite training length: set trainer.max_epochs or trainer.max_steps")
        return int(steps)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["regime"] = self.regime

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_regime(checkpoint, type(self))
        schedulers = checkpoint.get("lr_schedulers") or [{}]
        self._saved_horizon = schedulers[0].get("total_steps")


def _num_classes(net: nn.Module) -> int:
    classes = num_classes(net)
    if classes is None:
        raise ValueError(f"cannot tell how many classes {type(net).__name__} predicts: give it a num_classes attribute")
    return classes


def _needs_total_steps(factory: Any) -> bool:
    """Whether ``factory`` builds a ``OneCycleLR`` without being told ``total_steps``.

    Factories are classes or partials of them (jsonargparse and ``functools.partial`` both
    keep the class among ``func``/``args`` and the given options in ``keywords``).
    """
    candidates = (factory, getattr(factory, "func", None), *getattr(factory, "args", ()))
    cls = next((c for c in candidates if isinstance(c, type)), None)
    given = getattr(factory, "keywords", {}).get("total_steps")
    return cls is not None and issubclass(cls, torch.optim.lr_scheduler.OneCycleLR) and given is None

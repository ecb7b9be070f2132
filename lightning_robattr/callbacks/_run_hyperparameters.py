"""``RunHyperparameters``: what a run is (regime, net, optimiser, lr, epochs, eps, ...) beside its headline metrics."""

import os
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from .._lightning import Callback, LightningModule, TensorBoardLogger, Trainer, TrainerFn, rank_zero_only
from ._robust_summary import HEADLINE_TAGS


class RunHyperparameters(Callback):
    """Log a training run's description once, linked to its headline metrics (TensorBoard's HParams tab).

    The description (:func:`describe_run`): the regime, the network and its parameter count, the
    optimiser, learning rate (a one-cycle schedule's peak, else the initial one) and scheduler, epochs, batch size, data module, precision,
    seed, and the regime's own hyperparameters (``eps``, ``beta``, ...). It is written when the
    first validation of ``fit`` ends (not the sanity check), when the headline metrics exist: every
    tag of ``trainer.callback_metrics`` matching ``metrics`` becomes a metric column of the HParams
    table (TensorBoard then reads their values from the scalars). Other loggers get the
    description through their ``log_hyperparams``. Rank 0 only; ``validate`` and ``test`` log nothing
    (the run they evaluate has its description already).

    Args:
        metrics: shell patterns of the headline tags (``*`` also crosses ``/``).
    """

    def __init__(self, metrics: Sequence[str] = HEADLINE_TAGS) -> None:
        self.metrics = list(metrics)
        self._written = False

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._written = False

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not (self._written or trainer.sanity_checking) and trainer.state.fn == TrainerFn.FITTING:
            self._written = True
            self.write(trainer, describe_run(trainer, pl_module))

    @rank_zero_only
    def write(self, trainer: Trainer, params: dict[str, Any]) -> None:
        """Write ``params`` and the headline tags present now to every logger."""
        from torch.utils.tensorboard.summary import hparams

        tags = [tag for pattern in self.metrics for tag in trainer.callback_metrics if fnmatchcase(tag, pattern)]
        experiment, start, _ = hparams(params, dict.fromkeys(tags, 0.0))  # the values come from the scalars
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                writer = logger.experiment._get_file_writer()  # as Lightning's own log_hyperparams does
                writer.add_summary(experiment)
                writer.add_summary(start)
                writer.flush()
            else:
                logger.log_hyperparams(params)


def describe_run(trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
    """A flat ``{name: number or text}`` description of a training run (TensorBoard hparams accept only these)."""
    net = getattr(pl_module, "net", pl_module)
    optimizer = trainer.optimizers[0] if trainer.optimizers else None
    schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
    data = trainer.datamodule
    params: dict[str, Any] = {
        "regime": getattr(pl_module, "regime", type(pl_module).__name__),
        "net": type(net).__name__,
        "net_parameters": sum(p.numel() for p in net.parameters()),
        "optimizer": type(optimizer).__name__ if optimizer else "none",
        "lr": _base_lr(optimizer.param_groups[0]) if optimizer else float("nan"),
        "lr_scheduler": type(schedulers[0]).__name__ if schedulers else "none",
        "max_epochs": trainer.max_epochs if trainer.max_epochs is not None else -1,
        "data": type(data).__name__ if data is not None else "none",
        "batch_size": getattr(data, "batch_size", -1),
        "precision": str(trainer.precision),
        "seed": int(os.environ.get("PL_GLOBAL_SEED", -1)),
    }
    for name, value in pl_module.hparams.items():
        if not name.startswith("_") and name not in params:
            params[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return params


def _base_lr(group: dict[str, Any]) -> float:
    """The learning rate a run is known by: a one-cycle schedule's peak, else the rate before any scheduler step."""
    return float(group.get("max_lr", group.get("initial_lr", group["lr"])))

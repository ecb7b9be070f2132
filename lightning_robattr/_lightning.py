"""The Lightning namespace the package builds on: ``pytorch_lightning`` or ``lightning.pytorch``.

Lightning ships the same Trainer, LightningModule and Callback under two packages, and a
Trainer of one refuses a module of the other (``TypeError: model must be a LightningModule``).
Every Lightning name the package uses comes from here, chosen once, when the package is imported:

1. ``ROBATTR_LIGHTNING=lightning`` or ``ROBATTR_LIGHTNING=pytorch_lightning``, when set;
2. otherwise ``lightning.pytorch`` when ``lightning`` was imported before this package
   (``import lightning as L`` first, as Lightning's own documentation writes it);
3. otherwise ``pytorch_lightning``, the declared dependency.
"""

import importlib
import os
import sys

CHOICES = ("pytorch_lightning", "lightning")


def _namespace() -> str:
    """The importable name of the chosen namespace: ``"pytorch_lightning"`` or ``"lightning.pytorch"``."""
    chosen = os.environ.get("ROBATTR_LIGHTNING") or ("lightning" if "lightning" in sys.modules else "pytorch_lightning")
    if chosen not in CHOICES:
        raise ValueError(f"ROBATTR_LIGHTNING must be one of {', '.join(CHOICES)}, got {chosen!r}; unset it to choose automatically")
    return "lightning.pytorch" if chosen == "lightning" else "pytorch_lightning"


NAMESPACE = _namespace()
FABRIC = "lightning.fabric" if NAMESPACE == "lightning.pytorch" else "lightning_fabric"

_pl = importlib.import_module(NAMESPACE)
_callbacks = importlib.import_module(f"{NAMESPACE}.callbacks")
_cli = importlib.import_module(f"{NAMESPACE}.cli")
_utilities = importlib.import_module(f"{NAMESPACE}.utilities")

Callback, LightningDataModule, LightningModule, Trainer = _pl.Callback, _pl.LightningDataModule, _pl.LightningModule, _pl.Trainer
Checkpoint, ModelCheckpoint, LearningRateMonitor = _callbacks.Checkpoint, _callbacks.ModelCheckpoint, _callbacks.LearningRateMonitor
LightningCLI, LightningArgumentParser, SaveConfigCallback = _cli.LightningCLI, _cli.LightningArgumentParser, _cli.SaveConfigCallback
OptimizerCallable, LRSchedulerCallable = _cli.OptimizerCallable, _cli.LRSchedulerCallable
rank_zero_only, rank_zero_warn = _utilities.rank_zero_only, _utilities.rank_zero_warn
TensorBoardLogger = importlib.import_module(f"{NAMESPACE}.loggers").TensorBoardLogger
TorchCheckpointIO = importlib.import_module(f"{NAMESPACE}.plugins.io").TorchCheckpointIO
TrainerFn = importlib.import_module(f"{NAMESPACE}.trainer.states").TrainerFn
STEP_OUTPUT = importlib.import_module(f"{NAMESPACE}.utilities.types").STEP_OUTPUT
get_filesystem = importlib.import_module(f"{FABRIC}.utilities.cloud_io").get_filesystem

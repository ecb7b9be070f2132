"""The command line: ``python -m lightning_robattr {fit,validate,test,predict} --config CONFIG.yaml``."""

from pathlib import Path

from pytorch_lightning import LightningDataModule
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from .callbacks.rng_state import RNGStateCheckpoint
from .regimes import RobustClassifier

TRAINER_DEFAULTS = {
    # evaluation callbacks attack the model during validation and test, which needs autograd
    "inference_mode": False,
    "logger": {"class_path": "pytorch_lightning.loggers.TensorBoardLogger", "init_args": {"save_dir": "lightning_logs", "name": ""}},
}


# the evaluation callbacks every regime config gets unless a later --config replaces trainer.callbacks
DEFAULT_CALLBACKS = Path(__file__).resolve().parents[1] / "callbacks" / "default.yaml"


class RobAttrCLI(LightningCLI):
    """LightningCLI in subclass mode: the regime (``model``) and the ``data`` are chosen by ``class_path``.

    Always adds a ``ModelCheckpoint`` (``last.ckpt`` plus the best by ``val/acc``), a
    ``LearningRateMonitor`` and an ``RNGStateCheckpoint`` (so that ``--ckpt_path`` resumes
    exactly); the first two are configurable under ``checkpoint`` and ``lr_monitor``.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch={epoch}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.add_lightning_class_args(RNGStateCheckpoint, "rng_state")


def main(args: list[str] | None = None, run: bool = True) -> RobAttrCLI:
    """Entry point of ``python -m lightning_robattr``; ``args`` replaces ``sys.argv[1:]`` when given.

    ``fit``, ``validate`` and ``test`` start from ``callbacks/default.yaml`` (when the checkout
    has it), so every regime config is evaluated by the default callback set; a later
    ``--config callbacks/<set>.yaml`` replaces that set.
    """
    defaults = {"default_config_files": [str(DEFAULT_CALLBACKS)]} if DEFAULT_CALLBACKS.exists() else {}
    return RobAttrCLI(
        RobustClassifier,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={stage: defaults for stage in ("fit", "validate", "test")} if run else defaults,
        args=args,
        run=run,
    )

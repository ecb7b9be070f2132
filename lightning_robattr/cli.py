"""The command line: ``python -m lightning_robattr {fit,validate,test,predict} --config CONFIG.yaml``."""

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import Namespace
from pytorch_lightning import LightningDataModule
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning import Trainer
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from .callbacks.last_checkpoint import LastCheckpoint
from .callbacks.rng_state import RNGStateCheckpoint
from .configs import DEFAULT_CALLBACKS, resolve_config
from .loggers import ExclusiveTensorBoardLogger
from .regimes import RobustClassifier, check_regime, read_checkpoint
from .regimes.checkpoint import check_weights_fit

# evaluation callbacks attack the model during validation and test, which needs autograd; the
# logger is Lightning's default, a TensorBoardLogger in <trainer.default_root_dir>/lightning_logs/version_N
TRAINER_DEFAULTS = {"inference_mode": False}


class RobAttrCLI(LightningCLI):
    """LightningCLI in subclass mode: the regime (``model``) and the ``data`` are chosen by ``class_path``.

    Always adds a ``ModelCheckpoint`` (the best by ``val/acc``), a ``LastCheckpoint``
    (``last.ckpt`` after every epoch, optionally every N steps), a ``LearningRateMonitor`` and
    an ``RNGStateCheckpoint`` (so that ``--ckpt_path`` resumes exactly); they are configurable
    under ``checkpoint``, ``last_checkpoint``, ``lr_monitor`` and ``rng_state``.

    With ``--ckpt_path`` the run is configured by the command line, not by the checkpoint's
    stored hyperparameters (an override such as ``--model.init_args.beta 0.9`` is kept), and a
    checkpoint that is unreadable, damaged, or of another regime than the configured model is
    refused before anything is built, and one whose weights do not fit the configured network
    before anything is run.

    The default logger is an :class:`~lightning_robattr.loggers.ExclusiveTensorBoardLogger` in
    ``<trainer.default_root_dir>/lightning_logs``: runs started together never share a ``version_N``.
    """

    _checkpoint: dict[str, Any] | None = None

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best-epoch={epoch}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.add_lightning_class_args(RNGStateCheckpoint, "rng_state")

    def _parse_ckpt_path(self) -> None:
        """Check ``--ckpt_path`` against the configured regime instead of replacing the model config by the checkpoint's."""
        subcommand = self.config.get("subcommand")
        if not subcommand or not self.config[subcommand].get("ckpt_path"):
            return
        self._checkpoint = read_checkpoint(self.config[subcommand].ckpt_path)
        model = self.config[subcommand].get("model")
        class_path = model.get("class_path") if isinstance(model, Namespace) else None
        if class_path:
            check_regime(self._checkpoint, _import(class_path))

    def instantiate_classes(self) -> None:
        """Build model, data and Trainer, then refuse a ``--ckpt_path`` whose weights do not fit the model."""
        super().instantiate_classes()
        checkpoint, self._checkpoint = self._checkpoint, None
        if checkpoint is not None:
            check_weights_fit(checkpoint, self.model)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The Trainer, with an ``ExclusiveTensorBoardLogger`` wherever Lightning would build its default logger."""
        config = self.config_init.get(str(self.subcommand), self.config_init).get("trainer", {})
        if config.get("logger") in (None, True) and "logger" not in kwargs:
            kwargs["logger"] = ExclusiveTensorBoardLogger(save_dir=config.get("default_root_dir") or os.getcwd())
        return super().instantiate_trainer(**kwargs)


def _import(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def main(args: list[str] | None = None, run: bool = True) -> RobAttrCLI:
    """Entry point of ``python -m lightning_robattr``; ``args`` replaces ``sys.argv[1:]`` when given.

    ``fit``, ``validate`` and ``test`` start from the packaged default evaluation set
    (``callbacks/default.yaml``), so every regime config is evaluated; a later
    ``--config callbacks/<set>.yaml`` replaces that set. A ``--config`` path that does not
    exist is looked up among the configs installed with the package (see ``configs.resolve_config``),
    so ``--config configs/ssr.yaml`` works from any folder after ``pip install``.
    """
    args = _resolve_config_args(sys.argv[1:] if args is None else args)
    defaults = {"default_config_files": [str(DEFAULT_CALLBACKS)]}
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


def _resolve_config_args(args: list[str]) -> list[str]:
    """``args`` with every ``-c/--config`` value passed through :func:`configs.resolve_config` and checked."""
    resolved, expect_path = [], False
    for arg in args:
        if expect_path:
            arg, expect_path = _checked_config(arg), False
        elif arg in ("-c", "--config"):
            expect_path = True
        elif arg.startswith("--config="):
            arg = "--config=" + _checked_config(arg.removeprefix("--config="))
        resolved.append(arg)
    return resolved


def _checked_config(path: str) -> str:
    """The resolved path of a ``--config`` file, refused when it is empty or not valid YAML (naming the file and the line)."""
    resolved = resolve_config(path)
    try:
        content = yaml.safe_load(Path(resolved).read_text())
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"--config {path!r} is not valid YAML{line}: {problem}; fix that line (indentation, a missing ':' or quote)") from None
    if content is None:
        raise ValueError(f"--config {path!r} is empty; give a config with at least one key (e.g. model: or trainer:), or leave the file out")
    return resolved

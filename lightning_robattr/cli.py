"""The command line: ``python -m lightning_robattr {fit,validate,test,predict} --config CONFIG.yaml``."""

import argparse
import importlib
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import DefaultHelpFormatter, Namespace

# data: every data module imported, so that jsonargparse knows them as subclasses (--data MNIST5k, --data.help MNIST5k)
from . import data, regimes  # noqa: F401
from ._lightning import (
    LearningRateMonitor,
    LightningArgumentParser,
    LightningCLI,
    LightningDataModule,
    ModelCheckpoint,
    SaveConfigCallback,
    Trainer,
)
from ._quiet import quiet_dependencies
from ._run_folder import remove_unstarted_run, run_folder_of
from .callbacks._last_checkpoint import LastCheckpoint
from .callbacks._rng_state import RNGStateCheckpoint
from .callbacks._robust_summary import RobustSummary
from .callbacks._run_hyperparameters import RunHyperparameters
from .configs import CALLBACK_SETS, DEFAULT_CALLBACKS, REGIME_CONFIGS, config_folders, config_names, resolve_config
from .loggers import ExclusiveTensorBoardLogger
from .regimes import RobustClassifier, check_regime, read_checkpoint
from .regimes._checkpoint import check_weights_fit

PROG = "python -m lightning_robattr"
# evaluation callbacks attack the model during validation and test, which needs autograd; the
# logger is an ExclusiveTensorBoardLogger in <trainer.default_root_dir>/lightning_logs/<regime>/version_N
TRAINER_DEFAULTS = {"inference_mode": False}
# errors of the user's input (our checks raise ValueError, FileNotFoundError, ...; a missing extra ImportError):
# one message on stderr and this exit code, unless TRACEBACK_VARIABLE=1 in the environment asks for the traceback
USER_ERRORS = (ValueError, OSError, ImportError)
USER_ERROR_EXIT = 2
TRACEBACK_VARIABLE = "ROBATTR_TRACEBACK"


class RobAttrCLI(LightningCLI):
    """LightningCLI in subclass mode: the regime (``model``) and the ``data`` are chosen by ``class_path``.

    Always adds a ``ModelCheckpoint`` (the best by ``val/acc``), a ``LastCheckpoint``
    (``last.ckpt`` after every epoch, optionally every N steps), a ``LearningRateMonitor``,
    an ``RNGStateCheckpoint`` (so that ``--ckpt_path`` resumes exactly), a ``RobustSummary``
    (one line of headline numbers per validation epoch; ``--summary.tags []`` turns it off) and a
    ``RunHyperparameters`` (the run's regime, net, optimiser, lr, epochs, eps, ... in TensorBoard's
    HParams tab, linked to the headline metrics); they are configurable under ``checkpoint``,
    ``last_checkpoint``, ``lr_monitor``, ``rng_state``, ``summary`` and ``hparams``.
    After ``fit``, ``validate`` and ``test`` it prints the run folder and the best (or tested) checkpoint.

    With ``--ckpt_path`` the run is configured by the command line, not by the checkpoint's
    stored hyperparameters (an override such as ``--model.init_args.beta 0.9`` is kept), and a
    checkpoint that is unreadable, damaged, or of another regime than the configured model is
    refused before anything is built, and one whose weights do not fit the configured network
    before anything is run.

    The default logger is an :class:`~lightning_robattr.loggers.ExclusiveTensorBoardLogger` in
    ``<trainer.default_root_dir>/lightning_logs/<regime>`` (TensorBoard names each run ``<regime>/version_N``;
    ``validate`` and ``test`` of a run's checkpoint log into that run's folder, beside its training curves,
    and save their configuration as ``config_<stage>.yaml``): runs started together never share a ``version_N``,
    and a run that fails before it produced a checkpoint or a logged value leaves no ``version_N`` behind.
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
        parser.add_lightning_class_args(RobustSummary, "summary")
        parser.add_lightning_class_args(RunHyperparameters, "hparams")

    def _parse_ckpt_path(self) -> None:
        """Read ``--ckpt_path`` and refuse a checkpoint of another regime than the configured model, before anything
        is seeded or built; the model stays the one the command line configures (Lightning's version replaces it by the
        checkpoint's hyperparameters). Private in Lightning, which has no public hook that early;
        ``tests/test_lightning_internals.py`` pins it."""
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
            kwargs["logger"] = self._default_logger(config.get("default_root_dir") or os.getcwd())
        return super().instantiate_trainer(**kwargs)

    def _default_logger(self, root: str) -> ExclusiveTensorBoardLogger:
        """``validate``/``test`` of a run's checkpoint: that run's folder; otherwise a new ``<root>/lightning_logs/<regime>/version_N``."""
        tested = self.config_init.get(str(self.subcommand), {}).get("ckpt_path") if self.subcommand in ("validate", "test") else None
        run = run_folder_of(tested) if tested else None
        if run is not None:
            return ExclusiveTensorBoardLogger(save_dir=str(run.parent), name="", version=run.name)
        return ExclusiveTensorBoardLogger(save_dir=root, name=f"lightning_logs/{getattr(self.model, 'regime', 'run')}")

    def _run_subcommand(self, subcommand: str) -> None:
        """Run ``subcommand``; when it fails, remove the run folder if it holds nothing yet (``_run_folder.remove_unstarted_run``).

        Private in Lightning (``tests/test_lightning_internals.py`` pins it): no public hook runs after a failed
        subcommand, and ``Callback.on_exception`` runs before the logger's ``finalize`` writes into the folder.
        """
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            remove_unstarted_run(self.trainer)
            raise

    def after_fit(self) -> None:
        """Print the run folder and the best checkpoint (by the monitored metric)."""
        best = self.trainer.checkpoint_callback
        score = f" ({best.monitor} {float(best.best_model_score):.3f})" if best and best.best_model_score is not None else ""
        path = _shown(best.best_model_path) + score if best and best.best_model_path else "none (no validation ran)"
        self._print_run("best checkpoint", path)

    def after_validate(self) -> None:
        """Print the run folder and the checkpoint evaluated."""
        path = self.trainer.ckpt_path
        self._print_run("checkpoint", _shown(path) if path else "none (the configured initial weights)")

    after_test = after_validate

    def _print_run(self, what: str, checkpoint: str) -> None:
        folder = self.trainer.log_dir  # a broadcast under DDP: every rank asks
        if self.trainer.is_global_zero:
            print(f"run folder: {_shown(folder)}\n{what}: {checkpoint}", flush=True)


class StageConfigCallback(SaveConfigCallback):
    """Lightning's ``SaveConfigCallback`` writing ``config.yaml`` for ``fit`` and ``config_<stage>.yaml`` otherwise,
    so that a ``test`` logged into the tested run's folder keeps the configuration the run was trained with."""

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        stage = getattr(stage, "value", stage)  # a TrainerFn or its value
        self.config_filename = "config.yaml" if stage == "fit" else f"config_{stage}.yaml"
        super().setup(trainer, pl_module, stage)


def _shown(path: str | os.PathLike | None) -> str:
    """``path`` relative to the current folder when it lies inside it, else as given."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


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
    quiet_dependencies()
    args = _resolve_config_args(sys.argv[1:] if args is None else args)
    defaults = {"default_config_files": [str(DEFAULT_CALLBACKS)]}
    main_parser = {"prog": PROG, "description": _description(), "formatter_class": _HelpFormatter}
    # progress bars only on a terminal: piped or nohup output gets the summary lines, not cursor movements
    interactive = sys.stdout.isatty() and sys.stderr.isatty()
    return RobAttrCLI(
        RobustClassifier,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults={**TRAINER_DEFAULTS, "enable_progress_bar": interactive},
        seed_everything_default=0,
        save_config_callback=StageConfigCallback,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={**main_parser, **({stage: defaults for stage in ("fit", "validate", "test")} if run else defaults)},
        args=args,
        run=run,
    )


def command_line() -> None:
    """``python -m lightning_robattr``: :func:`main`, with an error of the user's input ending in one line on stderr.

    ``ValueError``, ``OSError`` (a missing file) and ``ImportError`` (a missing extra) print
    ``error: <message>`` and exit with status 2, without a traceback; ``ROBATTR_TRACEBACK=1``
    in the environment re-raises them with it. Other exceptions keep their traceback.
    """
    try:
        main()
    except USER_ERRORS as error:
        if os.environ.get(TRACEBACK_VARIABLE) == "1":
            raise
        print(f"error: {error}\n({TRACEBACK_VARIABLE}=1 shows the traceback)", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT) from None


class _HelpFormatter(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """jsonargparse's help, with the description's lines kept as written."""


def _description() -> str:
    """The ``--help`` text: what the command does, the regimes, the packaged configs and callback sets, examples."""
    listed = {
        "regimes (model)": ", ".join(name for name in regimes.__all__ if name.endswith("Module")),
        **{f"{folder.relative_to(REGIME_CONFIGS.parent).as_posix()}/": " ".join(config_names(folder)) for folder in config_folders()},
        "callbacks/ (sets)": " ".join(config_names(CALLBACK_SETS)),
    }
    lines = [textwrap.fill(text, 100, initial_indent=f"  {head:<22}", subsequent_indent=" " * 24) for head, text in listed.items()]
    return "\n".join([
        "Train and evaluate image classifiers whose explanations resist adversarial manipulation. A --config chooses",
        "the regime, the network and the data; fit, validate and test add callbacks/default.yaml, which a later",
        "-c callbacks/<set>.yaml replaces. Packaged configs are found from any folder.",
        "",
        *lines,
        "",
        "examples:",
        f"  {PROG} fit -c configs/ssr.yaml",
        f"  {PROG} test -c configs/ssr.yaml --ckpt_path lightning_logs/ssr/version_0/checkpoints/best-epoch=9.ckpt",
        f"  {PROG} fit --help                      every option of fit",
        f"  {PROG} fit --model.help SSRModule      a regime's options (--data.help MNIST5k: a data module's)",
    ])


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

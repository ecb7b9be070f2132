"""A run's folder: the one a checkpoint belongs to, and removing one that a failed start left empty."""

import shutil
from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from ._lightning import Trainer
from .loggers import ExclusiveTensorBoardLogger

# what a Trainer logs before any result: the hyperparameters (tags _hparams_/...) and their placeholder metric
_SETUP_TAG_PREFIX, _SETUP_TAGS = "_hparams_/", ("hp_metric",)


def remove_unstarted_run(trainer: Trainer) -> Path | None:
    """Remove the folder this Trainer's ``ExclusiveTensorBoardLogger`` claimed when it holds no result; return it if removed.

    A result is a checkpoint (``*.ckpt``) or logged data in an event file; a failed start leaves at
    most ``config.yaml``, ``hparams.yaml`` and event files with the hyperparameters. A folder not
    claimed yet (the failure came first) is not created; other loggers' folders and other ranks are left alone.
    """
    logger = trainer.logger
    # _version stays None until the version is first asked for: reading .version would claim a folder now
    if not (trainer.is_global_zero and isinstance(logger, ExclusiveTensorBoardLogger) and logger._version is not None):
        return None
    folder = Path(logger.log_dir)
    if not folder.is_dir() or holds_results(folder):
        return None
    shutil.rmtree(folder)
    return folder


def holds_results(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint or an event file with logged data beyond the hyperparameters."""
    if any(folder.rglob("*.ckpt")):
        return True
    return any(_logs_data(path) for path in folder.rglob("events.out.tfevents.*"))


def _logs_data(path: Path) -> bool:
    """Whether the event file ``path`` holds a value beyond the hyperparameters (``True`` when it cannot be read: kept)."""
    try:
        events = list(EventFileLoader(str(path)).Load())
    except Exception:  # an unreadable file is not ours to judge
        return True
    return any(not value.tag.startswith(_SETUP_TAG_PREFIX) and value.tag not in _SETUP_TAGS for event in events for value in event.summary.value)


def run_folder_of(checkpoint: str | Path) -> Path | None:
    """The run folder ``<run>`` of a checkpoint ``<run>/checkpoints/<name>.ckpt`` written by the command line (``<run>/config.yaml``), else ``None``."""
    path = Path(checkpoint).resolve()
    run = path.parent.parent
    return run if path.parent.name == "checkpoints" and (run / "config.yaml").is_file() else None

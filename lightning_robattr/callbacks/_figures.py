"""Figures through every logger of a Trainer: TensorBoard, loggers with ``log_image``, and PNG files for the rest."""

import re
from pathlib import Path
from typing import Any

from .._lightning import TensorBoardLogger, Trainer, rank_zero_only


@rank_zero_only
def log_figure(trainer: Trainer, tag: str, figure: Any) -> None:
    """Hand the matplotlib ``figure`` to every logger of ``trainer`` under ``tag`` at the current global step, then close it.

    A ``TensorBoardLogger`` gets it with ``add_figure`` (the Images tab); a logger with a
    ``log_image(key, images, step=...)`` method (Weights & Biases, Neptune) gets it there; any other
    logger (CSV, MLflow, ...) gets a PNG file ``<log_dir>/figures/<tag>-step<N>.png`` (the tag's ``/``
    and ``=`` made file-name safe). Rank 0 only.
    """
    import matplotlib.pyplot as plt

    step = trainer.global_step
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(tag, figure, global_step=step, close=False)
        elif callable(getattr(logger, "log_image", None)):
            logger.log_image(key=tag, images=[figure], step=step)
        else:
            folder = Path(getattr(logger, "log_dir", None) or trainer.log_dir or trainer.default_root_dir) / "figures"
            folder.mkdir(parents=True, exist_ok=True)
            figure.savefig(folder / f"{re.sub(r'[^A-Za-z0-9.+-]+', '_', tag)}-step{step}.png", dpi=100)
    plt.close(figure)

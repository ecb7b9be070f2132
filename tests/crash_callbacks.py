"""Callbacks that end a run at a chosen batch, for the resume tests (importable by a ``fit`` subprocess)."""

import os
import signal

from pytorch_lightning import Callback


class KillAt(Callback):
    """SIGKILL this process when batch ``batch`` of epoch ``epoch`` is about to train (``epoch=-1``: never)."""

    def __init__(self, epoch: int = -1, batch: int = 0) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)

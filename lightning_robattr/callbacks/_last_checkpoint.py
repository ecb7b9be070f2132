"""``LastCheckpoint``: ``last.ckpt`` rewritten after every training epoch (and every N steps), whatever the metrics do."""

from pathlib import Path

from .._lightning import STEP_OUTPUT, Checkpoint, LightningModule, TorchCheckpointIO, Trainer
from ..regimes._checkpoint_io import AtomicCheckpointIO


class LastCheckpoint(Checkpoint):
    """Write ``<dirpath>/last.ckpt`` at the end of every training epoch, and every ``every_n_train_steps`` steps.

    Lightning's ``ModelCheckpoint(save_last=True)`` rewrites ``last.ckpt`` only when it also
    saves a top-k checkpoint, so beside a monitored metric that stops improving (clean
    accuracy falls while an eps ramp grows) ``last.ckpt`` goes stale. This callback does not
    look at any metric: after epoch ``e`` the file holds epoch ``e``, so a crash loses at most
    the epoch in progress, or at most ``every_n_train_steps`` optimiser steps when that is set
    (for long CIFAR/ImageNet epochs). The file is replaced atomically wherever the folder lives:
    at setup the callback gives a Trainer that uses Lightning's default checkpoint writer a
    :class:`~lightning_robattr.regimes.AtomicCheckpointIO` instead (a temporary file in the same
    folder, fsynced, then ``os.replace``), so a kill or a full disk during the write leaves the
    previous file intact, and every checkpoint the Trainer reads is verified. A Trainer with a
    checkpoint writer of its own keeps it (and its guarantees).
    Resuming from a mid-epoch checkpoint continues the epoch where it stopped (the package's
    DataModules serve resumable training loaders, see ``data.ResumableLoader``).

    Args:
        dirpath: folder of the file; default ``<trainer.log_dir>/checkpoints``, beside
            ``ModelCheckpoint``'s best checkpoints.
        filename: file name without the ``.ckpt`` suffix.
        every_n_train_steps: also save after every N optimiser steps (``None``: at epoch ends only).

    Example:
        >>> from pytorch_lightning import Trainer
        >>> trainer = Trainer(callbacks=[LastCheckpoint(every_n_train_steps=500)], logger=False)
    """

    def __init__(self, dirpath: str | None = None, filename: str = "last", every_n_train_steps: int | None = None) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(
                f"every_n_train_steps must be a positive number of optimiser steps or None, got {every_n_train_steps}; "
                "use None to save at epoch ends only"
            )
        if not filename or "/" in filename:
            raise ValueError(f"filename must be a plain file name without folders, got {filename!r}; set folders with dirpath")
        self.dirpath, self.filename, self.every_n_train_steps = dirpath, filename, every_n_train_steps
        self._saved_at_step = -1

    @property
    def state_key(self) -> str:
        return self._generate_state_key(filename=self.filename, every_n_train_steps=self.every_n_train_steps)

    def path(self, trainer: Trainer) -> Path:
        """Where the file goes: ``dirpath``, or ``<log_dir>/checkpoints`` (the same folder on every rank)."""
        folder = self.dirpath or str(Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints")
        return Path(trainer.strategy.broadcast(folder)) / f"{self.filename}.ckpt"

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: STEP_OUTPUT, batch: object, batch_idx: int
    ) -> None:
        step = trainer.global_step
        # with gradient accumulation several batches end on the same optimiser step: save once
        if self.every_n_train_steps and step % self.every_n_train_steps == 0 and step != self._saved_at_step:
            self._saved_at_step = step
            self._save(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._save(trainer)

    def _save(self, trainer: Trainer) -> None:
        if not trainer.fast_dev_run:
            trainer.save_checkpoint(self.path(trainer), weights_only=False)

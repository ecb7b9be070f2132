"""``ExclusiveTensorBoardLogger``: one run per ``version_N`` folder, even when runs start at the same instant."""

import os
from pathlib import Path
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from ._lightning import TensorBoardLogger, rank_zero_only

__all__ = ["ExclusiveTensorBoardLogger", "claim_next_version"]


class ExclusiveTensorBoardLogger(TensorBoardLogger):
    """Lightning's ``TensorBoardLogger`` whose next ``version_N`` folder is claimed atomically.

    Lightning numbers a new run one above the highest ``version_N`` it lists, and creates the
    folder later; two runs started together in one ``save_dir`` list the same folders and write
    into the same ``version_N`` (one run's ``last.ckpt`` and ``config.yaml`` overwriting the
    other's). This logger creates the folder with ``os.mkdir``, which fails for all but one
    process, and moves on to the next number when it loses. The folder is claimed when the
    version is first asked for (at the start of ``fit``/``validate``/``test``), on rank 0 only
    (the other ranks receive rank 0's folder through ``trainer.log_dir``). An explicit
    ``version`` and remote ``save_dir`` behave as in Lightning.

    Lightning's placeholder metric ``hp_metric = -1`` is off by default: the command line's
    ``callbacks.RunHyperparameters`` writes the run's description linked to its real headline metrics.

    Args:
        save_dir, name, version, default_hp_metric, kwargs: as ``TensorBoardLogger``.
    """

    def __init__(self, save_dir: str, name: str | None = "lightning_logs", version: int | str | None = None,
                 default_hp_metric: bool = False, **kwargs: Any) -> None:
        super().__init__(save_dir, name=name, version=version, default_hp_metric=default_hp_metric, **kwargs)

    def _get_next_version(self) -> int:
        if rank_zero_only.rank != 0 or not isinstance(self._fs, LocalFileSystem):
            return super()._get_next_version()
        return claim_next_version(Path(self.root_dir))


def claim_next_version(root: Path) -> int:
    """Create ``root/version_N`` for the smallest ``N`` above every existing version and return ``N``."""
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[8:]) for p in root.iterdir() if p.name.startswith("version_") and p.name[8:].isdigit()]
    version = max(taken, default=-1) + 1
    while True:
        try:
            os.mkdir(root / f"version_{version}")
            return version
        except FileExistsError:
            version += 1

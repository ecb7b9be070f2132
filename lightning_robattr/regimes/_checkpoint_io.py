"""``AtomicCheckpointIO``: checkpoints written so that a kill or a full disk never destroys the previous file."""

import io
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import torch
from fsspec.implementations.local import LocalFileSystem

from .._lightning import TorchCheckpointIO, get_filesystem
from ._checkpoint import check_checkpoint_file, check_finite_weights


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` with atomic, durable writes and verified reads on local paths.

    Writing: the checkpoint goes to a temporary file *in the destination folder*, which is
    flushed and fsynced, then renamed over the destination with ``os.replace`` (atomic on one
    filesystem) and the folder fsynced. At every instant the destination holds either the
    previous complete file or the new one, wherever the folder lives. (Lightning's own writer
    stages the file in ``$TMPDIR`` and moves it; when the run folder is on another filesystem
    that move is a copy that first truncates the previous file.) A failed write (full disk,
    an exception) removes its temporary file and leaves the previous checkpoint untouched; the
    temporary files of killed writers are removed by the next write to the same path.

    Reading: the archive's checksums are verified and non-finite weights refused
    (:func:`read_checkpoint`'s checks) before Lightning restores anything.

    Remote paths (``s3://`` ...) are handed to Lightning's writer and reader unchanged.

    Example:
        >>> from pytorch_lightning import Trainer
        >>> trainer = Trainer(plugins=[AtomicCheckpointIO()], logger=False)
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_save(checkpoint, Path(path))

    def load_checkpoint(
        self, path: str | Path, map_location: Callable | None = lambda storage, loc: storage, weights_only: bool | None = None
    ) -> dict[str, Any]:
        if not _is_local(path):
            return super().load_checkpoint(path, map_location, weights_only)
        check_checkpoint_file(Path(path))
        checkpoint = super().load_checkpoint(path, map_location, weights_only)
        check_finite_weights(checkpoint.get("state_dict", {}), path)
        return checkpoint


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write` (serialised in memory first, so that a
    write error is an ``OSError`` naming the file rather than the zip writer's)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getbuffer())


def atomic_write(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file beside it and ``os.replace``.

    At every instant ``path`` holds its previous content or ``data``, never a part of either.

    Raises:
        OSError: the write failed (a full disk, a lost mount); the message names ``path`` and says
            that the previous file is kept.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temporaries(path)
    temporary = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(temporary, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} was written"
        raise OSError(error.errno, f"could not write {path} ({error.strerror}); {kept}; free space there or move the run") from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # make the rename itself durable
    finally:
        os.close(folder)


def _remove_abandoned_temporaries(path: Path) -> None:
    """Delete temporary files for ``path`` left by writers that no longer run (killed mid-write)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        pid = stale.name.removeprefix(f".{path.name}.").split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            stale.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _is_local(path: str | Path) -> bool:
    return isinstance(get_filesystem(path), LocalFileSystem)

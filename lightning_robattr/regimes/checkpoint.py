"""Reading checkpoints safely and refusing one of another regime, before any work is done."""

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint with ``torch.load(weights_only=True)`` (no code runs) onto the CPU.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: the file is truncated, not a checkpoint, or holds objects other than plain
            data and tensors; the message names the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path {str(path)!r} does not exist; give the path of a .ckpt file (e.g. <run>/checkpoints/last.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = [line for line in str(error).splitlines() if "Unsupported global" in line]
        reason = found[0].split("Unsupported global:")[1].split(" was not")[0].strip() if found else "not plain data"
        raise ValueError(
            f"ckpt_path {str(path)!r} holds objects other than plain data and tensors, which are not loaded because "
            f"unpickling them could run code ({reason}); re-save the checkpoint with plain "
            "hyperparameters, or load it yourself with torch.load(weights_only=False) if you trust its source"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            f"ckpt_path {str(path)!r} is not a readable checkpoint (truncated or corrupt: {str(error).splitlines()[0]}); "
            "resume from another checkpoint of the run, e.g. the best-epoch one beside it"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"ckpt_path {str(path)!r} is not a Lightning checkpoint (no state_dict); give a .ckpt written by a Trainer")
    return checkpoint


def check_regime(checkpoint: dict[str, Any], module_class: type) -> None:
    """Raise ``ValueError`` when ``checkpoint`` was trained under another regime than ``module_class.regime``."""
    saved, wanted = checkpoint.get("regime"), getattr(module_class, "regime", None)
    if saved is not None and wanted is not None and saved != wanted:
        raise ValueError(
            f"this checkpoint was trained with the {saved!r} regime but is being loaded into a {wanted!r} "
            f"module ({module_class.__name__}); use the {saved!r} regime's config, or load only the weights "
            "with net.load_state_dict"
        )

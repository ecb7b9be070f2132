"""Reading checkpoints safely and refusing a damaged one, or one of another regime or net, before any work is done."""

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

_ANOTHER = "resume from another checkpoint of the run (the best-epoch one beside it, or an earlier last.ckpt)"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint with ``torch.load(weights_only=True)`` (no code runs) onto the CPU, verified.

    The file's own checksums (the CRC-32 of every record of the zip archive ``torch.save``
    writes) are checked first, so that a checkpoint damaged on disk is refused instead of loading
    as garbage weights, and every floating-point tensor of its ``state_dict`` must be finite.

    Raises:
        FileNotFoundError: nothing at ``path``.
        IsADirectoryError: ``path`` is a folder; the message lists the checkpoints in it.
        ValueError: the file is empty, truncated, corrupt, not a checkpoint, holds objects other
            than plain data and tensors, or holds non-finite weights; the message names the file and the fix.
    """
    path = Path(path)
    check_checkpoint_file(path)
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
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"ckpt_path {str(path)!r} is not a readable checkpoint (truncated or corrupt: {reason}); {_ANOTHER}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"ckpt_path {str(path)!r} is not a Lightning checkpoint (no state_dict); give a .ckpt written by a Trainer")
    check_finite_weights(checkpoint["state_dict"], path)
    return checkpoint


def check_checkpoint_file(path: Path) -> None:
    """Refuse a missing path, a folder, an empty file and a zip archive whose checksums do not match."""
    if path.is_dir():
        inside = sorted(p.name for p in path.rglob("*.ckpt"))[:5]
        raise IsADirectoryError(
            f"ckpt_path {str(path)!r} is a folder, not a checkpoint file; give a .ckpt file"
            + (f", e.g. one of {inside} found under it" if inside else " (none found under it), e.g. <run>/checkpoints/last.ckpt")
        )
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path {str(path)!r} does not exist; give the path of a .ckpt file (e.g. <run>/checkpoints/last.ckpt)")
    if path.stat().st_size == 0:
        raise ValueError(f"ckpt_path {str(path)!r} is an empty file (0 bytes: its write was interrupted); {_ANOTHER}")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            damaged = f"the archive ({error})"
        if damaged is not None:
            raise ValueError(f"ckpt_path {str(path)!r} is corrupt: the checksum of {damaged} does not match its bytes; {_ANOTHER}")


def check_finite_weights(state_dict: dict[str, Any], path: str | Path) -> None:
    """Raise ``ValueError`` naming the entries of ``state_dict`` that hold NaN or infinite values."""
    bad = {
        name: int((~torch.isfinite(value)).sum())
        for name, value in state_dict.items()
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all()
    }
    if bad:
        shown = ", ".join(f"{name} ({count})" for name, count in list(bad.items())[:5])
        raise ValueError(
            f"checkpoint {str(path)!r} holds non-finite weights in {len(bad)} tensor(s): {shown}; the run had diverged "
            f"before it was saved, or the file is damaged; {_ANOTHER}"
        )


def check_regime(checkpoint: dict[str, Any], module_class: type) -> None:
    """Raise ``ValueError`` when ``checkpoint`` was trained under another regime than ``module_class.regime``."""
    saved, wanted = checkpoint.get("regime"), getattr(module_class, "regime", None)
    if saved is not None and wanted is not None and saved != wanted:
        raise ValueError(
            f"this checkpoint was trained with the {saved!r} regime but is being loaded into a {wanted!r} "
            f"module ({module_class.__name__}); use the {saved!r} regime's config, or load only the weights "
            "with net.load_state_dict"
        )


def check_weights_fit(checkpoint: dict[str, Any], module: nn.Module) -> None:
    """Raise ``ValueError`` when the checkpoint's weights are not those of ``module``'s network (names or shapes differ)."""
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    saved = {name: tuple(value.shape) for name, value in checkpoint["state_dict"].items() if isinstance(value, torch.Tensor)}
    missing, unexpected = sorted(expected.keys() - saved.keys()), sorted(saved.keys() - expected.keys())
    reshaped = [f"{name} {saved[name]} vs {expected[name]}" for name in sorted(expected.keys() & saved.keys()) if saved[name] != expected[name]]
    if missing or unexpected or reshaped:
        details = "; ".join(
            f"{label}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for label, names in (("shapes differ (checkpoint vs config)", reshaped), ("missing", missing), ("unexpected", unexpected))
            if names
        )
        raise ValueError(
            f"the checkpoint's weights do not fit the configured network {type(getattr(module, 'net', module)).__name__} ({details}); "
            "use the config the checkpoint was trained with (its run folder's config.yaml), e.g. the same "
            "model.init_args.net and num_classes"
        )

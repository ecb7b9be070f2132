"""The models a reproduction needs: trained through the CLI from the packaged regime configs, cached by config + seed."""

import fcntl
import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._lightning import Callback, LightningModule, Trainer
from ..configs import resolve_config
from ..regimes import read_checkpoint
from ..regimes._checkpoint_io import atomic_save, atomic_write
from ._progress import Progress


@dataclass(frozen=True)
class Run:
    """One model to train: a report label, a packaged regime config and command-line overrides.

    Attributes:
        label: the model's name in the report (``"Adv"``, ``"Int-1-class"``).
        config: a regime config, e.g. ``"configs/madry.yaml"`` (packaged configs are found from any folder).
        overrides: more CLI arguments, e.g. ``("--trainer.max_epochs=10",)``.
        seeds: at most this many seeds are trained however many the reproduction asks for (the
            expensive regimes of a CPU budget); ``None``: all of them.
    """

    label: str
    config: str
    overrides: tuple[str, ...] = ()
    seeds: int | None = None

    def key(self, seed: int) -> str:
        """The cache key: a hash of the config file's text, the overrides and the seed."""
        text = Path(resolve_config(self.config)).read_text()
        digest = hashlib.sha256(json.dumps([text, list(self.overrides), seed]).encode()).hexdigest()[:12]
        return f"{Path(self.config).stem}-seed{seed}-{digest}"


@dataclass
class Trained:
    """A trained network (eval mode) and what its training measured."""

    net: nn.Module
    seconds_per_step: float
    seconds_per_epoch: float
    train_acc: float | None
    cached: bool
    info: dict[str, Any] = field(default_factory=dict)


class StepTimer(Callback):
    """Wall-clock seconds of every training step (forward, backward, optimiser), and of every epoch."""

    def __init__(self) -> None:
        self.steps: list[float] = []
        self.epochs: list[float] = []

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        self._step = time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.steps.append(time.perf_counter() - self._step)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._epoch = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.epochs.append(time.perf_counter() - self._epoch)


def build(run: Run, seed: int, root: Path | None = None) -> Any:
    """The ``RobAttrCLI`` of ``run`` at ``seed`` without evaluation callbacks or summary lines, built but not run."""
    from ..cli import main

    args = ["--config", run.config, "--config", "callbacks/none.yaml", *run.overrides, f"--seed_everything={seed}"]
    args += ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--summary.tags=[]"]
    if root is not None:
        args.append(f"--trainer.default_root_dir={root}")
    return main(args, run=False)


def train(run: Run, seed: int, cache: Path, progress: Progress | None = None) -> Trained:
    """The network of ``run`` trained from ``seed``: loaded from ``cache`` when this config + seed was trained before.

    Two reproductions that need the same model (say ``int`` and ``ssr`` run side by side) share
    it: the second waits on the run folder's lock and loads what the first trained. Training goes
    through the CLI exactly as ``python -m lightning_robattr fit --config <config> <overrides>
    --seed_everything <seed>`` would run it, without evaluation callbacks; the run's directory
    under ``cache`` keeps its checkpoints, ``net.pt`` and ``run.json`` (the timings), each written
    atomically. An interrupted training resumes from the newest intact ``last.ckpt`` of that
    directory; a damaged ``net.pt`` or ``run.json`` is named in a warning and rebuilt (from the
    finished run's ``last.ckpt`` when it has one, which costs no training).
    """
    folder = cache / run.key(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another reproduction training the same run: wait for it, then load
        return _load(run, seed, folder, progress) or _fit(run, seed, folder, progress)


def _load(run: Run, seed: int, folder: Path, progress: Progress | None) -> Trained | None:
    record, weights = folder / "run.json", folder / "net.pt"
    if not (record.is_file() and weights.is_file()):
        return None
    cli = build(run, seed)
    try:
        info = json.loads(record.read_text())
        cli.model.net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        timings = info["seconds_per_step"], info["seconds_per_epoch"], info["train_acc"]
    except (ValueError, RuntimeError, EOFError, KeyError, TypeError) as error:
        warnings.warn(
            f"the cached model {folder} is damaged ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
            "rebuilding it from its last checkpoint (delete the folder to retrain it from scratch)",
            stacklevel=2,
        )
        record.unlink(missing_ok=True)
        weights.unlink(missing_ok=True)
        return None
    if progress:
        progress.note(f"{run.label} seed {seed}: cached ({folder.name})")
    return Trained(cli.model.net.eval(), *timings, True, info)


def latest_checkpoint(folder: Path) -> Path | None:
    """The intact ``last.ckpt`` under ``folder``'s runs with the most optimiser steps (damaged ones skipped), or ``None``."""
    found = []
    for path in folder.glob("lightning_logs/*/version_*/checkpoints/last.ckpt"):
        try:
            found.append((read_checkpoint(path)["global_step"], path))
        except (ValueError, KeyError):
            continue
    return max(found)[1] if found else None


def _fit(run: Run, seed: int, folder: Path, progress: Progress | None) -> Trained:
    resume = latest_checkpoint(folder)
    if progress:
        start = f"resuming from {resume.relative_to(folder)}" if resume else "training"
        progress.note(f"{start} {run.label} seed {seed} ({run.config} {' '.join(run.overrides)})")
    cli = build(run, seed, folder)
    timer = StepTimer()
    cli.trainer.callbacks.append(timer)
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=resume)
    train_acc = cli.trainer.callback_metrics.get("train/acc")
    info = {
        "config": run.config,
        "overrides": list(run.overrides),
        "seed": seed,
        "wall_seconds": time.perf_counter() - start,
        "resumed_from": None if resume is None else str(resume.relative_to(folder)),
        "steps": cli.trainer.global_step,
        "epochs": cli.trainer.current_epoch,
        "seconds_per_step": float(torch.tensor(timer.steps).median()) if timer.steps else float("nan"),
        "seconds_per_epoch": float(torch.tensor(timer.epochs).median()) if timer.epochs else float("nan"),
        "train_acc": None if train_acc is None else float(train_acc),
    }
    net = cli.model.net.eval()
    atomic_save(net.state_dict(), folder / "net.pt")
    atomic_write(folder / "run.json", json.dumps(info, indent=1).encode())
    return Trained(net, info["seconds_per_step"], info["seconds_per_epoch"], info["train_acc"], False, info)


@lru_cache(maxsize=None)
def test_split(run: Run) -> Any:
    """The held-out test dataset of ``run``'s data module (the same for every seed of a config)."""
    datamodule = build(run, 0).datamodule
    datamodule.setup("test")
    return datamodule.test_dataloader().dataset


def train_split(run: Run) -> Any:
    """The training dataset of ``run``'s data module (its ``train_set``: what influence functions sum over)."""
    datamodule = build(run, 0).datamodule
    datamodule.setup("fit")
    return datamodule.train_set

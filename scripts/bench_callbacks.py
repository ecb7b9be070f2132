"""Cost of an evaluation-callback set as a fraction of the training epoch it follows.

``python scripts/bench.py callbacks [--regime natural] [--set default] [--epochs 3]`` trains the
regime config composed with ``callbacks/<set>.yaml`` through the CLI and times, in the same run,
every training epoch and every callback's evaluation after it.
"""

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pytorch_lightning import Callback

from lightning_robattr.callbacks import ScheduledEvaluation
from lightning_robattr.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


class EpochTimer(Callback):
    """Wall time of each training epoch (its batches and optimiser steps, not validation)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds.append(time.perf_counter() - self.start)


def timed(callback: ScheduledEvaluation, seconds: dict[str, list[float]]) -> None:
    """Record the wall time of every ``run`` of ``callback``."""
    run = callback.run

    def timed_run(trainer, pl_module, stage):
        start = time.perf_counter()
        run(trainer, pl_module, stage)
        seconds[type(callback).__name__].append(time.perf_counter() - start)

    callback.run = timed_run


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.py callbacks")
    parser.add_argument("--regime", default="natural", help="a config name under configs/")
    parser.add_argument("--set", default="default", help="a callback set under callbacks/")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            cli = cli_main(
                ["-c", str(ROOT / "configs" / f"{args.regime}.yaml"), "-c", str(ROOT / "callbacks" / f"{args.set}.yaml"),
                 "--trainer.max_epochs", str(args.epochs), "--trainer.enable_progress_bar", "false"],
                run=False,
            )
            epochs, seconds = EpochTimer(), defaultdict(list)
            for callback in cli.trainer.callbacks:
                if isinstance(callback, ScheduledEvaluation):
                    timed(callback, seconds)
            cli.trainer.callbacks.append(epochs)
            cli.trainer.fit(cli.model, cli.datamodule)
        finally:
            os.chdir(cwd)
    epoch = sum(epochs.seconds) / len(epochs.seconds)
    print(f"\n{args.regime} regime, callbacks/{args.set}.yaml, {args.epochs} epochs, mean training epoch {epoch:.1f} s\n")
    print("| callback | seconds per evaluation | fraction of a training epoch |")
    print("|---|---|---|")
    total = 0.0
    for name, times in seconds.items():
        mean = sum(times) / len(times)
        total += mean
        print(f"| {name} | {mean:.2f} | {mean / epoch:.2f} |")
    print(f"| **all** | {total:.2f} | **{total / epoch:.2f}** |")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

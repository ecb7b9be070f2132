"""What a full-size run costs on one CPU thread: each Fashion-MNIST preset's training epoch, its evaluation callbacks, memory, checkpoint.

    python scripts/bench.py full_size [--regimes natural madry trades ssr int] [--batches 20] [--csv costs.csv]

Each preset (``configs/fashion_mnist/<regime>.yaml`` with the default evaluation callbacks, as ``fit``
runs it) is built through the CLI in a fresh process of its own, with one torch thread, and trains
``--batches`` steps of one epoch; per preset it measures:

* seconds per training step (the median after the first two, ``StepTimer``) and the epoch it makes
  (steps per epoch = training images / batch size);
* seconds of each evaluation callback at the validation end (the per-epoch ones, measured as they run);
* reading the dataset (``setup``: the four ``.gz`` files) and one pass of the validation loader;
* peak resident memory of the process and the size of a checkpoint.

Prints a Markdown table (and writes ``--csv``). The data are read from where ``apt-get install
dataset-fashion-mnist`` puts them (``FashionMNISTData``'s default root).
"""

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REGIMES = ("natural", "madry", "trades", "ssr", "int")


def measure(regime: str, batches: int) -> dict[str, float]:
    """The costs of one preset, measured in this process (see the module docstring)."""
    import torch

    from lightning_robattr.callbacks import ScheduledEvaluation
    from lightning_robattr.cli import main
    from lightning_robattr.reproduce._training import StepTimer

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        cli = main([
            "--config", f"configs/fashion_mnist/{regime}.yaml", "--trainer.max_epochs=1", f"--trainer.limit_train_batches={batches}",
            f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            "--trainer.accelerator=cpu",
        ], run=False)
        trainer, model, data = cli.trainer, cli.model, cli.datamodule
        start = time.perf_counter()
        data.setup("fit")
        setup_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in data.val_dataloader():
            pass
        val_pass_s = time.perf_counter() - start
        callback_s: dict[str, float] = {}
        for callback in trainer.callbacks:
            if isinstance(callback, ScheduledEvaluation) and callback.due(0):
                callback.run = timed(callback.run, type(callback).__name__, callback_s)
        timer = StepTimer()
        trainer.callbacks.append(timer)
        trainer.fit(model, datamodule=data)
        checkpoint = Path(root) / "costs.ckpt"
        trainer.save_checkpoint(checkpoint)
        step_s = statistics.median(timer.steps[2:] or timer.steps)
        steps_per_epoch = len(data.train_set) // data.batch_size
        return {
            "regime": regime,
            "seconds_per_step": step_s,
            "steps_per_epoch": steps_per_epoch,
            "epoch_minutes": step_s * steps_per_epoch / 60,
            "callbacks_minutes_per_epoch": sum(callback_s.values()) / 60,
            "callbacks": json.dumps({name: round(s, 1) for name, s in callback_s.items()}),
            "read_dataset_s": setup_s,
            "validation_pass_s": val_pass_s,
            "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "checkpoint_mib": checkpoint.stat().st_size / 2**20,
        }


def timed(run, name: str, seconds: dict[str, float]):
    """``run`` that adds its wall time to ``seconds[name]``."""

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    parser.add_argument("--batches", type=int, default=20, help="training steps timed per preset")
    parser.add_argument("--csv", type=Path, help="also write the rows here")
    parser.add_argument("--one", choices=REGIMES, help=argparse.SUPPRESS)  # the child process measuring one preset
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.batches)))
        return
    rows = []
    for regime in args.regimes:
        done = subprocess.run([sys.executable, __file__, "--one", regime, "--batches", str(args.batches)],
                              capture_output=True, text=True, check=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    header = ["preset", "s / step", "steps / epoch", "min / epoch", "callbacks min / epoch", "read data s", "val pass s", "peak MiB", "checkpoint MiB"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in rows:
        print(f"| {r['regime']} | {r['seconds_per_step']:.3f} | {r['steps_per_epoch']} | {r['epoch_minutes']:.1f} | "
              f"{r['callbacks_minutes_per_epoch']:.2f} {r['callbacks']} | {r['read_dataset_s']:.1f} | {r['validation_pass_s']:.1f} | "
              f"{r['peak_memory_mib']:.0f} | {r['checkpoint_mib']:.2f} |")
    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main(sys.argv[1:])

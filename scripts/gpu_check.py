"""Check the package on a CUDA device: mixed-precision training, device vs CPU results, costs as ratios.

Usage:
    python scripts/gpu_check.py --device cuda --out gpu_table.md
    python scripts/gpu_check.py --device cpu --quick        # sizes cut: under a minute on a CPU

Writes one markdown table (stdout, and ``--out PATH``) with a row per check:

- train: each regime a few optimiser steps of a tiny Trainer on MNIST5k digits under 16-mixed and
  bf16-mixed (and 2-GPU DDP, ``ddp_spawn``, when two GPUs are visible): finite loss, seconds per step
  (median after one warm-up step). "ran as" is the precision Lightning used: on a CPU, Lightning 2.x
  has no fp16 autocast and runs 16-mixed as bf16-mixed.
- compare: PGD (no random start), integrated gradients and saliency on the device vs on the CPU,
  same inputs and weights: max abs difference against the stated tolerance (TF32 is off throughout).
- time: ours / reference, timed round-robin in this run (median; CUDA wall time, CPU process time):
  PGD vs torchattacks.PGD, IG vs captum's IntegratedGradients, autoattack vs pyautoattack's AutoAttack
  called directly (skipped without pyautoattack), each regime's training step vs a natural step.

Exits 1 if a training run or a comparison fails.
"""

import argparse
import contextlib
import copy
import importlib.util
import io
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import captum.attr as ca
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchattacks
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_robattr.attacks import autoattack, pgd
from lightning_robattr.attributions import integrated_gradients, saliency
from lightning_robattr.data import balanced_split, load_mnist5k
from lightning_robattr.models import Small
from lightning_robattr.regimes import (
    IGNormModule,
    IntModule,
    MadryModule,
    NaturalModule,
    RobustClassifier,
    SSRModule,
    TRADESModule,
)

PRECISIONS = ("16-mixed", "bf16-mixed")
EPS = 0.3
Row = tuple[str, str, str, str, str, str]


def regimes(inner_steps: int) -> dict[str, Callable[[nn.Module], RobustClassifier]]:
    """Each regime's module factory with small inner loops."""
    inner = {"eps": EPS, "steps": inner_steps, "step_size": 2.5 * EPS / inner_steps}
    return {
        "natural": lambda net: NaturalModule(net),
        "madry": lambda net: MadryModule(net, **inner),
        "trades": lambda net: TRADESModule(net, **inner),
        "ssr": lambda net: SSRModule(net, scale=10.0),
        "ig_norm": lambda net: IGNormModule(net, ig_steps=4, approx_factor=2, **inner),
        "int": lambda net: IntModule(net, **inner),
    }


class StepTimer(pl.Callback):
    """Puts the median seconds per training step (after the first) into ``callback_metrics["step_seconds"]``."""

    def __init__(self) -> None:
        self.start, self.seconds = 0.0, []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: object, batch_idx: int) -> None:
        _sync(pl_module.device)
        self.start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: object, batch: object, batch_idx: int
    ) -> None:
        _sync(pl_module.device)
        self.seconds.append(time.perf_counter() - self.start)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer.callback_metrics["step_seconds"] = torch.tensor(statistics.median(self.seconds[1:] or self.seconds))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_rows(x: Tensor, y: Tensor, device: torch.device, steps: int, inner_steps: int) -> list[Row]:
    """A few optimiser steps of every regime under each precision (and DDP on two GPUs)."""
    runs = [(precision, 1) for precision in PRECISIONS]
    if device.type == "cuda" and torch.cuda.device_count() >= 2:
        runs.append(("bf16-mixed", 2))
    rows: list[Row] = []
    for precision, devices in runs:
        for name, build in regimes(inner_steps).items():
            torch.manual_seed(0)
            case = f"{name}, {precision}" + (f", DDP x{devices}" if devices > 1 else "")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Lightning's fallback and loader hints: "ran as" reports the fallback
                trainer = pl.Trainer(
                    accelerator=device.type, devices=devices, strategy="ddp_spawn" if devices > 1 else "auto",
                    precision=precision, max_steps=steps, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, callbacks=[StepTimer()],
                )
                try:
                    trainer.fit(build(Small()), DataLoader(TensorDataset(x, y), batch_size=len(x) // steps // devices))
                except (FloatingPointError, RuntimeError) as error:  # a non-finite loss, an unsupported kernel: a failed row
                    message = " ".join(f"{type(error).__name__}: {error}".replace("|", "/").split())[:120]
                    rows.append(("train", case, f"{trainer.precision} ({device.type})", message, "finite loss", "FAIL"))
                    continue
            loss, seconds = trainer.callback_metrics["train/loss"], float(trainer.callback_metrics["step_seconds"])
            value, ok = f"loss {float(loss):.3f}, {seconds:.4f} s/step", bool(loss.isfinite())
            rows.append(("train", case, f"{trainer.precision} ({device.type})", value, "finite loss", _verdict(ok)))
    return rows


def compare_rows(net: nn.Module, x: Tensor, y: Tensor, device: torch.device, pgd_steps: int, ig_steps: int) -> list[Row]:
    """PGD without random start, IG and saliency on ``device`` vs the CPU, on the same inputs and weights."""
    remote = copy.deepcopy(net).to(device)
    xd, yd = x.to(device), y.to(device)
    step_size = 2.5 * EPS / pgd_steps
    on_cpu = pgd(net, x, y, eps=EPS, steps=pgd_steps, step_size=step_size, random_start=False)[0]
    on_device = pgd(remote, xd, yd, eps=EPS, steps=pgd_steps, step_size=step_size, random_start=False)[0].cpu()
    diff = (on_device - on_cpu).abs()
    off = (diff > 1e-4).float().mean().item()
    rows: list[Row] = [(
        "compare", f"PGD-{pgd_steps}, no random start, x_adv", f"{device.type} vs cpu",
        f"max {diff.max():.2e}, {off:.3%} of pixels > 1e-4", "<= 0.1% of pixels > 1e-4 (a sign tie may flip one step)",
        _verdict(off <= 1e-3),
    )]
    maps: dict[str, Callable[[nn.Module, Tensor, Tensor], Tensor]] = {
        f"integrated gradients, {ig_steps} steps": lambda model, images, labels: integrated_gradients(
            model, images, labels, steps=ig_steps
        ),
        "saliency": saliency,
    }
    for name, method in maps.items():
        reference = method(net, x, y)
        error = (method(remote, xd, yd).cpu() - reference).abs().max().item()
        tolerance = 1e-4 * reference.abs().max().item()
        rows.append((
            "compare", name, f"{device.type} vs cpu", f"max {error:.2e}", f"<= 1e-4 x max abs map = {tolerance:.2e}",
            _verdict(error <= tolerance),
        ))
    return rows


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """Seconds of one call: synchronised wall time on CUDA, this process's CPU time on the CPU."""
    clock = time.perf_counter if device.type == "cuda" else time.process_time

    def measure(fn: Callable[[], object]) -> float:
        _sync(device)
        start = clock()
        fn()
        _sync(device)
        return clock() - start

    return measure


def _ratios(
    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]], device: torch.device, repeats: int
) -> dict[str, tuple[float, float]]:
    """Median seconds of ours and the reference for each pair, timed round-robin after a warm-up round."""
    measure, times = _timer(device), {name: ([], []) for name in pairs}
    for round_ in range(repeats + 1):
        for name, calls in pairs.items():
            for spent, call in zip(times[name], calls):
                seconds = measure(call)
                if round_:
                    spent.append(seconds)
    return {name: (statistics.median(ours), statistics.median(theirs)) for name, (ours, theirs) in times.items()}


def time_rows(net: nn.Module, x: Tensor, y: Tensor, device: torch.device, args: argparse.Namespace) -> list[Row]:
    """Ours / reference, side by side: PGD, IG, AutoAttack, and each regime's step / a natural step."""
    net, x, y = copy.deepcopy(net).to(device), x.to(device), y.to(device)
    step_size = 2.5 * EPS / args.pgd_steps
    reference_pgd = torchattacks.PGD(net, eps=EPS, alpha=step_size, steps=args.pgd_steps, random_start=False)
    reference_ig = ca.IntegratedGradients(net)
    pairs = {
        f"PGD-{args.pgd_steps} / torchattacks.PGD": (
            lambda: pgd(net, x, y, eps=EPS, steps=args.pgd_steps, step_size=step_size, random_start=False),
            lambda: reference_pgd(x, y),
        ),
        f"IG {args.ig_steps} steps / captum IntegratedGradients": (
            lambda: integrated_gradients(net, x, y, steps=args.ig_steps),
            lambda: reference_ig.attribute(
                x, target=y, n_steps=args.ig_steps, method="riemann_right", internal_batch_size=512
            ),
        ),
    }
    notes: list[Row] = []
    if importlib.util.find_spec("pyautoattack") is None:
        notes.append(("time", "autoattack / pyautoattack AutoAttack", device.type, "-", "pyautoattack not installed", "skipped"))
    else:
        from pyautoattack import AutoAttack

        n = args.autoattack_images

        def reference_autoattack() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                reference = AutoAttack(net, eps=EPS, norm="Linf", version="standard", seed=0, device=device)
                reference.run_standard_evaluation(x[:n], y[:n], batch_size=n)

        def ours_autoattack() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                autoattack(net, x[:n], y[:n], eps=EPS, batch_size=n)

        pairs[f"autoattack standard, {n} images / pyautoattack AutoAttack"] = (ours_autoattack, reference_autoattack)
    natural = NaturalModule(copy.deepcopy(net))
    for name, build in regimes(args.inner_steps).items():
        if name != "natural":
            module = build(copy.deepcopy(net))
            pairs[f"{name} training step / natural step"] = (
                lambda module=module: module.regime_loss(x, y).loss.backward(),
                lambda: natural.regime_loss(x, y).loss.backward(),
            )
    clock = "wall" if device.type == "cuda" else "CPU"
    rows = [
        ("time", name, f"{device.type}, fp32", f"{ours / theirs:.2f}", f"{1e3 * ours:.1f} / {1e3 * theirs:.1f} ms ({clock})", "-")
        for name, (ours, theirs) in _ratios(pairs, device, args.repeats).items()
    ]
    return rows + notes


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def trained_small(x: Tensor, y: Tensor, steps: int) -> nn.Module:
    """A Small after ``steps`` Adam steps (batch 64) on the given digits, in eval mode, on the CPU."""
    torch.manual_seed(0)
    net = Small()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(steps):
        batch = slice(64 * step % len(x), 64 * step % len(x) + 64)
        optimizer.zero_grad()
        F.cross_entropy(net(x[batch]), y[batch]).backward()
        optimizer.step()
    return net.eval()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument("--quick", action="store_true", help="cut every size (a CPU run in under a minute)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    args = parser.parse_args(argv)
    names = ("batch", "train_steps", "inner_steps", "pgd_steps", "ig_steps", "repeats", "autoattack_images")
    vars(args).update(zip(names, (16, 3, 2, 10, 16, 2, 8) if args.quick else (64, 6, 5, 20, 32, 5, 64)))
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)  # the table is the output
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # compare fp32 with fp32
    device = torch.device(args.device)
    images, labels = load_mnist5k()  # sorted by class: the balanced split shuffles
    train, _, test = balanced_split(labels, (4000, 500, 500), seed=0)
    net = trained_small(images[train], labels[train], 30)
    x, y = images[test[: args.batch]], labels[test[: args.batch]]
    seen = args.batch * args.train_steps
    rows = train_rows(images[train[:seen]], labels[train[:seen]], device, args.train_steps, args.inner_steps)
    rows += compare_rows(net, x, y, device, args.pgd_steps, args.ig_steps)
    rows += time_rows(net, x, y, device, args)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    caption = f"GPU check on {name}: torch {torch.__version__}, Lightning {pl.__version__}, batch {args.batch}"
    lines = [
        f"{caption}{', --quick' if args.quick else ''}; Small after 30 Adam steps on MNIST5k",
        "",
        "| check | case | ran as | value | tolerance or reference | result |",
        "|---|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]
    table = "\n".join(lines) + "\n"
    print(table, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 1 if any(row[-1] == "FAIL" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Short runs of each regime on MNIST5k from its config, and the effect each regime is meant to have.

For each regime it runs ``python -m lightning_robattr fit --config configs/<regime>.yaml`` (with
the overrides below) and measures, on the 500 held-out test images of MNIST5k:
clean accuracy, PGD accuracy at eps = 0.1 (L-inf, 40 steps of 0.01, random start) and the mean
top eigenvalue of the cross-entropy's input Hessian (exact route). Results accumulate in a JSON
file so that regimes can be run one at a time; the table of everything run so far is printed.

    nice python scripts/regime_evidence.py --regimes natural madry --epochs 5 [--model.init_args.gamma=0.001 ...]
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from lightning_robattr.attacks import pgd
from lightning_robattr.cli import main as cli_main
from lightning_robattr.data import balanced_split, load_mnist5k
from lightning_robattr.losses import top_hessian_eigenvalue

ROOT = Path(__file__).resolve().parents[1]
REGIMES = ("natural", "madry", "trades", "int", "int_adv", "int_1class", "ssr", "ig_norm", "ig_sum_norm")
ADVERSARIAL = {"madry", "trades", "int", "int_adv", "int_1class", "ig_norm", "ig_sum_norm"}


def evaluate(net: torch.nn.Module, *, seed: int = 0) -> dict[str, float]:
    """Clean accuracy, PGD accuracy at eps 0.1 and the mean top Hessian eigenvalue on MNIST5k's test part."""
    x, y = load_mnist5k()
    test = balanced_split(y, (4000, 500, 500), seed=0)[2]
    x, y = x[test], y[test]
    net = net.eval()
    with torch.no_grad():
        clean = (net(x).argmax(1) == y).float().mean().item()
    generator = torch.Generator().manual_seed(seed)
    x_adv = torch.cat(
        [pgd(net, xb, yb, eps=0.1, steps=40, step_size=0.01, generator=generator)[0] for xb, yb in zip(x.split(100), y.split(100))]
    )
    with torch.no_grad():
        robust = (net(x_adv).argmax(1) == y).float().mean().item()
    eig = torch.cat([top_hessian_eigenvalue(net, xb) for xb in x.split(100)])
    return {"clean_acc": clean, "pgd_acc_eps0.1": robust, "eig_mean": eig.mean().item(), "eig_median": eig.median().item()}


def run(regime: str, *, epochs: int, inner_steps: int | None, extra: list[str]) -> dict[str, float]:
    args = ["fit", "--config", str(ROOT / "configs" / f"{regime}.yaml"), "--trainer.max_epochs", str(epochs)]
    args += ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    if inner_steps is not None and regime in ADVERSARIAL:
        step_size = round(2.5 * 0.3 / inner_steps, 4)
        args += ["--model.init_args.steps", str(inner_steps), "--model.init_args.step_size", str(step_size)]
    args += extra
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            start = time.perf_counter()
            cli = cli_main(args)
            seconds = time.perf_counter() - start
        finally:
            os.chdir(cwd)
    metrics = {k: float(v) for k, v in cli.trainer.callback_metrics.items() if k in ("val/acc", "train/acc")}
    timing = {"train_s_per_epoch": seconds / epochs, "epochs": epochs, "args": " ".join(args[1:])}
    return {**evaluate(cli.model.net), **metrics, **timing}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--inner-steps", type=int, default=None, help="override the inner steps (step size 2.5 * 0.3 / steps)")
    parser.add_argument("--out", type=Path, default=ROOT / "regime_evidence.json")
    args, extra = parser.parse_known_args(argv)  # unknown arguments go to the CLI, e.g. --model.init_args.scale=10
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for regime in args.regimes:
        results[regime] = run(regime, epochs=args.epochs, inner_steps=args.inner_steps, extra=extra)
        args.out.write_text(json.dumps(results, indent=1))
    print("| regime | epochs | s/epoch | val acc | test acc | PGD acc, eps 0.1 | mean top eigenvalue | median |")
    print("|---|---|---|---|---|---|---|---|")
    for regime, r in results.items():
        print(
            f"| {regime} | {r['epochs']} | {r['train_s_per_epoch']:.0f} | {r.get('val/acc', float('nan')):.3f} | "
            f"{r['clean_acc']:.3f} | "
            f"{r['pgd_acc_eps0.1']:.3f} | {r['eig_mean']:.3g} | {r['eig_median']:.3g} |"
        )


if __name__ == "__main__":
    main()

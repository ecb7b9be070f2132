"""``python -m lightning_robattr.reproduce {int,ssr,fragile,detection,adv2,all} [--quick] [--seeds N] [--out reports/]``."""

import argparse
import logging
import shlex
import sys
import warnings
from pathlib import Path

from .context import BUDGETS, DATASETS
from . import PAPERS, reproduce


def main(argv: list[str] | None = None) -> list[Path]:
    """Parse the command line and reproduce the chosen papers; return the reports' paths."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m lightning_robattr.reproduce",
        description="Train the models a paper needs (cached by config + seed), evaluate them with the paper's protocol, "
        "and write reports/<paper>/report.md, results.csv and PNG figures with the paper's numbers beside ours.",
    )
    parser.add_argument("paper", choices=[*PAPERS, "all"])
    parser.add_argument("--quick", action="store_true", help="minutes per paper, one seed (same as --budget quick)")
    parser.add_argument("--budget", choices=BUDGETS, default=None,
                        help="quick; full (default: one CPU session per paper); paper (the papers' epochs, steps and images: a GPU)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per model (default 3, 1 with --quick); cheap regimes get all")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="reports go to OUT/<paper>/ (default reports/)")
    parser.add_argument("--data", choices=DATASETS, default="mnist5k", help="mnist5k (bundled) or cifar10 (needs --root)")
    parser.add_argument("--root", default=None, help="the CIFAR-10 folder holding cifar-10-batches-py")
    parser.add_argument("--cache", type=Path, default=None, help="where trained models are kept (default OUT/.models)")
    args = parser.parse_args(argv)
    quiet_lightning()
    if args.quick and args.budget not in (None, "quick"):
        parser.error("--quick is --budget quick; give one of them")
    budget = "quick" if args.quick else args.budget or "full"
    if args.data == "cifar10" and not args.root:
        parser.error("--data cifar10 needs --root, the folder holding cifar-10-batches-py (it is not downloaded)")
    seeds = args.seeds if args.seeds is not None else (1 if budget in ("smoke", "quick") else 3)
    if seeds < 1:
        parser.error(f"--seeds must be >= 1, got {seeds}")
    papers = list(PAPERS) if args.paper == "all" else [args.paper]
    command = "python -m lightning_robattr.reproduce " + shlex.join(argv)
    return [
        reproduce(paper, out=args.out, budget=budget, seeds=seeds, data=args.data, root=args.root, cache=args.cache, command=command)
        for paper in papers
    ]


def quiet_lightning() -> None:
    """Keep Lightning's per-run banners and advice out of the progress lines."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in ("LightningCLI's args parameter", "The number of training batches", ".*does not have many workers",
                    ".*isinstance\\(treespec, LeafSpec\\)"):
        warnings.filterwarnings("ignore", message=message)


if __name__ == "__main__":
    for path in main():
        print(path)

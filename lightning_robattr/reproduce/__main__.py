"""``python -m lightning_robattr.reproduce {int,ssr,fragile,detection,adv2,all} [--quick] [--seeds N] [--out reproductions/]``."""

import argparse
import logging
import shlex
import sys
import warnings
from pathlib import Path

from .._quiet import quiet_dependencies
from . import PAPERS, reproduce
from ._context import BUDGETS, DATASETS, DEFAULT_OUT

# the committed full runs of a checkout (reproduce/ -> lightning_robattr/ -> the checkout); written only with an explicit --out
COMMITTED_REPORTS = Path(__file__).resolve().parents[2] / "reports"


def main(argv: list[str] | None = None) -> list[Path]:
    """Parse the command line and reproduce the chosen papers; return the reports' paths."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m lightning_robattr.reproduce",
        description="Train the models a paper needs (cached by config + seed), evaluate them with the paper's protocol, "
        "and write <out>/<paper>/report.md, results.csv and PNG figures with the paper's numbers beside ours.",
    )
    parser.add_argument("paper", choices=[*PAPERS, "all"])
    parser.add_argument("--quick", action="store_true", help="minutes per paper, one seed (same as --budget quick)")
    parser.add_argument("--budget", choices=BUDGETS, default=None,
                        help="quick; full (default: one CPU session per paper); paper (the papers' epochs, steps and images: a GPU)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per model (default 3, 1 with --quick); cheap regimes get all")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"reports go to OUT/<paper>/ (default {DEFAULT_OUT}/; the checkout's committed reports/ only when named here)")
    parser.add_argument("--data", choices=DATASETS, default="mnist5k", help="mnist5k (bundled), fashion_mnist (the OS package dataset-fashion-mnist, or --root) or cifar10 (needs --root); "
                        "reports of another dataset go to OUT/<paper>_<data>/")
    parser.add_argument("--root", default=None, help="the CIFAR-10 folder holding cifar-10-batches-py; the Fashion-MNIST folder of idx files")
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
    out = args.out or DEFAULT_OUT
    if args.out is None and _inside(out, COMMITTED_REPORTS):
        parser.error(f"the default --out {DEFAULT_OUT} lies inside the committed reports {COMMITTED_REPORTS}; run from another folder, "
                     "or give --out explicitly to write there")
    papers = list(PAPERS) if args.paper == "all" else [args.paper]
    command = "python -m lightning_robattr.reproduce " + shlex.join(argv)
    return [
        reproduce(paper, out=out, budget=budget, seeds=seeds, data=args.data, root=args.root, cache=args.cache, command=command)
        for paper in papers
    ]


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both resolved)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def quiet_lightning() -> None:
    """Keep Lightning's per-run banners and advice (the smoke budget's few batches) out of the progress lines."""
    quiet_dependencies()
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in ("The number of training batches", ".*does not have many workers"):
        warnings.filterwarnings("ignore", message=message)


if __name__ == "__main__":
    for path in main():
        print(path)

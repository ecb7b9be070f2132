"""The reference-strength attribution attack's cost, as a multiple of the default callback attack, and its strength.

Usage: ``python scripts/bench.py reference [--batch 64] [--methods saliency,ig,cam] [--eps 0.1] [--threads 1]``.

On MNIST5k's test part (the class-balanced 500 digits the test suite uses) and the committed natural ``Small`` of the test suite (``tests/nets``; a fresh
``Small`` outside a checkout), every method is attacked side by side by the default callback attack
(``callbacks/default.yaml``: ``topk``, 10 steps, ``beta=1``) and by ``attribution_reference`` at both
budgets (judging all five metrics); the table gives the wall time of each as a multiple of the default attack's and the mean top-k
intersection each reaches (k = 10 % of the map, label kept; lower is a stronger attack).
"""

import argparse
import time
from pathlib import Path

import torch

from lightning_robattr.attacks import attribution_attack, attribution_reference
from lightning_robattr.attacks._explanation.maps import evaluated_maps
from lightning_robattr.data import load_mnist5k
from lightning_robattr.data._mnist5k import balanced_split
from lightning_robattr.metrics.functional import topk_intersection
from lightning_robattr.models import Small

NET = Path(__file__).resolve().parents[1] / "tests" / "nets" / "natural_small_seed0.pt"
OPTIONS = {"ig": {"steps": 16}}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.py reference")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--methods", default="saliency,ig,cam")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    net = Small().eval()
    if NET.is_file():
        net.load_state_dict(torch.load(NET, weights_only=True))
    x, y = load_mnist5k()
    test = balanced_split(y, (4000, 500, 500), seed=0)[2]  # the test part the committed nets never saw
    x, y = x[test].float(), y[test]
    with torch.no_grad():
        x = x[net(x).argmax(dim=1) == y][: args.batch]
    label = net(x).argmax(dim=1)
    print("| method | attack | seconds | x default | top-k intersection |\n|---|---|---|---|---|")
    for method in args.methods.split(","):
        options = OPTIONS.get(method)
        start = time.perf_counter()
        x_adv, record = attribution_attack(net, x, eps=args.eps, method=method, steps=10, method_options=options)
        base = time.perf_counter() - start
        clean = evaluated_maps(net, x, label, method, options)
        k = max(1, round(0.1 * clean[0].numel()))
        score = topk_intersection(clean, evaluated_maps(net, x_adv, label, method, options), k=k).where(record.success, torch.tensor(1.0))
        print(f"| {method} | default (topk, 10 steps, beta 1) | {base:.1f} | 1.0 | {score.nanmean():.3f} |")
        for budget in ("fast", "standard"):
            start = time.perf_counter()
            reference = attribution_reference(net, x, method=method, eps=args.eps, budget=budget, method_options=options)
            seconds = time.perf_counter() - start
            print(f"| {method} | reference {budget} | {seconds:.1f} | {seconds / base:.1f} | {reference.scores['topk_intersection'].nanmean():.3f} |")

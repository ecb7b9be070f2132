"""Top-k attack on saliency (50 steps, batch 64) as a multiple of one forward + double-backward pass.

Usage: ``python scripts/bench.py explanation_attacks [--steps 50] [--batch 64] [--models small,resnet20]
[--repeats 3] [--threads 1]``.

The unit is what one attack step must at least cost: a forward pass of the softplus surrogate,
the saliency map with ``create_graph=True`` and the backward pass of the top-k dissimilarity
through it (1 F + 1 B2). The attack adds, per step, the judgement of the iterate on the
original ReLU model (1 F for the label + 1 F + 1 B for the map), so its ideal ratio is about
``steps * (1 + judge / unit)``. Unit and judge are medians over ``--repeats`` runs after a
warm-up; the attack is timed once, and the unit is the mean of its medians before and after it.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from lightning_robattr.attacks._explanation.attribution_attack import attribution_attack
from lightning_robattr.attacks._explanation.maps import normalized_map
from lightning_robattr.attacks._explanation.objectives import topk
from lightning_robattr.attributions import saliency
from lightning_robattr.models import ResNet20, Small, softplus_surrogate

MODELS: dict[str, Callable[[], tuple[nn.Module, tuple[int, ...]]]] = {
    "small": lambda: (Small(), (1, 28, 28)),
    "resnet20": lambda: (ResNet20(), (3, 32, 32)),
}


def median_seconds(fn: Callable[[], object], repeats: int, *, warm_up: bool = True) -> float:
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.py explanation_attacks")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--models", default="small", help="comma-separated: small, resnet20 (about 5 min on 2 CPU cores)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (1 is steadiest on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, fp32; top-k attack on saliency, "
          f"{args.steps} steps, batch {args.batch}, k = 10% of pixels, softplus beta = 1\n")
    print("| model | input | unit: F + B2 (ms) | judge: 2F + B (ms) | attack (s) | attack / unit | steps * (1 + judge / unit) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        net, shape = MODELS[name]()
        net.eval()
        x = torch.rand(args.batch, *shape)
        label = net(x).argmax(1)
        objective = topk(normalized_map(saliency(net, x, label), "sum1"), k=0.1)

        def unit() -> None:
            xg = x.clone().requires_grad_(True)
            with softplus_surrogate(net, 1.0):
                value = objective(normalized_map(saliency(net, xg, label, create_graph=True), "sum1"), None)
            torch.autograd.grad(value.sum(), xg)

        def judge() -> None:
            with torch.no_grad():
                net(x)
            objective(normalized_map(saliency(net, x, label), "sum1"), None)

        def attack() -> None:
            attribution_attack(net, x, method="saliency", objective="topk", eps=8 / 255, steps=args.steps)

        before, t_judge = median_seconds(unit, args.repeats), median_seconds(judge, args.repeats)
        t_attack = median_seconds(attack, 1, warm_up=False)  # 50 steps: long enough to time once
        t_unit = (before + median_seconds(unit, args.repeats, warm_up=False)) / 2  # the unit around the attack
        ideal = args.steps * (1 + t_judge / t_unit)
        print(f"| {name} | {args.batch}x{'x'.join(map(str, shape))} | {1e3 * t_unit:.1f} | {1e3 * t_judge:.1f} | "
              f"{t_attack:.2f} | {t_attack / t_unit:.1f} | {ideal:.1f} |")

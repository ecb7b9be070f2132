"""PGD-40 cost, ours vs torchattacks side by side: ``python scripts/bench.py attacks [--device cuda] [--threads 1]``.

Two settings: Small on MNIST5k and ResNet-20 on 32x32 inputs, batch 64, L-inf eps 0.3 / 8/255,
step 0.01 / 2/255, random start. Calls alternate between ours, torchattacks' ``PGD`` and the
lower bound "40 forward + backward passes" (input gradient of the summed cross-entropy), and the
median of ``--repeats`` timings is reported as ratios. CPU runs default to one thread and are timed
in process CPU time: on a shared machine, wall time and multi-threaded small kernels measure
scheduler contention more than the code.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchattacks

from lightning_robattr.attacks import pgd
from lightning_robattr.data import load_mnist5k
from lightning_robattr.models import ResNet20, Small

STEPS = 40


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """Wall time on GPU (synchronised); on CPU the process's CPU time, which a busy shared machine
    inflates far less than wall time (the ratios stay comparable as all three run the same kernels)."""
    clock = time.perf_counter if device.type == "cuda" else time.process_time

    def measure(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return clock() - start

    return measure


def _settings(batch: int, device: torch.device) -> list[tuple[str, torch.nn.Module, torch.Tensor, torch.Tensor, float, float]]:
    torch.manual_seed(0)
    x, y = load_mnist5k()
    cifar_like = torch.rand(batch, 3, 32, 32)
    return [
        ("Small, MNIST5k 28x28", Small().eval(), x[:batch], y[:batch], 0.3, 0.01),
        ("ResNet-20, 32x32", ResNet20().eval(), cifar_like, torch.randint(0, 10, (batch,)), 8 / 255, 2 / 255),
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.py attacks")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    measure = _timer(device)

    clock = "wall time" if device.type == "cuda" else "CPU time"
    print(f"PGD-{STEPS} (L-inf, random start), batch {args.batch}, {device} ({torch.get_num_threads()} CPU threads), "
          f"{clock}, median of {args.repeats}\n")
    print(f"| setting | ours (ms) | torchattacks (ms) | {STEPS} F+B (ms) | ours / torchattacks | ours / {STEPS} F+B |")
    print("|---|---|---|---|---|---|")
    for name, net, x, y, eps, alpha in _settings(args.batch, device):
        net, x, y = net.to(device), x.to(device), y.to(device)
        reference = torchattacks.PGD(net, eps=eps, alpha=alpha, steps=STEPS, random_start=True)

        def ours() -> None:
            pgd(net, x, y, eps=eps, steps=STEPS, step_size=alpha)

        def theirs() -> None:
            reference(x, y)

        def passes(count: int = STEPS) -> None:
            for _ in range(count):
                xi = x.detach().requires_grad_(True)
                torch.autograd.grad(F.cross_entropy(net(xi), y, reduction="sum"), xi)

        passes(3)  # warm-up
        times: dict[str, list[float]] = {"ours": [], "theirs": [], "passes": []}
        for _ in range(args.repeats):
            for key, fn in (("ours", ours), ("theirs", theirs), ("passes", passes)):
                times[key].append(measure(fn))
        t = {key: statistics.median(values) for key, values in times.items()}
        cells = (t["ours"] * 1e3, t["theirs"] * 1e3, t["passes"] * 1e3, t["ours"] / t["theirs"], t["ours"] / t["passes"])
        print(f"| {name} | " + " | ".join(f"{c:.2f}" if i >= 3 else f"{c:.1f}" for i, c in enumerate(cells)) + " |")

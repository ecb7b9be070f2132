"""Cost of one training step of each regime, as a multiple of a natural step, and the SSR routes' accuracy.

``python scripts/bench.py regimes [--repeats 5] [--inner-steps 10] [--threads 1]``

Small on MNIST5k images, batch 64: every timed step is loss + backward, measured round-robin
(one step of every regime per round) so that load on the machine hits all regimes alike; the
table gives the median over rounds. The SSR routes are also timed on a 100-class Small to show
how their cost grows with the number of classes. The eigenvalue error of the matrix-free
routes is measured against the exact route on a naturally trained Small (256 test images).
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from lightning_robattr.data import balanced_split, load_mnist5k
from lightning_robattr.losses import (
    ig_norm_loss,
    int_loss,
    madry_loss,
    natural_loss,
    ssr_loss,
    top_hessian_eigenvalue,
    trades_loss,
)
from lightning_robattr.losses._hessian import DEFAULT_ITERATIONS
from lightning_robattr.models import Small


def step_costs(x: torch.Tensor, y: torch.Tensor, *, k: int, repeats: int) -> tuple[float, list[tuple[str, float, str]]]:
    """Seconds of a natural step, and each regime's step as a multiple of it, with its target."""
    nets = {10: Small(num_classes=10), 100: Small(num_classes=100)}
    y100 = y * 10
    inner = {"eps": 0.3, "steps": k, "step_size": 2.5 * 0.3 / k}
    steps: dict[str, tuple[Callable, str]] = {
        "natural": (lambda: natural_loss(nets[10], x, y), "1"),
        f"Madry-{k}": (lambda: madry_loss(nets[10], x, y, **inner), f"<= 1.1 (k + 1) = {1.1 * (k + 1):.1f}"),
        f"TRADES-{k}": (lambda: trades_loss(nets[10], x, y, **inner), f"<= 1.1 (k + 2) = {1.1 * (k + 2):.1f}"),
        f"Int-{k}": (lambda: int_loss(nets[10], x, y, **inner), "(k + 2) F + (k + 1) B"),
        f"Int-Adv-{k}": (lambda: int_loss(nets[10], x, y, adversarial_loss=True, **inner), "(k + 2) F + (k + 1) B"),
        f"IG-Norm-{k} (m 10, af 5)": (
            lambda: ig_norm_loss(nets[10], x, y, ig_steps=10, approx_factor=5, **inner),
            "k (m/af) (F + B2) + m (F + B2)",
        ),
        f"IG-Sum-Norm-{k} (m 10, af 5)": (
            lambda: ig_norm_loss(nets[10], x, y, ig_steps=10, approx_factor=5, sum_variant=True, **inner),
            "k (m/af) (F + B2) + m (F + B2)",
        ),
    }
    for c in (10, 100):
        labels = y if c == 10 else y100
        steps[f"SSR exact, c={c}"] = (
            lambda c=c, labels=labels: ssr_loss(nets[c], x, labels, route="exact"),
            f"<= c + 3 = {c + 3}",
        )
        for route in ("power", "lanczos"):
            t = DEFAULT_ITERATIONS[route]
            steps[f"SSR {route} T={t}, c={c}"] = (
                lambda c=c, labels=labels, route=route: ssr_loss(nets[c], x, labels, route=route),
                "independent of c",
            )
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(repeats + 1):
        for name, (objective, _) in steps.items():
            for net in nets.values():
                net.zero_grad(set_to_none=True)
            start = time.perf_counter()
            objective().loss.backward()
            if round_:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    natural = statistics.median(times["natural"])
    return natural, [(name, statistics.median(times[name]) / natural, target) for name, (_, target) in steps.items()]


def eigenvalue_errors(x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor) -> list[tuple[str, int, float, float, float]]:
    """Relative error of the matrix-free routes against the exact route on a naturally trained Small."""
    torch.manual_seed(0)
    net = Small()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(2):
        for xb, yb in zip(x.split(64), y.split(64)):
            optimizer.zero_grad()
            F.cross_entropy(net(xb), yb).backward()
            optimizer.step()
    net.eval()
    exact = top_hessian_eigenvalue(net, xt)
    rows = []
    for route in ("power", "lanczos"):
        for iterations in sorted({3, 5, 10, 20, 40, DEFAULT_ITERATIONS[route]}):
            generator = torch.Generator().manual_seed(0)
            estimate = top_hessian_eigenvalue(net, xt, route=route, iterations=iterations, generator=generator)
            error = (exact - estimate).abs() / exact.clamp_min(1e-12)
            label = f"{route}{' (default)' if iterations == DEFAULT_ITERATIONS[route] else ''}"
            rows.append((label, iterations, error.median().item(), torch.quantile(error, 0.9).item(), error.max().item()))
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--inner-steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, labels = load_mnist5k()
    train, _, test = balanced_split(labels, (4000, 500, 500), seed=0)
    x, y = images[train[:64]], labels[train[:64]]
    natural, rows = step_costs(x, y, k=args.inner_steps, repeats=args.repeats)
    print(f"One training step (loss + backward), Small, MNIST5k batch 64, {args.threads} thread(s), median of {args.repeats}")
    print(f"rounds; a natural step took {1000 * natural:.1f} ms\n")
    print("| regime | step / natural step | target or model |")
    print("|---|---|---|")
    for name, ratio, target in rows:
        print(f"| {name} | {ratio:.2f} | {target} |")
    print("\nTop-eigenvalue error of the matrix-free routes vs the exact route (Small trained 2 epochs, 256 test images)\n")
    print("| route | iterations | median relative error | 90th percentile | max |")
    print("|---|---|---|---|---|")
    for label, iterations, median, p90, worst in eigenvalue_errors(images[train], labels[train], images[test[:256]]):
        print(f"| {label} | {iterations} | {median:.2e} | {p90:.2e} | {worst:.2e} |")

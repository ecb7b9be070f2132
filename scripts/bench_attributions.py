"""Attribution cost, ours vs captum side by side: ``python scripts/bench.py attributions [--device cuda]``.

Small on MNIST5k, batch 64. Each method runs with the same memory cap (rows per forward pass:
``internal_batch_size`` for IG, ``nt_samples_batch_size x batch`` for captum's NoiseTunnel) and the
same explicit targets. Calls alternate between the two libraries and the best (minimum) of
``--repeats`` timings is reported, as a ratio (ours / captum) and as a multiple of one forward +
backward pass (input gradient of the batch). On the CPU the timings are this process's CPU time with one thread
by default: on a shared machine wall time and multi-threaded small kernels measure the other load
more than the code.
"""

import argparse
import time
from collections.abc import Callable

import captum.attr as ca
import torch

from lightning_robattr.attributions import grad_cam, integrated_gradients, smooth_grad
from lightning_robattr.data import load_mnist5k
from lightning_robattr.models import Small


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """Seconds one call takes: wall time on CUDA, this process's CPU time on the CPU (robust to other load)."""

    def measure(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize(device)
            return time.perf_counter() - start
        start = time.process_time()
        fn()
        return time.process_time() - start

    return measure


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.py attributions")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50, help="IG steps and SmoothGrad samples")
    parser.add_argument("--caps", type=int, nargs="+", default=[512], help="rows per forward pass (memory caps)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    torch.manual_seed(0)
    net = Small().to(device).eval()
    x = load_mnist5k()[0][: args.batch].to(device)
    with torch.no_grad():
        target = net(x).argmax(dim=1)
    measure = _timer(device)

    def forward_backward() -> None:
        xi = x.detach().requires_grad_(True)
        torch.autograd.grad(net(xi).gather(1, target[:, None]).sum(), xi)

    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = []
    for cap in args.caps:
        per_chunk = max(1, cap // args.batch)
        cases.append(
            (
                f"IG-{args.steps}, {cap} rows/pass",
                lambda cap=cap: integrated_gradients(net, x, target, steps=args.steps, internal_batch_size=cap),
                lambda cap=cap: ca.IntegratedGradients(net).attribute(
                    x, target=target, n_steps=args.steps, internal_batch_size=cap
                ),
            )
        )
        cases.append(
            (
                f"SmoothGrad-{args.steps}, {per_chunk * args.batch} rows/pass",
                lambda cap=cap: smooth_grad(net, x, target, samples=args.steps, sigma=0.1, internal_batch_size=cap),
                lambda per_chunk=per_chunk: ca.NoiseTunnel(ca.Saliency(net)).attribute(
                    x,
                    nt_type="smoothgrad",
                    nt_samples=args.steps,
                    nt_samples_batch_size=per_chunk,
                    stdevs=0.1,
                    target=target,
                    abs=False,
                ),
            )
        )
    cases.append(
        (
            "GradCAM (features)",
            lambda: grad_cam(net, x, target),
            lambda: ca.LayerGradCam(net, net.conv3).attribute(x, target, relu_attributions=True),
        )
    )

    for fn in [forward_backward] + [f for _, ours, theirs in cases for f in (ours, theirs)]:
        fn()  # warm-up
    unit = min(measure(forward_backward) for _ in range(max(args.repeats, 20)))
    print(f"Small, MNIST5k, batch {args.batch}, {device} ({torch.get_num_threads()} CPU threads), best of {args.repeats}")
    print(f"one forward+backward (input gradient): {unit * 1e3:.2f} ms\n")
    print("| method | ours (ms) | captum (ms) | ours / captum | ours in F+B | captum in F+B |")
    print("|---|---|---|---|---|---|")
    for name, ours, theirs in cases:
        times_ours, times_theirs = [], []
        for _ in range(args.repeats):
            times_ours.append(measure(ours))
            times_theirs.append(measure(theirs))
        t_ours, t_theirs = min(times_ours), min(times_theirs)
        cells = (t_ours * 1e3, t_theirs * 1e3, t_ours / t_theirs, t_ours / unit, t_theirs / unit)
        print(f"| {name} | " + " | ".join(f"{c:.2f}" if i == 2 else f"{c:.1f}" for i, c in enumerate(cells)) + " |")

"""ADV2's joint step per interpreter as a multiple of a targeted-PGD step (1 F + 1 B), timed side by side.

Usage: ``python scripts/bench.py adv2 [--batch 32] [--steps 40] [--repeats 3] [--threads 1]``.

For each interpreter, iterations are timed on an untrained Small (timing does not depend on the
weights) all on the cross-entropy (targeted PGD, ``schedule.prediction_only()``) and all in the
joint stage (cross-entropy + the interpreter's map with its graph). Each is run with ``--steps`` and
with twice as many, and the difference per step is reported, so the fixed costs (the benign and the
final maps, MASK's first full run of 100 iterations) drop out: a MASK joint step is then
``mask_inner_steps + 1`` mask steps. RTS uses an untrained ``RTSNet``.
"""

import argparse

import torch
from bench_explanation_attacks import median_seconds

from lightning_robattr.attacks import ADV2Schedule, adv2
from lightning_robattr.models import RTSNet, Small


def joint(steps: int) -> ADV2Schedule:
    """``steps`` joint iterations at weight 5 (no cross-entropy-only stage)."""
    return ADV2Schedule(0, ((5.0, 5.0, steps),))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.py adv2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net, x = Small().eval(), torch.rand(args.batch, 1, 28, 28)
    y, target = torch.zeros(args.batch, dtype=torch.long), torch.ones(args.batch, dtype=torch.long)
    options = {"mask": {"iterations": 100}, "rts": {"saliency_net": RTSNet(1, 10).eval()}}
    def per_step(name: str, schedule) -> float:
        """Seconds per iteration of ``schedule(n)`` on interpreter ``name``: the difference of ``2 n`` and ``n`` iterations."""
        def run(steps: int) -> None:
            adv2(net, x, y, target=target, method=name, method_options=options, eps=0.3, step_size=0.01, schedule=schedule(steps))

        short, long = (median_seconds(lambda n=n: run(n), args.repeats) for n in (args.steps, 2 * args.steps))
        return (long - short) / args.steps

    unit = per_step("cam", lambda n: ADV2Schedule(n, ()))  # targeted PGD: the same step whatever the interpreter
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, fp32; Small, batch {args.batch}, "
          f"{args.steps} and {2 * args.steps} steps; targeted-PGD step {1000 * unit:.1f} ms\n")
    print("| interpreter | ADV2 joint step (ms) | joint step / PGD step |")
    print("|---|---|---|")
    for name in ("grad", "cam", "mask", "rts"):
        step = per_step(name, joint)
        print(f"| {name} | {1000 * step:.1f} | {step / unit:.1f} |")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

"""ADV2's joint step per interpreter as a multiple of a targeted-PGD step (1 F + 1 B), timed side by side.

Usage: ``python scripts/bench.py adv2 [--batch 32] [--steps 20] [--repeats 3] [--threads 1]``.

For each interpreter the same ``--steps`` iterations are timed twice on an untrained Small (timing
does not depend on the weights): all on the cross-entropy (targeted PGD, ``schedule.prediction_only()``)
and all in the joint stage (cross-entropy + the interpreter's map with its graph). MASK's first
joint call runs its full optimisation (``iterations`` steps, here 100) and every later one
``mask_inner_steps + 1`` steps; RTS uses an untrained ``RTSNet``.
"""

import argparse
import statistics
import time

import torch

from lightning_robattr.attacks import ADV2Schedule, adv2
from lightning_robattr.models import RTSNet, Small


def median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.py adv2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net, x = Small().eval(), torch.rand(args.batch, 1, 28, 28)
    y, target = torch.zeros(args.batch, dtype=torch.long), torch.ones(args.batch, dtype=torch.long)
    options = {"mask": {"iterations": 100}, "rts": {"saliency_net": RTSNet(1, 10).eval()}}
    joint, plain = ADV2Schedule(0, ((5.0, 5.0, args.steps),)), ADV2Schedule(args.steps, ())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, fp32; Small, batch {args.batch}, {args.steps} steps\n")
    print("| interpreter | targeted PGD step (ms) | ADV2 joint step (ms) | joint / PGD |")
    print("|---|---|---|---|")
    for name in ("grad", "cam", "mask", "rts"):
        def run(schedule: ADV2Schedule) -> None:
            adv2(net, x, y, target=target, interpreter=name, interpreter_options=options, eps=0.3, step_size=0.01, schedule=schedule)

        t_plain, t_joint = median_seconds(lambda: run(plain), args.repeats), median_seconds(lambda: run(joint), args.repeats)
        print(f"| {name} | {1000 * t_plain / args.steps:.1f} | {1000 * t_joint / args.steps:.1f} | {t_joint / t_plain:.1f} |")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

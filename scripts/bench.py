"""Benchmarks, side by side in one run: ``python scripts/bench.py {attributions,attacks,regimes,explanation_attacks,callbacks,adv2,reference,full_size}``.

Each subcommand lives in ``scripts/bench_<name>.py`` as ``main(argv) -> None`` and prints a
Markdown table of ratios measured in the same process (ours vs the reference library, or
a regime step vs a natural step); ``full_size`` measures what the full-size presets cost.
"""

import importlib
import sys
from pathlib import Path

BENCHMARKS = ("attributions", "attacks", "regimes", "explanation_attacks", "callbacks", "adv2", "reference", "full_size")


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in BENCHMARKS:
        raise SystemExit(f"usage: python scripts/bench.py {{{','.join(BENCHMARKS)}}} [options]")
    sys.path.insert(0, str(Path(__file__).parent))
    importlib.import_module(f"bench_{argv[0]}").main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])

"""A paper's claim checked on our numbers: the paper's value, ours (mean +- std over seeds), a computed verdict."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

VERDICTS = ("holds", "partly", "does not hold")


@dataclass(frozen=True)
class Check:
    """One comparison inside a claim: what is compared and whether it came out as the paper says."""

    description: str
    passed: bool


@dataclass(frozen=True)
class Claim:
    """A row of the report.

    Attributes:
        source: where the claim is in the paper (``"Table 3"``).
        statement: the claim, in a sentence.
        paper: the paper's number(s), as text.
        ours: our number(s) (mean +- std over seeds), as text.
        checks: the comparisons the verdict is computed from.
        note: what may explain a difference (budget, data), and which run would decide it.
    """

    source: str
    statement: str
    paper: str
    ours: str
    checks: tuple[Check, ...]
    note: str = ""

    @property
    def verdict(self) -> str:
        """``holds`` when every check passes, ``does not hold`` when none does, ``partly`` otherwise."""
        passed = sum(check.passed for check in self.checks)
        return VERDICTS[0] if passed == len(self.checks) else VERDICTS[2] if passed == 0 else VERDICTS[1]

    @property
    def compared(self) -> str:
        """The sentence saying what was compared: every check with its outcome."""
        return "; ".join(f"{check.description} ({'yes' if check.passed else 'no'})" for check in self.checks)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of the finite ``values``; NaN if none."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    mean = sum(finite) / len(finite)
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)) if len(finite) > 1 else 0.0
    return mean, std


def fmt(values: Sequence[float], digits: int = 3) -> str:
    """``"0.812 ± 0.004"`` over several seeds, ``"0.812"`` for one, ``"n/a"`` when nothing was measured."""
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "n/a"
    count = sum(not math.isnan(v) for v in values)
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if count > 1 else "")

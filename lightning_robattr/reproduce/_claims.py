"""A paper's claim checked on our numbers: the paper's value, ours (mean +- std over seeds), a computed verdict."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

VERDICTS = ("holds", "partly", "does not hold", "insufficient data")


@dataclass(frozen=True)
class Check:
    """One comparison inside a claim: what is compared and whether it came out as the paper says.

    Attributes:
        description: the comparison, in words.
        passed: whether it came out as the paper says; ``None`` when it could not be evaluated.
        of: the numbers compared; a NaN among them (a number that was not measured) leaves the check undecided.
    """

    description: str
    passed: bool | None
    of: Sequence[float] = ()

    @property
    def outcome(self) -> bool | None:
        """``passed``, or ``None`` when the check could not be evaluated (``passed`` is ``None`` or ``of`` holds a NaN)."""
        return None if self.passed is None or any(math.isnan(value) for value in self.of) else self.passed


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
        """``holds`` when every check passes, ``does not hold`` when none does, ``partly`` otherwise;
        ``insufficient data`` when a check could not be evaluated and its outcome could change the verdict."""
        outcomes = [check.outcome for check in self.checks]
        if True in outcomes and False in outcomes:
            return VERDICTS[1]
        if None in outcomes or not outcomes:
            return VERDICTS[3]
        return VERDICTS[0] if all(outcomes) else VERDICTS[2]

    @property
    def compared(self) -> str:
        """The sentence saying what was compared: every check with its outcome (yes, no, or n/a when not evaluated)."""
        words = {True: "yes", False: "no", None: "n/a"}
        return "; ".join(f"{check.description} ({words[check.outcome]})" for check in self.checks)


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

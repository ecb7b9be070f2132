"""Attack budgets: one unit everywhere, pixel units of [0, 1] images, written as a number or a fraction string."""

import math
import re
from collections.abc import Sequence

from ._threat_models import threat_model

Budget = float | str
"""A budget as a config writes it: ``0.3``, or a fraction string ``"8/255"`` (= 0.0314) for the 0-255 budgets of the papers."""

_FRACTION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*/\s*(\d+(?:\.\d*)?)\s*$")


def parse_eps(eps: Budget, *, name: str = "eps") -> float:
    """``eps`` in pixel units: a number as it is, ``"a/b"`` as ``a / b``; raises for anything else, a negative or a non-finite value.

    Example:
        >>> parse_eps("8/255") == 8 / 255, parse_eps(0.3)
        (True, 0.3)
    """
    if isinstance(eps, str):
        match = _FRACTION.match(eps)
        if match is None or float(match[2]) == 0:
            raise ValueError(f"{name} {eps!r} is not a budget; write a number in pixel units (0.3) or a fraction such as '8/255'")
        value = float(match[1]) / float(match[2])
    elif isinstance(eps, (int, float)) and not isinstance(eps, bool):
        value = float(eps)
    else:
        raise TypeError(f"{name} must be a number in pixel units or a fraction string such as '8/255', got {eps!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0 in pixel units of [0, 1] images ('8/255' = 0.0314), got {eps!r}")
    return value


def eps_label(eps: Budget) -> str:
    """The tag label of a budget, spelt as it was written: ``0.3 -> "eps=0.3"``, ``"8/255" -> "eps=8_255"`` (no ``/`` in a tag level)."""
    if isinstance(eps, str):
        parse_eps(eps)
        return "eps=" + "_".join(part.strip() for part in eps.split("/"))
    return f"eps={float(eps):g}"


def budgets(eps: Sequence[Budget], *, norm: str | None = None, increasing: bool = False) -> list[tuple[str, float]]:
    """``(tag label, pixel-unit eps)`` for each budget of a callback's grid; raises for an empty, repeated or
    (with ``increasing``) unsorted grid, and for a radius that ``norm``'s ball does not take (L-inf beyond 1)."""
    if isinstance(eps, (str, int, float)) or not len(eps):
        raise ValueError(f"eps must be a non-empty list of budgets, got {eps!r}")
    values = [parse_eps(e) for e in eps]
    for value in values if norm is not None else ():
        threat_model(norm, value)
    if increasing and any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"eps must be strictly increasing (its AUC runs over log2 eps), got {list(eps)}")
    if len(set(values)) != len(values):
        raise ValueError(f"eps lists a budget twice: {list(eps)}")
    return [(eps_label(e), v) for e, v in zip(eps, values)]

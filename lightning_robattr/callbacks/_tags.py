"""How evaluation callbacks spell budgets in their hierarchical tags."""

from collections.abc import Sequence


def eps_label(value: float) -> str:
    """``eps=<value>`` with the shortest exact-looking spelling: ``0.3 -> "eps=0.3"``, ``8.0 -> "eps=8"``."""
    return f"eps={value:g}"


def budgets(eps: Sequence[float], eps_scale: float, *, increasing: bool = False) -> list[tuple[str, float]]:
    """``(tag label, pixel-unit eps)`` for budgets given in units of ``1 / eps_scale`` of the [0, 1] range.

    ``eps_scale=255`` lets a config write the 0-255 budgets of the papers (``[2, 4, 8, 16]``) and
    shows them that way in the tags (``eps=8``); the attacks get ``value / eps_scale``.
    """
    if eps_scale <= 0:
        raise ValueError(f"eps_scale must be positive, got {eps_scale}")
    values = [float(e) for e in eps]
    if not values or any(e < 0 for e in values):
        raise ValueError(f"eps must be a non-empty list of budgets >= 0, got {list(eps)}")
    if increasing and any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"eps must be strictly increasing (its AUC runs over log2 eps), got {values}")
    if eps_scale > 1 and any(0 < e < 1 for e in values):
        raise ValueError(
            f"eps {values} are read in units of 1/{eps_scale:g} (eps_scale={eps_scale:g}), so a value below 1 is less "
            "than one grey level; write [2, 4, 8] for 2/255, 4/255, 8/255, or set eps_scale: 1 for pixel units"
        )
    if len(set(values)) != len(values):
        raise ValueError(f"eps lists a budget twice: {values}")
    return [(eps_label(e), e / eps_scale) for e in values]

"""Area under a metric-versus-log2(eps) curve (SSR paper, Fig. 2a)."""

from collections.abc import Sequence

import torch
from torch import Tensor


def eps_auc(eps: Sequence[float], values: Tensor) -> Tensor:
    """Trapezoid area of ``values`` over ``log2(eps)``; the last axis of ``values`` runs over ``eps``.

    The SSR paper's budgets ``{2, 4, 8, 16}/255`` are one log2-unit apart, so a metric in
    [0, 1] has AUC at most 3: ``0.5 m_1 + m_2 + m_3 + 0.5 m_4``. The eps unit does not matter.

    Args:
        eps: increasing positive budgets, e.g. ``[2/255, 4/255, 8/255, 16/255]``.
        values: ``(..., len(eps))`` metric means per budget.

    Example:
        >>> eps_auc([2 / 255, 4 / 255, 8 / 255, 16 / 255], torch.ones(4)).item()
        3.0
    """
    budgets = torch.as_tensor(list(eps), dtype=torch.float64)
    if budgets.dim() != 1 or budgets.numel() != values.shape[-1] or (budgets <= 0).any():
        raise ValueError(f"eps must be {values.shape[-1]} positive budgets (the last axis of values), got {list(eps)}")
    x = torch.log2(budgets).to(values.device)
    return torch.trapezoid(values.double(), x=x, dim=-1).to(values.dtype)

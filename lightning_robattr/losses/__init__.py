"""Regime objectives as plain functions, usable without Lightning.

Each ``*_loss(model, x, y, *, ...)`` returns a ``RegimeObjective(loss, logits, parts)``;
``ssr_penalty`` and ``top_hessian_eigenvalue`` return tensors to add to any loss.
"""

from ._eps_ramp import ramp_steps, ramped_eps
from ._hessian import top_hessian_eigenvalue
from ._ig_norm import ig_norm_loss
from ._int_loss import int_loss, label_free_discrepancy
from ._madry import madry_loss
from ._natural import natural_loss
from ._objective import RegimeObjective
from ._rts import rts_loss
from ._ssr import ssr_loss, ssr_penalty
from ._trades import trades_loss

__all__ = [
    "RegimeObjective",
    "ig_norm_loss",
    "int_loss",
    "label_free_discrepancy",
    "madry_loss",
    "natural_loss",
    "ramp_steps",
    "ramped_eps",
    "rts_loss",
    "ssr_loss",
    "ssr_penalty",
    "top_hessian_eigenvalue",
    "trades_loss",
]

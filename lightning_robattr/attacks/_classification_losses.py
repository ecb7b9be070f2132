"""Per-example attack objectives on logits (to maximise) and the success criterion.

With ``targeted=False`` ``y`` holds the true labels and the attack pushes away from them;
with ``targeted=True`` ``y`` holds the target labels and the attack pulls towards them.
"""

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor


def _other_max(logits: Tensor, y: Tensor) -> Tensor:
    """Largest logit among the classes other than ``y``: ``(B,)``."""
    return logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(dim=1)


def cross_entropy(logits: Tensor, y: Tensor, *, targeted: bool = False) -> Tensor:
    """``CE(logits, y)`` untargeted, ``-CE(logits, y)`` targeted: ``(B,)``."""
    ce = F.cross_entropy(logits, y, reduction="none")
    return -ce if targeted else ce


def cw_margin(logits: Tensor, y: Tensor, *, targeted: bool = False) -> Tensor:
    """Carlini-Wagner margin, positive exactly when the attack succeeds: ``(B,)``.

    Untargeted ``max_{j != y} z_j - z_y``; targeted ``z_y - max_{j != y} z_j``.
    """
    margin = _other_max(logits, y) - logits.gather(1, y[:, None]).squeeze(1)
    return -margin if targeted else margin


def dlr(logits: Tensor, y: Tensor, *, target: Tensor | None = None) -> Tensor:
    """Difference-of-logits ratio of Croce & Hein (Reliable evaluation of adversarial robustness ...): ``(B,)``.

    ``y`` holds the true labels. Untargeted: ``-(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3)``; with
    ``target`` t: ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``, where ``z_pi1 >= z_pi2 >= ...``
    are the sorted logits. Invariant to shifting and scaling the logits. Needs 3 (targeted 4) classes.
    """
    top = logits.topk(3 if target is None else 4, dim=1).values
    if target is None:
        return cw_margin(logits, y) / (top[:, 0] - top[:, 2] + 1e-12)
    gap = logits.gather(1, y[:, None]).squeeze(1) - logits.gather(1, target[:, None]).squeeze(1)
    return -gap / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def succeeded(logits: Tensor, y: Tensor, *, targeted: bool = False) -> Tensor:
    """Boolean ``(B,)``: prediction equals the target (targeted) or differs from the label (untargeted)."""
    hit = logits.argmax(dim=1) == y
    return hit if targeted else ~hit


LOSSES: dict[str, Callable[..., Tensor]] = {"ce": cross_entropy, "cw": cw_margin}


def classification_loss(name: str) -> Callable[..., Tensor]:
    """The per-example loss named ``name`` (``"ce"`` or ``"cw"``)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name]


"""Interpretation discrepancy between clean and perturbed per-class maps (Int paper, eqs. 3, 4, 8) and its normalised score."""

import torch
from torch import Tensor

from ..._validation import check_same_shape

CLASS_SETS = ("one", "two", "all", "weighted")
WEIGHTINGS = ("int_repo", "paper")


def _cell_norms(diff: Tensor, p: float, squared: bool) -> Tensor:
    """``||diff||_p`` over the last two (cell) dims; ``squared`` gives ``||diff||_p^p`` (sum of |.|^p)."""
    cells = diff.flatten(-2).abs()
    return cells.pow(p).sum(dim=-1) if squared else cells.norm(p=p, dim=-1)


def normalized_discrepancy(clean_maps: Tensor, adv_maps: Tensor, *, p: float = 1, cell_mean: bool = False) -> Tensor:
    """NDS ``(B,)``: ``mean_i || (L(x,i) - L(x',i)) / (max L(x,i) - min L(x,i)) ||_p`` (Int paper).

    Each map (the last two dims) is divided by the value range of its *clean* map; the norms are
    averaged over the leading map axis (classes of a CAM, or the ``K`` channels of Repr). Select
    the classes first (e.g. ``maps[:, [t, t2]]`` per image) for the 1- or 2-class score. Maps
    whose clean range is 0 (e.g. dead channels) are left out of the mean.

    Args:
        clean_maps, adv_maps: ``(B, N, h, w)`` or ``(B, h, w)``.
        p: 1 or 2 (a true norm, with the root).
        cell_mean: divide each norm by ``h * w`` (the Int code's compensation for its CAM scale).

    Example:
        >>> clean = torch.tensor([[[0.0, 2.0]]]); adv = torch.tensor([[[1.0, 2.0]]])
        >>> normalized_discrepancy(clean, adv).tolist()
        [0.5]
    """
    check_same_shape(clean_maps, adv_maps, ("clean_maps", "adv_maps"))
    if clean_maps.dim() == 3:
        clean_maps, adv_maps = clean_maps[:, None], adv_maps[:, None]
    flat = clean_maps.flatten(-2)
    value_range = (flat.amax(dim=-1) - flat.amin(dim=-1))[..., None, None]
    valid = value_range > 0
    scaled = (clean_maps - adv_maps) / torch.where(valid, value_range, torch.ones_like(value_range))
    norms = _cell_norms(scaled, p, squared=False)
    if cell_mean:
        norms = norms / flat.shape[-1]
    valid = valid[..., 0, 0]
    return (norms * valid).sum(dim=1) / valid.sum(dim=1)


def interpretation_discrepancy(
    clean_maps: Tensor,
    adv_maps: Tensor,
    *,
    classes: str = "one",
    target: Tensor | None = None,
    adv_target: Tensor | None = None,
    adv_logits: Tensor | None = None,
    p: float = 1,
    squared: bool = False,
    weighting: str = "int_repo",
) -> Tensor:
    """Per-example discrepancy ``(B,)`` between per-class maps ``L(x, .)`` and ``L(x', .)``.

    With ``d_i = ||L(x,i) - L(x',i)||_p`` over the ``h x w`` cells:

    ========  ====================================================================================  ==================
    classes   value                                                                                 needs
    ========  ====================================================================================  ==================
    one       ``d_t`` (Int-1-class)                                                                 target
    two       ``(d_t + d_t') / 2`` (eq. 4)                                                          target, adv_target
    all       ``mean_i d_i`` (eq. 3 over all classes)                                               -
    weighted  ``int_repo``: ``d_t + sum_{i!=t} w_i d_i``, ``w_i = p_i / sum_{j!=t} p_j``;           target, adv_logits
              ``paper`` (eq. 8): ``d_t / 2 + sum_{i!=t} p_i d_i / 2``; ``p = softmax(adv_logits)``
    ========  ====================================================================================  ==================

    The weights are not detached, so gradients flow through them (as in the Int code).

    Args:
        clean_maps, adv_maps: ``(B, n_c, h, w)``, e.g. ``class_activation_maps(model, x)[1]``.
        classes: ``"one"``, ``"two"``, ``"all"`` or ``"weighted"`` (target-label-free form).
        target: true labels ``t`` ``(B,)``.
        adv_target: adversarial target labels ``t'`` ``(B,)``.
        adv_logits: logits ``f(x')`` ``(B, n_c)`` for the weighted form.
        p: 1 or 2.
        squared: use ``||.||_p^p`` (sum of squares for p = 2, as the Int attack losses do).
        weighting: ``"int_repo"`` (default, renormalised, no 1/2 factors) or ``"paper"`` (eq. 8).

    Example:
        >>> clean, adv = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
        >>> interpretation_discrepancy(clean, adv, classes="all").tolist()
        [4.0]
    """
    if classes not in CLASS_SETS:
        raise ValueError(f"classes must be one of {CLASS_SETS}, got {classes!r}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    needs = {"one": ("target",), "two": ("target", "adv_target"), "all": (), "weighted": ("target", "adv_logits")}[classes]
    given = {"target": target, "adv_target": adv_target, "adv_logits": adv_logits}
    missing = [name for name in needs if given[name] is None]
    if missing:
        raise ValueError(f"classes={classes!r} needs {', '.join(missing)}")
    check_same_shape(clean_maps, adv_maps, ("clean_maps", "adv_maps"))
    per_class = _cell_norms(clean_maps - adv_maps, p, squared)
    if classes == "all":
        return per_class.mean(dim=1)
    true = per_class.gather(1, target[:, None]).squeeze(1)
    if classes == "one":
        return true
    if classes == "two":
        return (true + per_class.gather(1, adv_target[:, None]).squeeze(1)) / 2
    probs = adv_logits.softmax(dim=1)
    others = torch.ones_like(probs).scatter_(1, target[:, None], 0.0)
    if weighting == "paper":
        return true / 2 + (probs * others * per_class).sum(dim=1) / 2
    weights = probs * others
    return true + (weights * per_class).sum(dim=1) / weights.sum(dim=1)

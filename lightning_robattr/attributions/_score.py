"""The attributed score ``S_c(x)`` (a logit or a softmax probability) and its input gradient.

Targets reaching these helpers went through ``_validation.check_batch``: a LongTensor ``(B,)`` or ``None``.
"""

import torch
from torch import Tensor, nn

from .._validation import check_choice, require_autograd

SCORES = ("logit", "prob")


def check_gradient_options(score: str) -> None:
    """Raise for an unknown ``score`` or under ``torch.inference_mode`` (gradient attributions need autograd)."""
    check_choice(score, SCORES, name="score")
    require_autograd("attributions")


def resolve_target(logits: Tensor, target: Tensor | None) -> Tensor:
    """``target``, or the class with the largest logit where it is ``None``."""
    return logits.detach().argmax(dim=1) if target is None else target


def predicted_or_given(model: nn.Module, x: Tensor, target: Tensor | None) -> Tensor:
    """``target``, or the class ``model`` predicts at ``x`` (one forward pass without a graph)."""
    if target is not None:
        return target
    with torch.no_grad():
        return resolve_target(model(x), None)


def class_score(logits: Tensor, target: Tensor, score: str) -> Tensor:
    """Per-example score ``(N,)``: the target logit, or its softmax probability (``score="prob"``)."""
    values = logits if score == "logit" else logits.softmax(dim=1)
    return values.gather(1, target[:, None]).squeeze(1)


def grad_input(x: Tensor, create_graph: bool) -> Tensor:
    """The tensor to differentiate with respect to: ``x`` itself when it is in a graph we must keep, else a detached leaf."""
    if create_graph and x.requires_grad:
        return x
    return x.detach().requires_grad_(True)


def score_gradient(
    model: nn.Module, x: Tensor, target: Tensor | None, *, score: str, create_graph: bool
) -> Tensor:
    """``dS_c/dx`` of shape ``x.shape`` in one forward and one backward (inputs only, never ``param.grad``).

    With ``target=None`` the class predicted at ``x`` is attributed (taken from the same forward pass).
    """
    xi = grad_input(x, create_graph)
    logits = model(xi)
    target = resolve_target(logits, target)
    (grad,) = torch.autograd.grad(class_score(logits, target, score).sum(), xi, create_graph=create_graph)
    return grad

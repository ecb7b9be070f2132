"""The attributed score ``S_c(x)`` (a logit, a softmax probability or the cross-entropy) and its input gradient,
and :func:`attribution_method`, the model context every attribution method runs in.

Targets reaching these helpers went through ``_validation.check_batch``: a LongTensor ``(B,)`` or ``None``.
"""

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_choice, require_autograd
from ..models._evaluation_mode import eval_layers, finite_outputs

SCORES = ("logit", "prob", "ce")
Method = TypeVar("Method", bound=Callable[..., Tensor])


def attribution_method(method: Method) -> Method:
    """Run ``method(model, x, ...)`` with ``model`` in eval mode and its outputs checked (finite logits, a tensor).

    BatchNorm then uses its running statistics (maps of one image do not depend on the rest of
    the batch, and no statistic moves) and dropout is off; every submodule's own train/eval
    flag is restored afterwards. The check reads the device once per call (nested calls on the
    same model, as inside an attack, share the outermost check). ``method.__wrapped__`` runs the
    model as it is, for training losses that differentiate a map through the train-mode net (IG-Norm).
    """

    @wraps(method)
    def in_eval_mode(model: nn.Module, *args, **kwargs) -> Tensor:
        with eval_layers(model), finite_outputs(model):
            return method(model, *args, **kwargs)

    return in_eval_mode  # type: ignore[return-value]


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
    """Per-example score ``(N,)``: the target logit, its softmax probability (``score="prob"``) or the
    cross-entropy loss ``-log softmax(f)_c`` (``score="ce"``, the loss IG-Norm explains)."""
    if score == "ce":
        return F.cross_entropy(logits, target, reduction="none")
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


def weighted_gradient_sum(
    model: nn.Module,
    points: Callable[[int, int], Tensor],
    weights: Tensor,
    target: Tensor,
    *,
    internal_batch_size: int,
    score: str,
    create_graph: bool,
) -> Tensor:
    """``sum_j weights[j] * dS_target(p_j)/dp_j`` for ``m = len(weights)`` points per image.

    Args:
        points: ``points(start, stop)`` returns the points ``j in [start, stop)`` of every image
            as ``(stop - start, B, C, H, W)``.
        weights: ``(m,)`` quadrature or averaging weights.
        target: class indices ``(B,)``.
        internal_batch_size: at most this many rows (points x images) go through the net in one
            forward pass; each chunk holds ``max(1, internal_batch_size // B)`` points of every image.

    Returns:
        ``(B, C, H, W)``.
    """
    m = weights.shape[0]
    total: Tensor | None = None
    per_chunk = max(1, internal_batch_size // target.shape[0])
    for start in range(0, m, per_chunk):
        stop = min(start + per_chunk, m)
        chunk = points(start, stop)
        n, shape = chunk.shape[0], chunk.shape[1:]
        rows = grad_input(chunk.reshape(n * shape[0], *shape[1:]), create_graph)
        logits = model(rows)
        scores = class_score(logits, target.repeat(n), score)
        (grad,) = torch.autograd.grad(scores.sum(), rows, create_graph=create_graph)
        part = torch.tensordot(weights[start:stop], grad.reshape(n, *shape), dims=1)
        total = part if total is None else total + part
    assert total is not None
    return total

"""Weighted sums of score gradients over many points per image, in memory-bounded batched chunks."""

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._score import class_score, grad_input


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

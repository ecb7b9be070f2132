"""The attributed score ``S_c(x)`` (a logit or a softmax probability) and its input gradient."""

import torch
from torch import Tensor, nn

SCORES = ("logit", "prob")


def require_autograd() -> None:
    """Raise a clear error under ``torch.inference_mode``, whose tensors can never enter autograd."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "attributions need autograd, but this code runs under torch.inference_mode; "
            "create the Trainer with inference_mode=False (the lightning_robattr CLI does this by default)"
        )


def check_score(score: str) -> None:
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")


def as_target(target: Tensor | int, batch: int, device: torch.device) -> Tensor:
    """Class indices as a LongTensor ``(batch,)`` on ``device``; a single index is used for every example."""
    target = torch.as_tensor(target, device=device).long().reshape(-1)
    if target.numel() == 1 and batch != 1:
        target = target.expand(batch)
    if target.shape[0] != batch:
        raise ValueError(f"target has {target.shape[0]} entries for a batch of {batch}")
    return target


def resolve_target(logits: Tensor, target: Tensor | int | None) -> Tensor:
    """``target`` as a LongTensor ``(B,)``; ``None`` gives the class with the largest logit."""
    if target is None:
        return logits.detach().argmax(dim=1)
    return as_target(target, logits.shape[0], logits.device)


def predicted_or_given(model: nn.Module, x: Tensor, target: Tensor | int | None) -> Tensor:
    """``target``, or the class ``model`` predicts at ``x`` (one forward pass without a graph)."""
    if target is not None:
        return as_target(target, x.shape[0], x.device)
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

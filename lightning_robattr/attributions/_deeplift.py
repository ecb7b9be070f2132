"""DeepLIFT with the Rescale rule, by two forward passes and one backward pass."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .._validation import check_batch, require_autograd
from ..models._surrogate import LeakySoftplus
from ._score import attribution_method, grad_input, resolve_target

ELEMENTWISE_NONLINEARITIES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Softplus,
    nn.Sigmoid,
    nn.Tanh,
    LeakySoftplus,
)
SMALL_DELTA = 1e-10


@contextmanager
def _forward_hooks(model: nn.Module, hook) -> Iterator[None]:
    handles = []
    for module in model.modules():
        if isinstance(module, ELEMENTWISE_NONLINEARITIES):
            if getattr(module, "inplace", False):
                raise ValueError(f"deeplift needs out-of-place activations, but {module} is in-place")
            handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@attribution_method
def deeplift(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    baseline: Tensor | float | None = None,
    create_graph: bool = False,
) -> Tensor:
    """DeepLIFT-Rescale attribution ``(x - x0) * m`` of the target logit; it sums to ``f_c(x) - f_c(x0)``.

    Every elementwise nonlinearity module ``y = phi(z)`` passes the multiplier
    ``(phi(z) - phi(z0)) / (z - z0)`` (its gradient where ``|z - z0| < 1e-10``) instead of
    ``phi'(z)``; affine layers propagate it through their weights. Implementation: one forward
    pass of ``[x; x0]`` records ``z, z0`` at every nonlinearity, a second forward pass of ``x``
    swaps each local derivative for the multiplier, and one backward pass to the input gives ``m``.
    With ``create_graph`` the multipliers stay in the graph, so the map is differentiable w.r.t.
    ``x`` and the parameters.

    Differences from ``captum.attr.DeepLift``: the same values on nets whose nonlinearities are
    all modules of the listed types (e.g. ``Small``). Max-pooling layers pass multipliers to the
    arg-max at ``x`` (the gradient rule), where captum uses its own max-pool rule; functional
    activations (``F.relu``) are invisible to both and use the gradient rule.

    Args:
        model: classifier on pixel-space input whose activations are (not in-place) modules (run in eval mode).
        x: images ``(B, C, H, W)``.
        target: class indices ``(B,)``; ``None`` attributes the class predicted at ``x``.
        baseline: reference ``x0`` (tensor broadcastable to ``x`` or a constant); ``None`` is zeros.
        create_graph: keep the graph (map differentiable w.r.t. ``x`` and the parameters).

    Returns:
        ``(B, C, H, W)``; detached unless ``create_graph``.

    Cost: about 2.5 forward (batch 2B, then B) + 1 backward.

    Example:
        >>> from lightning_robattr.models import Small
        >>> deeplift(Small().eval(), torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 1, 28, 28])
    """
    require_autograd("attributions")
    x, target = check_batch(model, x, {"target": target})
    if not create_graph:
        x = x.detach()
    x0 = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    if not create_graph:
        x0 = x0.detach()
    batch = x.shape[0]
    multipliers: list[tuple[Tensor, Tensor]] = []

    def record(_module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        delta_in = inputs[0][:batch] - inputs[0][batch:]
        small = delta_in.abs() < SMALL_DELTA
        delta_out = output[:batch] - output[batch:]
        multipliers.append((small, delta_out / torch.where(small, torch.ones_like(delta_in), delta_in)))

    with torch.set_grad_enabled(create_graph), _forward_hooks(model, record):
        target = resolve_target(model(torch.cat([x, x0]))[:batch], target)

    calls = iter(multipliers)

    def rescale(_module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        small, m = next(calls)
        linear = m * inputs[0]
        return torch.where(small, output, linear + (output - linear).detach())

    with torch.enable_grad(), _forward_hooks(model, rescale):
        u = grad_input(x, create_graph=False)
        logits = model(u)
        (grad,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), u, create_graph=create_graph)
    return (x - x0) * grad

"""The top eigenvalue of the input Hessian of the cross-entropy, ``H = J^T (diag(p) - p p^T) J``.

For piecewise-linear nets (ReLU, max-pool, eval-mode BatchNorm) the logits have zero second
input derivatives almost everywhere, so the input Hessian of ``CE(f(x), y)`` is exactly
``J^T A J`` with ``J = d logits / dx`` (``n_c x d``) and ``A = diag(p) - p p^T``; it does not
depend on the label (Singla et al.'s closed form, Proposition 3 of "Smoothed Geometry for
Robust Attribution"). Three routes compute its largest eigenvalue per example:

* ``exact``: builds ``J`` with ``n_c`` backward passes and takes the top eigenvalue of the
  ``n_c x n_c`` matrix ``L^T (J J^T) L``, ``A = L L^T`` with ``L = diag(sqrt p) (I - sqrt p sqrt p^T)``,
  which has the non-zero spectrum of ``H``. Cost grows with the number of classes.
* ``power``: power iteration on ``H v = J^T (A (J v))`` with one Jacobian-vector and one
  vector-Jacobian product per iteration, so the cost does not depend on the number of classes.
* ``lanczos``: the same products in a Lanczos (Krylov) iteration with full reorthogonalisation;
  ``rank H <= n_c - 1`` and its top eigenvalue converges in far fewer products than power iteration.

Every route ends with a unit class-space vector ``v`` (the top eigenvector of
``L^T J J^T L``; the matrix-free routes map their input-space vector ``x_v`` to ``L^T J x_v``,
normalised) and returns ``||J^T L v||^2``. Holding ``v`` fixed, the parameter gradient of that
value is the eigenvalue's gradient at convergence (Hellmann-Feynman), so training needs one
vector-Jacobian product with a graph (one double backward), not ``n_c`` of them. All products
reuse the graph of one forward pass: a Jacobian-vector product is the derivative of a
vector-Jacobian product with respect to its (dummy) cotangent, so train-mode BatchNorm
statistics are not touched again.
"""

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import require_autograd

HessianRoute = Literal["exact", "power", "lanczos"]
ChannelReduce = Literal["none", "mean"]

DEFAULT_ITERATIONS: dict[str, int] = {"power": 10, "lanczos": 6}


def top_hessian_eigenvalue(
    model: nn.Module,
    x: Tensor,
    *,
    route: HessianRoute = "exact",
    iterations: int | None = None,
    channel_reduce: ChannelReduce = "none",
    create_graph: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Largest eigenvalue of the cross-entropy's input Hessian ``J^T A J`` at each image.

    Args:
        model: classifier on pixel-space images. The Jacobian is taken of the summed batch, so
            it is per example only when examples do not interact (no train-mode BatchNorm).
        x: images ``(B, C, H, W)`` in [0, 1].
        route: ``"exact"``, ``"power"`` or ``"lanczos"`` (see the module docstring).
        iterations: Hessian-vector products of the matrix-free routes (default 10 for
            ``power``, 6 for ``lanczos``); ignored by ``exact``.
        channel_reduce: ``"mean"`` averages the input gradients over colour channels before
            forming the Hessian (``d = H W``), as the code of "Smoothed Geometry for Robust
            Attribution" does; ``"none"`` is the true Hessian (``d = C H W``).
        create_graph: keep a graph so the eigenvalues can be differentiated w.r.t. the parameters.
        generator: random source of the matrix-free routes' start vectors.

    Returns:
        ``(B,)`` eigenvalues in units of ``1 / pixel^2`` (images in [0, 1]).

    Example:
        >>> from lightning_robattr.models import Small
        >>> net, x = Small(), torch.rand(2, 1, 28, 28)
        >>> exact = top_hessian_eigenvalue(net, x)
        >>> lanczos = top_hessian_eigenvalue(net, x, route="lanczos", iterations=9)
        >>> bool(torch.allclose(exact, lanczos, rtol=1e-3))
        True
    """
    require_autograd("the input Hessian", tensors=(x,))
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        logits = model(x)
        return top_eigenvalue_on_graph(
            logits,
            x,
            route=route,
            iterations=iterations,
            channel_reduce=channel_reduce,
            create_graph=create_graph,
            generator=generator,
        )


def top_eigenvalue_on_graph(
    logits: Tensor,
    x: Tensor,
    *,
    route: HessianRoute = "exact",
    iterations: int | None = None,
    channel_reduce: ChannelReduce = "none",
    create_graph: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """:func:`top_hessian_eigenvalue` from an existing forward pass ``logits (B, n_c) = f(x)``, ``x`` requiring grad.

    Lets a loss reuse the forward pass of its cross-entropy term; the graph of ``logits`` is retained.
    """
    if channel_reduce not in ("none", "mean"):
        raise ValueError(f"unknown channel_reduce {channel_reduce!r}; choose 'none' or 'mean'")
    if route == "exact":
        return _exact_route(logits, x, channel_reduce=channel_reduce, create_graph=create_graph)
    if route not in DEFAULT_ITERATIONS:
        raise ValueError(f"unknown Hessian route {route!r}; choose 'exact', 'power' or 'lanczos'")
    iterations = DEFAULT_ITERATIONS[route] if iterations is None else iterations
    if iterations < 1:
        raise ValueError(f"the {route} route needs iterations >= 1, got {iterations}")
    product = _HessianProduct(logits, x, channel_reduce=channel_reduce)
    start = _unit(torch.randn(product.vector_shape, generator=generator, dtype=product.dtype).to(x.device))
    solve = _power_iteration if route == "power" else _lanczos
    vector = product.to_class_space(solve(product, start, iterations))
    return _class_space_value(logits, x, vector, channel_reduce=channel_reduce, create_graph=create_graph)


def _working_dtype(x: Tensor) -> torch.dtype:
    """fp32, or fp64 for fp64 inputs (autocast may make the logits bf16; the eigen-solve stays accurate)."""
    return torch.promote_types(x.dtype, torch.float32)


def _sqrt_softmax(logits: Tensor, dtype: torch.dtype) -> Tensor:
    """``q = sqrt(softmax(logits))`` computed as ``exp(log_softmax / 2)``, smooth even where ``p`` underflows."""
    return (0.5 * F.log_softmax(logits.to(dtype), dim=1)).exp()


def _class_space_value(logits: Tensor, x: Tensor, v: Tensor, *, channel_reduce: ChannelReduce, create_graph: bool) -> Tensor:
    """``||J^T L v||^2`` for unit class-space vectors ``v (B, n_c)``, with ``A = L L^T``, ``L = diag(q) (I - q q^T)``.

    This is ``v^T (L^T J J^T L) v``: the top eigenvalue when ``v`` is the top eigenvector. With
    ``v`` held fixed its parameter gradient is the eigenvalue's (Hellmann-Feynman), so training
    needs one vector-Jacobian product with a graph instead of ``n_c``.
    """
    q = _sqrt_softmax(logits if create_graph else logits.detach(), v.dtype)
    u = q * (v - q * (q * v).sum(dim=1, keepdim=True))  # L v
    (g,) = torch.autograd.grad(logits, x, u.to(logits.dtype), retain_graph=True, create_graph=create_graph)
    if channel_reduce == "mean":
        g = g.mean(dim=1)
    value = g.to(v.dtype).flatten(1).square().sum(dim=1)
    return value if create_graph else value.detach()


def _exact_route(logits: Tensor, x: Tensor, *, channel_reduce: ChannelReduce, create_graph: bool) -> Tensor:
    dtype = _working_dtype(x)
    rows = [torch.autograd.grad(logits[:, k].sum(), x, retain_graph=True)[0] for k in range(logits.shape[1])]
    jacobian = torch.stack(rows, dim=1).to(dtype)  # (B, n_c, C, H, W), no graph
    if channel_reduce == "mean":
        jacobian = jacobian.mean(dim=2)
    jacobian = jacobian.flatten(2)
    gram = jacobian @ jacobian.transpose(1, 2)  # J J^T, (B, n_c, n_c)
    q = _sqrt_softmax(logits.detach(), dtype)
    projector = torch.eye(q.shape[1], device=q.device, dtype=dtype) - q.unsqueeze(2) * q.unsqueeze(1)
    inner = projector @ (q.unsqueeze(2) * gram * q.unsqueeze(1)) @ projector  # L^T G L
    eigenvalues, eigenvectors = _eigh(0.5 * (inner + inner.transpose(1, 2)))
    if not create_graph:
        return eigenvalues[:, -1]
    return _class_space_value(logits, x, eigenvectors[:, :, -1], channel_reduce=channel_reduce, create_graph=True)


def _eigh(matrices: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.linalg.eigh`` of symmetric ``(B, n, n)``, after a clear error if they are not finite (a diverged training)."""
    if not torch.isfinite(matrices).all():
        raise FloatingPointError(
            "ssr regime: the input Hessian became non-finite (nan or inf logits or input gradients) before its "
            "eigen-solve, so the training diverged; lower the learning rate or the penalty weight (beta), "
            "or train in fp32 instead of mixed precision"
        )
    return torch.linalg.eigh(matrices)


class _HessianProduct:
    """``v -> J^T A J v`` on the graph of one forward pass, without materialising ``J``."""

    def __init__(self, logits: Tensor, x: Tensor, *, channel_reduce: ChannelReduce) -> None:
        self.logits, self.x, self.reduce = logits, x, channel_reduce == "mean"
        self.dtype = _working_dtype(x)
        self.p = F.softmax(logits.detach().to(self.dtype), dim=1)
        self.cotangent = torch.zeros_like(logits, requires_grad=True)
        # J^T s with a graph that is linear in the dummy cotangent s; its derivative w.r.t. s along v is J v.
        (self.transposed,) = torch.autograd.grad(logits, x, self.cotangent, create_graph=True)
        self.vector_shape = (x.shape[0], 1, *x.shape[2:]) if self.reduce else tuple(x.shape)

    def jvp(self, v: Tensor) -> Tensor:
        """``J v``, ``(B, n_c)``."""
        if self.reduce:
            v = v.expand(-1, self.x.shape[1], *([-1] * (v.dim() - 2))) / self.x.shape[1]
        (out,) = torch.autograd.grad(self.transposed, self.cotangent, v.to(self.transposed.dtype), retain_graph=True)
        return out.to(self.dtype)

    def vjp(self, u: Tensor) -> Tensor:
        """``J^T u``, shaped like the vectors."""
        (out,) = torch.autograd.grad(self.logits, self.x, u.to(self.logits.dtype), retain_graph=True)
        return (out.mean(dim=1, keepdim=True) if self.reduce else out).to(self.dtype)

    def __call__(self, v: Tensor) -> Tensor:
        w = self.jvp(v)
        return self.vjp(self.p * w - self.p * (self.p * w).sum(dim=1, keepdim=True))  # J^T A J v

    def to_class_space(self, v: Tensor) -> Tensor:
        """The unit class-space vector ``L^T J v / ||L^T J v||`` of an input-space vector ``v``."""
        w = self.jvp(v.detach())
        q = self.p.sqrt()
        return _unit(q * w - q * (self.p * w).sum(dim=1, keepdim=True))


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).flatten(1).sum(dim=1)


def _unit(v: Tensor) -> Tensor:
    norm = v.flatten(1).norm(dim=1).clamp_min(1e-30)
    return v / norm.view(-1, *([1] * (v.dim() - 1)))


def _expand(s: Tensor, like: Tensor) -> Tensor:
    return s.view(-1, *([1] * (like.dim() - 1)))


def _power_iteration(product: Callable[[Tensor], Tensor], v: Tensor, iterations: int) -> Tensor:
    for _ in range(iterations):
        v = _unit(product(v))
    return v


def _lanczos(product: Callable[[Tensor], Tensor], v: Tensor, iterations: int) -> Tensor:
    """Top Ritz vector after ``iterations`` Lanczos steps (full reorthogonalisation, batched per example)."""
    basis: list[Tensor] = []
    alphas: list[Tensor] = []
    betas: list[Tensor] = []
    previous, beta = torch.zeros_like(v), v.new_zeros(v.shape[0])
    scale = v.new_zeros(v.shape[0])
    for _ in range(iterations):
        w = product(v)
        alpha = _dot(w, v)
        w = w - _expand(alpha, w) * v - _expand(beta, w) * previous
        for q in (*basis, v):
            w = w - _expand(_dot(w, q), w) * q
        basis.append(v)
        beta = w.flatten(1).norm(dim=1)
        scale = torch.maximum(scale, alpha.abs())
        # An invariant subspace (beta ~ 0, e.g. rank H < iterations) ends the Krylov space: continue with zeros.
        alive = beta > 1e-6 * scale
        beta = torch.where(alive, beta, torch.zeros_like(beta))
        alphas.append(alpha)
        betas.append(beta)
        previous, v = v, torch.where(_expand(alive, w), w / _expand(beta.clamp_min(1e-30), w), torch.zeros_like(w))
    tridiagonal = torch.diag_embed(torch.stack(alphas, dim=1))
    if iterations > 1:
        off = torch.stack(betas[:-1], dim=1)
        tridiagonal = tridiagonal + torch.diag_embed(off, offset=1) + torch.diag_embed(off, offset=-1)
    _, ritz = _eigh(tridiagonal.double())
    weights = ritz[:, :, -1].to(v.dtype)  # (B, iterations)
    return _unit(torch.einsum("bk,kb...->b...", weights, torch.stack(basis)))

"""The JPEG attacks of Kang et al. (Testing Robustness Against Unforeseen Adversaries).

The perturbation ``v`` lives on the quantised DCT coefficients of a JPEG encoding (luma at full
resolution, chroma at 4:2:0, 8x8 blocks, standard tables, no rounding): the attacked image is
``decode(encode(x) + v / 2)``, so one unit of ``v`` is half a quantisation step. ``v`` is bounded
in L-inf, L2 or L1; ``eps`` is in these coefficient units, not in pixels.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import evaluation_mode
from .._validation import check_batch, check_nonnegative, check_positive_int
from ._jpeg_codec import jpeg_decode, jpeg_encode
from ._result import attack_result
from .ascent import keep_better, projected_gradient_ascent
from .classification_losses import classification_loss
from .threat_models import threat_model

DEFAULT_EPS = {"linf": 0.25, "l2": 8.0, "l1": 256.0}
COEFFICIENT_BOUND = 2.0


def jpeg(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    norm: str = "linf",
    eps: float | None = None,
    steps: int = 200,
    step_size: float | None = None,
    random_start: bool = True,
    targeted: bool = False,
    loss: str = "ce",
    generator: torch.Generator | None = None,
    return_success: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """JPEG L-inf / L2 / L1 attack on the quantised DCT coefficients.

    L-inf: signed steps, ``v`` clamped to ``[-eps, eps]``. L2: normalised-gradient steps,
    projection onto the ``eps`` ball, then ``v`` clamped to ``[-2, 2]``. L1: Frank-Wolfe,
    ``v <- v + (s - v) / (t + 1)`` with ``s`` the vertex of ``{||s||_1 <= eps, |s_i| <= 2}``
    that maximises ``<grad, s>`` (the reference measures the box from the current iterate
    instead; we use the exact linear maximiser). Each example gets its highest-loss iterate.
    Inputs are padded (edge replication, centred) to sides divisible by 16 and cropped back;
    grey images (MNIST) are replicated to RGB and the result averaged back to grey.

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1], ``C`` in {1, 3}.
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: true labels ``(B,)``, or target labels when ``targeted``.
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        eps: bound on ``v`` in half quantisation steps; default per norm, the Int paper's
            CIFAR-10/MNIST values (L-inf 0.25, L2 8, L1 256). Calibrated sizes of the paper:
            CIFAR-10 L-inf .03125-1 (x2), L1 2, 8, 64, 256, 512, 1024; ImageNet-100 L2 8-256.
        steps: iterations (paper: 200).
        step_size: L-inf / L2 step on ``v``; default ``eps / sqrt(steps)``. Unused by L1.
        random_start: start from a random ``v`` (L-inf uniform in the box, L2 on the sphere,
            L1 uniform in the ball) rather than ``v = 0``.
        targeted: pull towards ``y`` (the Int paper uses random wrong targets, ``random_targets``).
        loss: ``"ce"`` or ``"cw"``.
        generator: random source for the start.
        return_success: also return the boolean success mask ``(B,)``.

    Returns:
        ``x_adv (B, C, H, W)``, or ``(x_adv, success)``.

    Example:
        >>> x_adv = jpeg(net, x, y, norm="l1", eps=64, steps=50)
    """
    x, y = check_batch(model, x, {"y": y}, required=("y",))
    check_positive_int(steps, "steps")
    if norm not in DEFAULT_EPS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {sorted(DEFAULT_EPS)}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"the JPEG attack needs RGB or grey images, got {x.shape[1]} channels")
    eps = DEFAULT_EPS[norm] if eps is None else eps
    check_nonnegative(eps, "eps")
    step_size = eps / math.sqrt(steps) if step_size is None else step_size
    check_nonnegative(step_size, "step_size")
    loss_fn = classification_loss(loss)
    x = x.detach()
    render = _renderer(x)
    v0 = x.new_zeros(len(x), *jpeg_encode(x.new_zeros(1, 3, *_padded(x))).shape[1:])
    with evaluation_mode(model):

        def objective(v: Tensor) -> Tensor:
            return loss_fn(model(render(v)), y, targeted=targeted)

        if norm == "l1":
            start = eps * _l1_ball_sample(v0, generator) if random_start else v0
            v = frank_wolfe_l1(objective, start, eps=eps, bound=COEFFICIENT_BOUND, steps=steps)
        else:
            bounds = None if norm == "linf" else (-COEFFICIENT_BOUND, COEFFICIENT_BOUND)
            v = projected_gradient_ascent(
                objective, v0, threat_model(norm, eps, bounds=bounds), steps=steps, step_size=step_size,
                random_start=random_start, generator=generator, keep_best=True,
            )
        return attack_result(model, render(v), y, targeted=targeted, return_success=return_success)


def _padded(x: Tensor) -> tuple[int, int]:
    """Height and width rounded up to multiples of 16."""
    return tuple(-(-s // 16) * 16 for s in x.shape[-2:])


def _renderer(x: Tensor):
    """``v -> decode(encode(x) + v / 2)`` as [0, 1] images shaped like ``x``."""
    (h, w), (ph, pw) = x.shape[-2:], _padded(x)
    top, left = (ph - h) // 2, (pw - w) // 2
    rgb = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    padded = F.pad(rgb, (left, pw - w - left, top, ph - h - top), mode="replicate")
    q0 = jpeg_encode(255 * padded)

    def render(v: Tensor) -> Tensor:
        out = jpeg_decode(q0 + v / 2, ph, pw)[..., top : top + h, left : left + w] / 255
        return out.mean(dim=1, keepdim=True) if x.shape[1] == 1 else out

    return render


def _l1_ball_sample(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform samples from the unit L1 ball shaped like ``like`` (signed exponentials over their
    L1 norm plus one more exponential)."""
    exp = torch.empty_like(like).exponential_(generator=generator)
    signs = torch.randint(0, 2, like.shape, generator=generator, device=like.device).to(like.dtype) * 2 - 1
    tail = torch.empty(len(like), device=like.device, dtype=like.dtype).exponential_(generator=generator)
    norm = tail + exp.flatten(1).sum(1)
    return exp * signs / norm.view(-1, *[1] * (like.dim() - 1))


def l1_box_vertex(grad: Tensor, *, eps: float, bound: float) -> Tensor:
    """``argmax <grad, s>`` over ``||s||_1 <= eps, |s_i| <= bound``, per example.

    The largest ``|grad|`` coordinates get ``bound * sign(grad)`` until the L1 mass reaches ``eps``;
    the next one gets the remainder.
    """
    flat = grad.flatten(1)
    order = flat.abs().argsort(dim=1, descending=True)
    mass_before = torch.arange(flat.shape[1], device=grad.device, dtype=grad.dtype) * bound
    magnitude = (eps - mass_before).clamp(0, bound).expand_as(flat)
    vertex = torch.zeros_like(flat).scatter(1, order, magnitude)
    return (vertex * flat.sign()).view_as(grad)


def frank_wolfe_l1(objective, v: Tensor, *, eps: float, bound: float, steps: int) -> Tensor:
    """Frank-Wolfe ascent of ``objective`` over ``{||v||_1 <= eps, |v_i| <= bound}``; highest-objective iterate."""
    best = best_value = None
    for t in range(steps):
        v = v.detach().requires_grad_(True)
        value = objective(v)
        (grad,) = torch.autograd.grad(value.sum(), v)
        v = v.detach()
        best, best_value = keep_better(best, best_value, v, value.detach())
        v = v + (l1_box_vertex(grad, eps=eps, bound=bound) - v) / (t + 1)
    with torch.no_grad():
        best, _ = keep_better(best, best_value, v, objective(v))
    return best

"""The JPEG attacks of Kang et al. (Testing Robustness Against Unforeseen Adversaries).

The perturbation ``v`` lives on the quantised DCT coefficients of a JPEG encoding (luma at full
resolution, chroma at 4:2:0, 8x8 blocks, standard tables, no rounding): the attacked image is
``decode(encode(x) + v / 2)``, so one unit of ``v`` is half a quantisation step. ``v`` is bounded
in L-inf, L2 or L1; ``eps`` is in these coefficient units, not in pixels.
"""

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..._validation import check_batch, check_choice, check_nonnegative
from ...models import evaluation_mode
from .._ascent import projected_gradient_ascent
from .._attack_config import resolve_config
from .._classification_losses import classification_loss
from .._records import SuccessRecord, with_success
from .._threat_models import ThreatModel, threat_model
from .config import UnforeseenConfig
from .jpeg_codec import jpeg_decode, jpeg_encode

DEFAULT_EPS = {"linf": 0.25, "l2": 8.0, "l1": 256.0}
COEFFICIENT_BOUND = 2.0


@dataclass(frozen=True)
class JPEGConfig(UnforeseenConfig):
    """The hyperparameters of :func:`jpeg`: the fields of ``UnforeseenConfig`` and ``random_start``
    (the norm and the budget ``eps``, which together make the threat model, are arguments of the call).

    ``step_size`` is the L-inf / L2 step on ``v``; ``None``: ``eps / sqrt(steps)``. Unused by L1.

    Attributes:
        random_start: start from a random ``v`` (L-inf uniform in the box, L2 on the sphere,
            L1 uniform in the ball) rather than ``v = 0``.
    """

    random_start: bool = True


def jpeg(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    norm: Literal["linf", "l2", "l1"] = "linf",
    eps: float | None = None,
    config: JPEGConfig | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[Tensor, SuccessRecord]:
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
        config: the hyperparameters (:class:`JPEGConfig`: ``steps``, ``step_size``, ``random_start``,
            ``targeted``, ``loss``).
        generator: random source for the start.
        **options: fields of :class:`JPEGConfig` replaced for this call (``steps=2``).

    Returns:
        ``(x_adv, record)``: ``x_adv (B, C, H, W)`` and a ``SuccessRecord``.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = jpeg(net, x, y, norm="l1", eps=64, steps=2)
        >>> x_adv.shape
        torch.Size([4, 1, 28, 28])
    """
    x, y = check_batch(model, x, {"y": y}, required=("y",))
    check_choice(norm, DEFAULT_EPS, name="norm")
    config = resolve_config(JPEGConfig, config, options)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"the JPEG attack needs RGB or grey images, got {x.shape[1]} channels")
    eps = DEFAULT_EPS[norm] if eps is None else eps
    check_nonnegative(eps, "eps", unit=" (half quantisation steps of the DCT coefficients)")
    steps, targeted = config.steps, config.targeted
    step_size = eps / math.sqrt(steps) if config.step_size is None else config.step_size
    loss_fn = classification_loss(config.loss)
    x = x.detach()
    render = _renderer(x)
    v0 = x.new_zeros(len(x), *jpeg_encode(x.new_zeros(1, 3, *_padded(x))).shape[1:])
    with evaluation_mode(model):

        if norm == "l1":
            threat: ThreatModel = L1BoxFrankWolfe(eps, bound=COEFFICIENT_BOUND)
        else:
            threat = threat_model(norm, eps, bounds=None if norm == "linf" else (-COEFFICIENT_BOUND, COEFFICIENT_BOUND))
        v = projected_gradient_ascent(
            lambda v, _: loss_fn(model(render(v)), y, targeted=targeted), v0, threat, steps=steps, step_size=step_size,
            random_start=config.random_start, generator=generator, keep_best=True,
        )
        return with_success(model, render(v), y, targeted=targeted)


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


class L1BoxFrankWolfe(ThreatModel):
    """``{||v||_1 <= eps, |v_i| <= bound}`` around 0, walked by Frank-Wolfe: ``v <- v + (s - v) / (t + 1)``.

    ``s = l1_box_vertex(grad)`` is the exact linear maximiser over the set at iteration ``t`` (from 0);
    the iterates stay in the set, so nothing is projected and ``step_size`` is unused.
    """

    norm = "l1"

    def __init__(self, eps: float, *, bound: float) -> None:
        super().__init__(eps, bounds=None)
        self.bound = bound

    def random_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A uniform sample of the ``eps`` L1 ball shaped like ``x`` (signed exponentials over their
        L1 norm plus one more exponential, times ``eps``)."""
        exp = torch.empty_like(x).exponential_(generator=generator)
        signs = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype) * 2 - 1
        tail = torch.empty(len(x), device=x.device, dtype=x.dtype).exponential_(generator=generator)
        norm = tail + exp.flatten(1).sum(1)
        return self.eps * (exp * signs / norm.view(-1, *[1] * (x.dim() - 1)))

    def advance(self, x_adv: Tensor, grad: Tensor, x: Tensor, *, step_size: float, step: int) -> Tensor:
        return x_adv + (l1_box_vertex(grad, eps=self.eps, bound=self.bound) - x_adv) / (step + 1)

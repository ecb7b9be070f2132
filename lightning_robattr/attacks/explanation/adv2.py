"""ADV2: fool the classifier and its interpreter together ("Interpretable Deep Learning under Fire", Zhang et al.)."""

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..._validation import check_batch, check_nonnegative
from ...attributions import get_attribution
from ...metrics.functional import reduce_channels
from ...models import evaluation_mode
from ..ascent import projected_gradient_ascent
from ..targets import random_targets
from ..threat_models import threat_model
from .maps import surrogate


class ADV2Record(NamedTuple):
    """Per image, measured on the original model.

    Attributes:
        target: ``(B,)`` the target labels ``t'``.
        success: ``(B,)`` whether ``x'`` is classified as ``t'``.
        interpretation_loss: ``(B,)`` mean squared difference between the min-max normalised map of
            ``t'`` at ``x'`` and the benign map of ``y`` at ``x`` (lower = the map looks benign).
    """

    target: Tensor
    success: Tensor
    interpretation_loss: Tensor


def min_max_normalized(maps: Tensor) -> Tensor:
    """``(B, h, w)`` maps rescaled per image to [0, 1] (a constant map becomes 0)."""
    flat = maps.flatten(1)
    low, high = flat.amin(dim=1), flat.amax(dim=1)
    return ((flat - low[:, None]) / (high - low).clamp_min(1e-12)[:, None]).view_as(maps)


def adv2(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    target: Tensor | None = None,
    eps: float = 0.031,
    method: str = "cam",
    prediction_steps: int = 400,
    joint_steps: int = 1200,
    step_size: float = 1 / 255,
    weight: float = 5.0,
    norm: str = "linf",
    beta: float | None = 1.0,
    method_options: Mapping[str, Any] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, ADV2Record]:
    """Targeted attack whose interpretation of ``t'`` at ``x'`` imitates the benign map of ``y`` at ``x``.

    Minimises ``CE(f(x'), t') + c_i mean((n(g(x', t')) - n(g(x, y)))^2)`` over the ``eps`` ball by
    signed gradient steps from ``x``, where ``g`` is the interpreter (channels reduced by
    ``abs_sum``) and ``n`` a per-image min-max normalisation, in two stages as the authors'
    CAM code: ``prediction_steps`` on the cross-entropy alone (``c_i = 0``), then
    ``joint_steps`` with ``c_i`` rising linearly from ``weight`` to ``2 * weight``. Gradient
    maps of ReLU nets (saliency, IG) are differentiated on the softplus surrogate (``beta``).

    Args:
        model: classifier on pixel-space images; run in eval mode and fp32, restored afterwards.
        x: benign images ``(B, C, H, W)`` in [0, 1]; y: their labels ``(B,)``.
        target: target labels ``t'`` ``(B,)``; default a uniform other class drawn with ``generator``.
        eps: budget in pixel units (0.031 in the paper, ImageNet).
        method: the interpreter, an ``attributions.get_attribution`` name (``cam``, ``saliency``, ...).
        prediction_steps, joint_steps: iterations of the two stages (400 and 1200).
        step_size: step length in the ball's norm (1/255).
        weight: the interpretation weight ``c`` (5; the authors' example uses 10).
        norm: ``"linf"`` or ``"l2"``.
        beta: softplus sharpness of the surrogate for gradient maps; ``None`` uses the model.
        method_options: options bound to the interpreter.
        generator: random source for the target labels.

    Returns:
        ``(x_adv, record)``: the final iterate ``(B, C, H, W)`` and an ``ADV2Record``.

    Cost: ``prediction_steps`` forward + backward passes, then ``joint_steps`` times that plus the
    interpreter's map (first-order for CAM; a double backward for gradient maps).

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = adv2(net, x, y, eps=0.2, method="cam", prediction_steps=2, joint_steps=2, step_size=0.01)
        >>> record.success.shape, record.interpretation_loss.shape  # per image
        (torch.Size([4]), torch.Size([4]))
    """
    x, y, target = check_batch(model, x, {"y": y, "target": target}, required=("y",))
    if isinstance(prediction_steps, bool) or not isinstance(prediction_steps, int) or prediction_steps < 0:
        raise ValueError(f"prediction_steps must be an integer >= 0, got {prediction_steps!r}")
    if isinstance(joint_steps, bool) or not isinstance(joint_steps, int) or joint_steps < 0:
        raise ValueError(f"joint_steps must be an integer >= 0, got {joint_steps!r}")
    check_nonnegative(step_size, "step_size")
    check_nonnegative(weight, "weight")
    threat = threat_model(norm, eps)
    explain = get_attribution(method, **(method_options or {}))
    x = x.detach()

    def normalized_map(x_in: Tensor, label: Tensor, create_graph: bool = False) -> Tensor:
        return min_max_normalized(reduce_channels(explain(model, x_in, label, create_graph=create_graph), "abs_sum"))

    with evaluation_mode(model):
        with torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        t_prime = random_targets(y, num_classes, generator=generator) if target is None else target
        benign = normalized_map(x, y)
        weights = [0.0] * prediction_steps + torch.linspace(weight, 2 * weight, joint_steps).tolist()

        def objective(x_adv: Tensor, step: int) -> Tensor:
            value = -F.cross_entropy(model(x_adv), t_prime, reduction="none")
            c = weights[step]
            if c > 0:
                with surrogate(model, method, beta):
                    value = value - c * (normalized_map(x_adv, t_prime, create_graph=True) - benign).pow(2).flatten(1).mean(dim=1)
            return value

        x_adv = projected_gradient_ascent(
            objective, x, threat, steps=prediction_steps + joint_steps, step_size=step_size, random_start=False
        )
        with torch.no_grad():
            success = model(x_adv).argmax(dim=1) == t_prime
        loss = (normalized_map(x_adv, t_prime) - benign).pow(2).flatten(1).mean(dim=1)
    return x_adv, ADV2Record(t_prime, success, loss)

"""Threat models: an Lp ball of radius ``eps`` around the clean images, intersected with [0, 1].

A threat model knows three things: how to draw a random start, how to turn a gradient into
an ascent step, and how to project back onto the feasible set. Every projected-gradient
loop of the package is written once (``ascent.projected_gradient_ascent``) over this interface.
The same balls serve attacks that optimise other variables than pixels (the JPEG attack's
DCT coefficients): ``bounds`` is then the box of that variable, or ``None`` for no box.
"""

import torch
from torch import Tensor

from .._validation import check_choice, check_eps


def _per_example_norm(t: Tensor, p: float) -> Tensor:
    """Lp norm of each example of ``(B, ...)``, shaped ``(B, 1, ..., 1)`` for broadcasting."""
    return t.flatten(1).norm(p=p, dim=1).view(-1, *([1] * (t.dim() - 1)))


class ThreatModel:
    """Base class; ``eps`` is the radius in pixel units of [0, 1] images (or in the units of the
    optimised variable), ``bounds`` the box every iterate is clamped to (``None``: no box)."""

    norm: str = ""

    def __init__(self, eps: float, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> None:
        check_eps(eps)
        self.eps = float(eps)
        self.bounds = bounds

    def clamp(self, x: Tensor) -> Tensor:
        """``x`` clamped to ``bounds``, in place (pass a fresh tensor)."""
        return x if self.bounds is None else x.clamp_(*self.bounds)

    def random_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A random point of the feasible set around ``x``."""
        raise NotImplementedError

    def step(self, grad: Tensor, step_size: float) -> Tensor:
        """The ascent displacement for gradient ``grad``, of size ``step_size`` in this norm."""
        raise NotImplementedError

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """Euclidean projection of ``x_adv`` onto the ball around ``x``, then clamped to ``bounds``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(eps={self.eps:g})"


class LinfBall(ThreatModel):
    """``||x' - x||_inf <= eps``: signed-gradient steps, element-wise clipping, uniform random start."""

    norm = "linf"

    def __init__(self, eps: float, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> None:
        super().__init__(eps, bounds=bounds)
        if self.eps > 1 and bounds == (0.0, 1.0):
            raise ValueError(f"L-inf eps must lie in [0, 1] (pixel units of [0, 1] images; 8/255 = {8 / 255:.4f}), got {eps}")

    def random_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return self.clamp(x + (2 * noise - 1) * self.eps)

    def step(self, grad: Tensor, step_size: float) -> Tensor:
        return grad.sign().mul_(step_size)

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        return self.clamp((x_adv - x).clamp_(-self.eps, self.eps).add_(x))


class L2Ball(ThreatModel):
    """``||x' - x||_2 <= eps``: normalised-gradient steps, radial projection, random start on the ball."""

    norm = "l2"

    def random_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 0.5
        return self.project(x + noise, x)

    def step(self, grad: Tensor, step_size: float) -> Tensor:
        return step_size * grad / (_per_example_norm(grad, 2) + 1e-10)

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        delta = x_adv - x
        scale = (self.eps / (_per_example_norm(delta, 2) + 1e-12)).clamp(max=1.0)
        return self.clamp(x + delta * scale)


THREAT_MODELS: dict[str, type[ThreatModel]] = {"linf": LinfBall, "l2": L2Ball}


def threat_model(norm: str, eps: float, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> ThreatModel:
    """The threat model named ``norm`` (``"linf"`` or ``"l2"``) with radius ``eps`` and box ``bounds``."""
    check_choice(norm, THREAT_MODELS, name="norm")
    return THREAT_MODELS[norm](eps, bounds=bounds)

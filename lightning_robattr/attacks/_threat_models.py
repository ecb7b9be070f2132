"""Threat models: an Lp ball of radius ``eps`` around the clean images, intersected with [0, 1].

A threat model knows how to draw a start, how to turn a gradient into an ascent step and how to
project back onto the feasible set; ``advance`` composes the last two into one iteration. Every
first-order maximisation of the package is written once (``ascent.projected_gradient_ascent``)
over this interface. ``eps`` is one radius for the batch or one per example, a tensor ``(B,)``;
step sizes broadcast the same way. The same balls serve attacks that optimise other variables
than pixels (the JPEG attack's DCT coefficients): ``bounds`` is then the box of that variable,
or ``None`` for no box.
"""

import torch
from torch import Tensor

from .._validation import check_choice, check_eps

Radius = float | Tensor


def per_example(value: Radius, like: Tensor) -> Radius:
    """A float as it is; a tensor ``(B,)`` viewed ``(B, 1, ..., 1)`` to broadcast against ``like (B, ...)``."""
    return value.view(-1, *[1] * (like.dim() - 1)) if isinstance(value, Tensor) else value


def _per_example_norm(t: Tensor, p: float) -> Tensor:
    """Lp norm of each example of ``(B, ...)``, shaped ``(B, 1, ..., 1)`` for broadcasting."""
    return per_example(t.flatten(1).norm(p=p, dim=1), t)


class ThreatModel:
    """Base class; ``eps`` is the radius in pixel units of [0, 1] images (or in the units of the
    optimised variable), a float or a tensor ``(B,)`` of per-example radii; ``bounds`` is the box
    every iterate is clamped to (``None``: no box).

    A subclass implements what its attacks use: ``step`` and ``project`` (or ``advance`` as a
    whole), and the starts its attacks draw; the others raise ``NotImplementedError`` naming it."""

    norm: str = ""

    def __init__(self, eps: Radius, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> None:
        if isinstance(eps, Tensor):
            if eps.dim() != 1 or not bool((eps >= 0).all()):
                raise ValueError(f"a per-example eps must be a tensor (B,) of radii >= 0, got shape {tuple(eps.shape)}; pass one radius per example")
            self.eps: Radius = eps.detach()
        else:
            check_eps(eps)
            self.eps = float(eps)
        self.bounds = bounds

    def clamp(self, x: Tensor) -> Tensor:
        """``x`` clamped to ``bounds``, in place (pass a fresh tensor)."""
        return x if self.bounds is None else x.clamp_(*self.bounds)

    def radius(self, like: Tensor) -> Radius:
        """``eps`` shaped to broadcast against ``like (B, ...)``."""
        return per_example(self.eps, like)

    def random_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A random point of the feasible set around ``x``."""
        raise self._lacks("random_start")

    def boundary_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A random direction scaled to length exactly ``eps`` in this norm, added to ``x``, clamped to ``bounds``."""
        raise self._lacks("boundary_start")

    def step(self, grad: Tensor, step_size: Radius) -> Tensor:
        """The ascent displacement for gradient ``grad``, of size ``step_size`` (float or ``(B,)``) in this norm."""
        raise self._lacks("step")

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """Euclidean projection of ``x_adv`` onto the ball around ``x``, then clamped to ``bounds``."""
        raise self._lacks("project")

    def advance(self, x_adv: Tensor, grad: Tensor, x: Tensor, *, step_size: Radius, step: int) -> Tensor:
        """The next iterate after ``x_adv`` (iteration ``step``, from 0): ``project(x_adv + step(grad), x)``."""
        return self.project(x_adv + self.step(grad, step_size), x)

    def _lacks(self, method: str) -> NotImplementedError:
        return NotImplementedError(f"the {type(self).__name__} threat model does not define {method}")

    def __repr__(self) -> str:
        eps = f"{self.eps:g}" if isinstance(self.eps, float) else f"tensor of {len(self.eps)} radii"
        return f"{type(self).__name__}(eps={eps})"


class LinfBall(ThreatModel):
    """``||x' - x||_inf <= eps``: signed-gradient steps, element-wise clipping, uniform random start."""

    norm = "linf"

    def __init__(self, eps: Radius, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> None:
        super().__init__(eps, bounds=bounds)
        if isinstance(self.eps, float) and self.eps > 1 and bounds == (0.0, 1.0):
            raise ValueError(f"L-inf eps must lie in [0, 1] (pixel units of [0, 1] images; 8/255 = {8 / 255:.4f}), got {eps}")

    def random_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return self.clamp(x + (2 * noise - 1) * self.radius(x))

    def boundary_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        t = 2 * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 1
        return self.clamp(x + self.radius(x) * t / (per_example(t.flatten(1).abs().amax(1), x) + 1e-12))

    def step(self, grad: Tensor, step_size: Radius) -> Tensor:
        return grad.sign().mul_(per_example(step_size, grad))

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        radius = self.radius(x)
        delta = x_adv - x
        delta = delta.clamp_(-radius, radius) if isinstance(radius, float) else torch.minimum(torch.maximum(delta, -radius), radius)
        return self.clamp(delta.add_(x))


class L2Ball(ThreatModel):
    """``||x' - x||_2 <= eps``: normalised-gradient steps, radial projection, random start on the ball."""

    norm = "l2"

    def random_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 0.5
        return self.project(x + noise, x)

    def boundary_start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        t = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return self.clamp(x + self.radius(x) * t / (_per_example_norm(t, 2) + 1e-12))

    def step(self, grad: Tensor, step_size: Radius) -> Tensor:
        return per_example(step_size, grad) * grad / (_per_example_norm(grad, 2) + 1e-10)

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        delta = x_adv - x
        scale = (self.radius(x) / (_per_example_norm(delta, 2) + 1e-12)).clamp(max=1.0)
        return self.clamp(x + delta * scale)


THREAT_MODELS: dict[str, type[ThreatModel]] = {"linf": LinfBall, "l2": L2Ball}


def threat_model(norm: str, eps: Radius, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> ThreatModel:
    """The threat model named ``norm`` (``"linf"`` or ``"l2"``) with radius ``eps`` (float or ``(B,)``) and box ``bounds``."""
    check_choice(norm, THREAT_MODELS, name="norm")
    return THREAT_MODELS[norm](eps, bounds=bounds)

"""The two ways attribution attacks keep a perturbation in its ball: clip (project) or rescale."""

from torch import Tensor

from .._threat_models import LinfBall, ThreatModel, threat_model

CONSTRAINTS = ("clip", "rescale")


class RescaledLinfBall(LinfBall):
    """``||x' - x||_inf <= eps`` enforced by shrinking the whole perturbation, not by clipping it.

    If ``||d||_inf > eps`` the displacement ``d = x' - x`` becomes ``d * eps / ||d||_inf``, which
    keeps its direction (the "projection" of "Smoothed Geometry for Robust Attribution", App. C1);
    then the image is clamped to ``bounds`` ([0, 1]). It is not the Euclidean projection (that is clipping).
    """

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        delta = x_adv - x
        size = delta.flatten(1).abs().amax(dim=1).view(-1, *[1] * (x.dim() - 1))
        return self.clamp(x + delta * (self.eps / size.clamp_min(1e-12)).clamp(max=1.0))


def constrained_threat(norm: str, eps: float, constraint: str) -> ThreatModel:
    """The ball of radius ``eps`` in ``norm`` (``"linf"``/``"l2"``) with ``constraint`` ``"clip"`` or ``"rescale"``.

    ``"clip"`` is the Euclidean projection (element-wise clipping for L-inf). For L2 the two
    coincide (the projection onto an L2 ball is a radial rescale).
    """
    if constraint not in CONSTRAINTS:
        raise ValueError(f"constraint must be one of {CONSTRAINTS}, got {constraint!r}")
    threat = threat_model(norm, eps)
    return RescaledLinfBall(eps) if constraint == "rescale" and norm == "linf" else threat

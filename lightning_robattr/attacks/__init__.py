"""Classification attacks, unforeseen attacks and explanation attacks, all in pixel space [0, 1].

Every attack takes ``(model, x, y)`` with ``x (B, C, H, W)`` in [0, 1] and keyword-only
hyperparameters, runs the model in eval mode and fp32 (restoring its mode), differentiates
w.r.t. the input only, and returns the adversarial images (plus a success mask on request).
"""

from .aai import AAIRecord, aai
from .adv2 import ADV2Record, adv2
from .apgd import apgd
from .ascent import projected_gradient_ascent
from .classification_losses import classification_loss, cross_entropy, cw_margin, dlr, succeeded
from .cw import cw_l2
from .deepfool import deepfool
from .attribution_attack import AttributionAttackRecord, attribution_attack
from .fgsm import fgsm
from .gabor import gabor
from .isa import ISAResult, isa
from .jpeg import jpeg
from .pgd import pgd
from .random_sign import random_sign
from .snow import snow
from .targets import random_targets
from .threat_models import L2Ball, LinfBall, ThreatModel, threat_model
from .transfer import transfer_evaluation

__all__ = [
    "AAIRecord",
    "ADV2Record",
    "AttributionAttackRecord",
    "ISAResult",
    "L2Ball",
    "LinfBall",
    "ThreatModel",
    "aai",
    "adv2",
    "apgd",
    "attribution_attack",
    "classification_loss",
    "cross_entropy",
    "cw_l2",
    "cw_margin",
    "deepfool",
    "dlr",
    "fgsm",
    "gabor",
    "isa",
    "jpeg",
    "pgd",
    "projected_gradient_ascent",
    "random_sign",
    "random_targets",
    "snow",
    "succeeded",
    "threat_model",
    "transfer_evaluation",
]

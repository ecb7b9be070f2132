"""Classification attacks, unforeseen attacks and explanation attacks, all in pixel space [0, 1].

Every attack takes ``(model, x, y)`` with ``x (B, C, H, W)`` in [0, 1] and keyword-only
hyperparameters, runs the model in eval mode and fp32 (restoring its mode), differentiates
w.r.t. the input only, and returns ``(x_adv, record)`` (``records``). Layout: the shared core here
(``ascent``, the one loop; ``threat_models``; ``classification_losses``; ``targets``; ``records``),
then one sub-package per subsystem: ``classification``, ``unforeseen``, ``explanation`` and ``patch``.
"""

from .ascent import KeepBest, projected_gradient_ascent
from .attack_config import AttackConfig
from .budget import Budget, parse_eps
from .classification.apgd import APGDConfig, apgd
from .classification.autoattack import autoattack, square
from .classification.cw import CWConfig, cw_l2
from .classification.deepfool import DeepFoolConfig, deepfool
from .classification.fgsm import FGSMConfig, fgsm
from .classification.pgd import PGDConfig, pgd
from .classification_losses import classification_loss, cross_entropy, cw_margin, dlr, succeeded
from .explanation.aai import AAIConfig, AAIRecord, aai
from .explanation.adv2 import ADV2_SCHEDULES, ADV2Record, ADV2Schedule, adv2, adv2_schedule
from .explanation.attribution_attack import AttributionAttackConfig, AttributionAttackRecord, attribution_attack
from .explanation.influence_attack import InfluenceAttackRecord, influence_attack
from .explanation.interpreter_transfer import InterpreterTransfer, interpreter_transfer
from .explanation.isa import ISAConfig, ISAResult, isa
from .explanation.random_sign import random_sign
from .explanation.transfer import transfer_evaluation
from .patch.placement import apply_patch, patch_locations, patch_shape
from .patch.universal import PatchConfig, PatchRecord, adversarial_patch, lavan, patch_attack
from .records import SuccessRecord
from .targets import random_targets
from .threat_models import L2Ball, LinfBall, ThreatModel, threat_model
from .unforeseen.config import UnforeseenConfig
from .unforeseen.gabor import GaborConfig, gabor
from .unforeseen.jpeg import JPEGConfig, jpeg
from .unforeseen.snow import SnowConfig, snow

__all__ = [
    "AAIConfig",
    "AAIRecord",
    "AttackConfig",
    "Budget",
    "PGDConfig",
    "parse_eps",
    "ADV2Record",
    "ADV2Schedule",
    "ADV2_SCHEDULES",
    "AttributionAttackConfig",
    "AttributionAttackRecord",
    "ISAConfig",
    "ISAResult",
    "InfluenceAttackRecord",
    "InterpreterTransfer",
    "KeepBest",
    "L2Ball",
    "LinfBall",
    "APGDConfig",
    "CWConfig",
    "DeepFoolConfig",
    "FGSMConfig",
    "GaborConfig",
    "JPEGConfig",
    "PatchConfig",
    "PatchRecord",
    "SnowConfig",
    "UnforeseenConfig",
    "ThreatModel",
    "aai",
    "adv2",
    "adv2_schedule",
    "adversarial_patch",
    "apgd",
    "apply_patch",
    "attribution_attack",
    "autoattack",
    "classification_loss",
    "cross_entropy",
    "cw_l2",
    "cw_margin",
    "deepfool",
    "dlr",
    "fgsm",
    "gabor",
    "influence_attack",
    "interpreter_transfer",
    "isa",
    "jpeg",
    "lavan",
    "patch_attack",
    "patch_locations",
    "patch_shape",
    "pgd",
    "projected_gradient_ascent",
    "random_sign",
    "random_targets",
    "snow",
    "square",
    "SuccessRecord",
    "succeeded",
    "threat_model",
    "transfer_evaluation",
]

"""Classification attacks, unforeseen attacks and explanation attacks, all in pixel space [0, 1].

Every attack takes ``(model, x, y)`` with ``x (B, C, H, W)`` in [0, 1] and keyword-only
hyperparameters, runs the model in eval mode and fp32 (restoring its mode), differentiates
w.r.t. the input only, and returns ``(x_adv, record)``. Each attack's hyperparameters are one frozen
config object (``PGDConfig``, ...) that the function, the callbacks and YAML share; budgets are in pixel
units (``"8/255"`` accepted). ``__all__`` is the public surface: the attacks, their configs and records,
the threat models and the loop; the modules below are private.
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
from .explanation.aai import AAIConfig, AAIRecord, aai
from .explanation.adv2 import ADV2_SCHEDULES, ADV2Record, ADV2Schedule, adv2, adv2_schedule
from .explanation.attribution_attack import AttributionAttackConfig, AttributionAttackRecord, attribution_attack
from .explanation.influence_attack import InfluenceAttackRecord, influence_attack
from .explanation.interpreter_transfer import InterpreterTransfer, interpreter_transfer
from .explanation.isa import ISAConfig, ISAResult, isa
from .explanation.random_sign import random_sign
from .explanation.transfer import transfer_evaluation
from .patch.placement import apply_patch
from .patch.universal import PatchConfig, PatchRecord, adversarial_patch, lavan, patch_attack
from .records import SuccessRecord
from .targets import random_targets
from .threat_models import L2Ball, LinfBall, ThreatModel, threat_model
from .unforeseen.config import UnforeseenConfig
from .unforeseen.gabor import GaborConfig, gabor
from .unforeseen.jpeg import JPEGConfig, jpeg
from .unforeseen.snow import SnowConfig, snow

__all__ = [
    # classification attacks, their options and record
    "fgsm", "FGSMConfig", "pgd", "PGDConfig", "apgd", "APGDConfig", "autoattack", "square", "cw_l2", "CWConfig",
    "deepfool", "DeepFoolConfig", "random_targets", "SuccessRecord",
    # unforeseen attacks
    "gabor", "GaborConfig", "snow", "SnowConfig", "jpeg", "JPEGConfig", "UnforeseenConfig",
    # patch attacks
    "adversarial_patch", "lavan", "PatchConfig", "patch_attack", "apply_patch", "PatchRecord",
    # attacks on explanations
    "attribution_attack", "AttributionAttackConfig", "AttributionAttackRecord", "random_sign", "transfer_evaluation",
    "aai", "AAIConfig", "AAIRecord", "isa", "ISAConfig", "ISAResult", "adv2", "ADV2Record", "ADV2Schedule", "ADV2_SCHEDULES",
    "adv2_schedule", "interpreter_transfer", "InterpreterTransfer", "influence_attack", "InfluenceAttackRecord",
    # options objects and budgets
    "AttackConfig", "Budget", "parse_eps",
    # the loop and the threat models
    "projected_gradient_ascent", "KeepBest", "ThreatModel", "LinfBall", "L2Ball", "threat_model",
]

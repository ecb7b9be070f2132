"""Classification attacks, unforeseen attacks and explanation attacks, all in pixel space [0, 1].

Every attack takes ``(model, x, y)`` with ``x (B, C, H, W)`` in [0, 1] and keyword-only
hyperparameters, runs the model in eval mode and fp32 (restoring its mode), differentiates
w.r.t. the input only, and returns ``(x_adv, record)``. Each attack's hyperparameters are one frozen
config object (``PGDConfig``, ...) that the function, the callbacks and YAML share; budgets are in pixel
units (``"8/255"`` accepted). ``__all__`` is the public surface: the attacks, their configs and records,
the threat models and the loop; the modules below are private.
"""

from ._ascent import KeepBest, projected_gradient_ascent
from ._attack_config import AttackConfig
from ._budget import Budget, parse_eps
from ._classification.apgd import APGDConfig, apgd
from ._classification.autoattack import autoattack, square
from ._classification.cw import CWConfig, cw_l2
from ._classification.deepfool import DeepFoolConfig, deepfool
from ._classification.fgsm import FGSMConfig, fgsm
from ._classification.pgd import PGDConfig, pgd
from ._explanation.aai import AAIConfig, AAIRecord, aai
from ._explanation.adv2 import ADV2_SCHEDULES, ADV2Record, ADV2Schedule, adv2, adv2_schedule
from ._explanation.attribution_attack import AttributionAttackConfig, AttributionAttackRecord, attribution_attack
from ._explanation.influence_attack import InfluenceAttackRecord, influence_attack
from ._explanation.interpreter_transfer import InterpreterTransfer, interpreter_transfer
from ._explanation.isa import ISAConfig, ISAResult, isa
from ._explanation.random_sign import random_sign
from ._explanation.reference import REFERENCE_BUDGETS, AttributionReferenceRecord, attribution_reference
from ._explanation.transfer import transfer_evaluation
from ._patch.placement import apply_patch
from ._patch.universal import PatchConfig, PatchRecord, adversarial_patch, lavan, patch_attack
from ._records import SuccessRecord
from ._targets import random_targets
from ._threat_models import L2Ball, LinfBall, ThreatModel, threat_model
from ._unforeseen.config import UnforeseenConfig
from ._unforeseen.gabor import GaborConfig, gabor
from ._unforeseen.jpeg import JPEGConfig, jpeg
from ._unforeseen.snow import SnowConfig, snow

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
    "attribution_reference", "AttributionReferenceRecord", "REFERENCE_BUDGETS",
    "aai", "AAIConfig", "AAIRecord", "isa", "ISAConfig", "ISAResult", "adv2", "ADV2Record", "ADV2Schedule", "ADV2_SCHEDULES",
    "adv2_schedule", "interpreter_transfer", "InterpreterTransfer", "influence_attack", "InfluenceAttackRecord",
    # options objects and budgets
    "AttackConfig", "Budget", "parse_eps",
    # the loop and the threat models
    "projected_gradient_ascent", "KeepBest", "ThreatModel", "LinfBall", "L2Ball", "threat_model",
]

"""Evaluation callbacks: robustness of predictions and explanations, logged every N epochs and in validate/test.

Each evaluates a fixed seeded subset, shards it across DDP ranks, reduces through torchmetrics and
logs hierarchical tags (``robust/...``, ``attr/...``, ``detect/...``). They need ``Trainer(inference_mode=False)``.
"""

from ._aai_eval import AAIEval
from ._attack_set import AttackSet
from ._adv2_eval import ADV2Eval
from ..attacks._explanation.scoring import SIMILARITY_METRICS, MapScoring
from ._attribution_attack_eval import AttributionAttackEval, GridAttack, MapScore, ProtocolGapWarning
from ._attribution_map_logger import AttributionMapLogger
from ._detection_eval import DETECTION_ATTACKS, DetectionAttacks, DetectionEval
from ._evaluation_callback import EvaluationCallback, ScheduledEvaluation
from ._evaluation_schedule import EvaluationSchedule
from ._figures import log_figure
from ._gradient_masking_check import GradientMaskingCheck, GradientMaskingWarning, MaskingProbes, masking_flags
from ._isa_eval import ISAEval
from ._last_checkpoint import LastCheckpoint
from ._map_figure import MapPanel, map_figure, map_grid
from ._pgd_eval import PGDEval
from ._rng_state import RNGStateCheckpoint
from ._robust_summary import RobustSummary
from ._run_hyperparameters import RunHyperparameters, describe_run
from ._unforeseen_eval import UNFORESEEN_ATTACKS, UnforeseenAttacks, UnforeseenEval

__all__ = [
    "DETECTION_ATTACKS",
    "SIMILARITY_METRICS",
    "UNFORESEEN_ATTACKS",
    "AAIEval",
    "AttackSet",
    "ADV2Eval",
    "AttributionAttackEval",
    "AttributionMapLogger",
    "DetectionAttacks",
    "DetectionEval",
    "EvaluationCallback",
    "EvaluationSchedule",
    "GradientMaskingCheck",
    "GradientMaskingWarning",
    "GridAttack",
    "MaskingProbes",
    "ISAEval",
    "LastCheckpoint",
    "MapPanel",
    "MapScore",
    "MapScoring",
    "PGDEval",
    "ProtocolGapWarning",
    "RNGStateCheckpoint",
    "RobustSummary",
    "RunHyperparameters",
    "ScheduledEvaluation",
    "UnforeseenAttacks",
    "UnforeseenEval",
    "describe_run",
    "log_figure",
    "map_figure",
    "map_grid",
    "masking_flags",
]

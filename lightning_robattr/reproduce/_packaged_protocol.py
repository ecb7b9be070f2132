"""A packaged attribution-evaluation set (``callbacks/attribution_*.yaml``) built in Python with a reproduction's overrides."""

from pathlib import Path
from typing import Any

import yaml

from ..attacks._explanation.attribution_attack import AttributionAttackConfig
from ..callbacks import AttributionAttackEval, EvaluationSchedule, MapScoring
from ..configs import resolve_config


def packaged_attribution_eval(
    config: str, *, attack: dict[str, Any], schedule: dict[str, Any], **args: Any
) -> AttributionAttackEval:
    """The ``AttributionAttackEval`` of the packaged set ``config`` (one callback), with ``args`` replacing its
    options and ``attack`` / ``schedule`` replacing fields of its nested ``attack`` / ``schedule`` mappings."""
    (entry,) = yaml.safe_load(Path(resolve_config(config)).read_text())["trainer"]["callbacks"]
    init = {**entry["init_args"], **args}
    return AttributionAttackEval(
        **{
            **init,
            "attack": AttributionAttackConfig(**{**init.get("attack", {}), **attack}),
            "scoring": MapScoring(**init.get("scoring", {})),
            "schedule": EvaluationSchedule(**{**init.get("schedule", {}), **schedule}),
        }
    )

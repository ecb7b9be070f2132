"""A packaged attribution-evaluation set (``callbacks/attribution_*.yaml``) built in Python with a reproduction's overrides."""

from pathlib import Path
from typing import Any

import yaml

from ..attacks._explanation.attribution_attack import AttributionAttackConfig
from ..callbacks import AttributionAttackEval, EvaluationSchedule, MapScoring
from ..configs import resolve_config


def packaged_init_args(config: str) -> dict[str, Any]:
    """The ``init_args`` of the one callback of the packaged set ``config`` (``"callbacks/attribution_ssr.yaml"``)."""
    (entry,) = yaml.safe_load(Path(resolve_config(config)).read_text())["trainer"]["callbacks"]
    return entry["init_args"]


def packaged_attribution_eval(
    init_args: dict[str, Any], *, attack: dict[str, Any], schedule: dict[str, Any], **args: Any
) -> AttributionAttackEval:
    """The ``AttributionAttackEval`` of a packaged set's ``init_args`` (:func:`packaged_init_args`), with ``args``
    replacing its options and ``attack`` / ``schedule`` replacing fields of its nested ``attack`` / ``schedule`` mappings."""
    init = {**init_args, **args}
    return AttributionAttackEval(
        **{
            **init,
            "attack": AttributionAttackConfig(**{**init.get("attack", {}), **attack}),
            "scoring": MapScoring(**init.get("scoring", {})),
            "schedule": EvaluationSchedule(**{**init.get("schedule", {}), **schedule}),
        }
    )

"""Checks of evaluation-callback options at construction, so a bad config fails before training starts.

Each check calls the validation of the function the option is for (``get_attribution``, the
attacks' own argument checks), so a callback accepts exactly what its attacks accept.
"""

from collections.abc import Collection, Mapping, Sequence
from inspect import Parameter, signature
from typing import Any

from .._validation import check_choice, check_keywords
from ..attacks.explanation.attribution_attack import attribution_attack, check_attribution_attack
from ..attributions import ATTRIBUTIONS, get_attribution

# attribution_attack arguments an attribution-attack callback passes itself (so attack_options may not)
SET_BY_CALLBACK = ("method", "objective", "eps", "steps", "step_size", "norm", "k", "method_options")


def check_methods(methods: Sequence[str], *, name: str) -> None:
    """Raise unless every entry of ``methods`` is a name of ``get_attribution``."""
    for method in methods:
        check_choice(method, ATTRIBUTIONS, name=f"{name} entry")


def check_method_options(method_options: Mapping[str, Mapping[str, Any]], methods: Collection[str]) -> None:
    """Raise unless ``method_options`` configures only ``methods``, each with options that method takes."""
    for method, options in method_options.items():
        check_choice(method, sorted(methods), name="method in method_options (configure only listed methods)")
        get_attribution(method, **options)


def check_attack_settings(
    *,
    methods: Sequence[str],
    objectives: Sequence[str],
    pixel_eps: Sequence[float],
    steps: int,
    step_size: float | None,
    norm: str,
    method_options: Mapping[str, Mapping[str, Any]],
    attack_options: Mapping[str, Any],
) -> None:
    """Raise unless ``attribution_attack`` accepts every method x objective x budget with these settings."""
    check_keywords(attack_options, attribution_attack, name="attack_options", exclude=SET_BY_CALLBACK)
    defaults = {p.name: p.default for p in signature(attribution_attack).parameters.values() if p.kind is Parameter.KEYWORD_ONLY}
    settings = {**defaults, **attack_options}
    if "targeted" in objectives and settings["region"] is None:
        raise ValueError("the objective 'targeted' needs attack_options.region, a boolean mask of the map grid")
    for method in methods:
        for objective in objectives:
            for eps in pixel_eps:
                check_attribution_attack(
                    method=method, objective=objective, eps=eps, steps=steps, step_size=step_size, norm=norm,
                    constraint=settings["constraint"], measure=settings["measure"], normalize=settings["normalize"],
                    method_options=method_options.get(method),
                )

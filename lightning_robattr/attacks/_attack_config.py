"""The base of every attack's hyperparameters: a frozen dataclass, validated when it is built.

One config class per attack holds the attack's hyperparameters (how it runs: steps, step size,
norm, restarts, ...); the budget ``eps`` and the data are arguments of the call. The same object
is what the attack function takes (``pgd(model, x, y, eps=0.3, config=PGDConfig(steps=100))``,
or the fields as keywords: ``pgd(model, x, y, eps=0.3, steps=100)``), what an evaluation callback
takes as its ``attack`` argument, and what a YAML config writes as a nested mapping
(``attack: {steps: 100}``), so a bad value fails when the config is read, before any training.
"""

from dataclasses import dataclass, fields, replace
from typing import Any, Self, TypeVar

from .._validation import check_choice, check_nonnegative, check_positive_int

Config = TypeVar("Config", bound="AttackConfig")


@dataclass(frozen=True)
class AttackConfig:
    """Base class: a subclass declares its fields (with defaults) and checks them in ``check``."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ``ValueError`` for a bad field (a subclass checks its own)."""

    def updated(self, **options: Any) -> Self:
        """A copy with ``options`` replaced (validated again); raises ``TypeError`` naming an unknown option."""
        names = [f.name for f in fields(self)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no option {', '.join(map(repr, unknown))}; its options are {names}")
        return replace(self, **options) if options else self


def resolve_config(cls: type[Config], config: Config | None, options: dict[str, Any]) -> Config:
    """``config`` (default ``cls()``) with the keyword ``options`` of an attack call replaced."""
    if config is not None and not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    return (config or cls()).updated(**options)


def check_step_options(steps: int, step_size: float | None, norm: str, norms: tuple[str, ...] = ("linf", "l2")) -> None:
    """The checks every iterative attack's config shares: ``steps >= 1``, ``step_size`` None or >= 0, a known ``norm``."""
    check_positive_int(steps, "steps")
    if step_size is not None:
        check_nonnegative(step_size, "step_size")
    check_choice(norm, norms, name="norm")


def default_step_size(eps: float, steps: int, step_size: float | None) -> float:
    """``step_size``, or ``2.5 * eps / steps`` (Madry et al.) when it is ``None``."""
    return 2.5 * eps / steps if step_size is None else step_size

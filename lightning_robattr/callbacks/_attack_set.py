"""``AttackSet``: the attacks a callback runs, one optional config per field (``None``: not run)."""

from dataclasses import dataclass, fields
from typing import ClassVar, get_args

from ..attacks import AttackConfig


@dataclass(frozen=True)
class AttackSet:
    """Base of ``DetectionAttacks`` and ``UnforeseenAttacks``: each field is an attack's config or ``None``.

    Built, it refuses a field that holds another config class and an empty set (``example`` is the
    YAML spelling the message suggests); a subclass adds its own checks in ``check``.
    """

    example: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            config, expected = getattr(self, f.name), get_args(f.type)[0]
            if config is not None and not isinstance(config, expected):
                raise TypeError(f"attacks.{f.name} must be a {expected.__name__} (or None: not run), got {type(config).__name__}")
        if not self.selected():
            names = ", ".join(f.name for f in fields(self))
            raise ValueError(f"attacks must name at least one of {names}, e.g. {self.example}")
        self.check()

    def check(self) -> None:
        """Raise for a combination the callback cannot run (a subclass checks its own)."""

    def selected(self) -> dict[str, AttackConfig]:
        """The config of every attack run, by name, in the order of the fields."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

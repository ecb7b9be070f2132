"""The configs installed with the package: one YAML per regime (``configs/``) and the evaluation-callback sets (``callbacks/``).

In a checkout, ``configs/`` and ``callbacks/`` at the top level point here, so the same
names work there and after a plain ``pip install``: ``--config configs/ssr.yaml`` is read
from the current folder when that file exists there, and from the package otherwise.

Example:
    >>> resolve_config("configs/ssr.yaml").endswith("ssr.yaml")
    True
    >>> "default.yaml" in [p.name for p in CALLBACK_SETS.iterdir()]
    True
"""

from pathlib import Path

REGIME_CONFIGS = Path(__file__).resolve().parent
CALLBACK_SETS = REGIME_CONFIGS / "callbacks"
# the evaluation callbacks every fit/validate/test gets unless a later --config replaces trainer.callbacks
DEFAULT_CALLBACKS = CALLBACK_SETS / "default.yaml"

_PACKAGED = {"configs": REGIME_CONFIGS, "callbacks": CALLBACK_SETS}


def resolve_config(name: str) -> str:
    """The file a ``--config`` value names: ``name`` itself when it exists, else the packaged ``configs/...`` or ``callbacks/...``.

    A value that is not a ``.yaml``/``.yml`` path (an inline YAML string) is returned unchanged.

    Raises:
        FileNotFoundError: a ``.yaml`` path that exists neither as a file nor among the packaged configs.
    """
    if Path(name).exists() or not name.endswith((".yaml", ".yml")):
        return name
    head, _, rest = Path(name).as_posix().partition("/")
    packaged = _PACKAGED[head] / rest if head in _PACKAGED and rest else None
    if packaged is not None and packaged.is_file():
        return str(packaged)
    raise FileNotFoundError(
        f"--config {name!r} does not exist; give the path of a YAML file, or a packaged one: "
        f"configs/<regime>.yaml ({', '.join(config_names(REGIME_CONFIGS))}), "
        f"configs/cifar10/<regime>.yaml or callbacks/<set>.yaml ({', '.join(config_names(CALLBACK_SETS))})"
    )


def config_names(folder: Path) -> list[str]:
    """The sorted names of the YAML files directly in ``folder`` (``REGIME_CONFIGS``, a subfolder of it, or ``CALLBACK_SETS``)."""
    return sorted(p.name for p in folder.glob("*.yaml"))


def config_folders() -> list[Path]:
    """The packaged folders of regime configs: ``REGIME_CONFIGS`` and its subfolders (``cifar10``, ``mnist``, ``smoke``)."""
    return [REGIME_CONFIGS, *sorted(p for p in REGIME_CONFIGS.iterdir() if p.is_dir() and p != CALLBACK_SETS and config_names(p))]

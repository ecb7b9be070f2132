"""Sphinx extension: the API is documented under its public import paths only.

* A cross-reference to a private path (``lightning_robattr.attacks._threat_models.ThreatModel``,
  as type hints and base classes name it) resolves to the public name that exports the object
  (``lightning_robattr.attacks.ThreatModel``).
* Every name in the ``__all__`` of a public package must be documented under that package:
  a missing one is a warning, so a strict build (``-W``) fails.
"""

import functools
import importlib
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)

# the public packages; the top-level package re-exports the regimes, documented under lightning_robattr.regimes
PUBLIC_PACKAGES = (
    "lightning_robattr.attacks",
    "lightning_robattr.attributions",
    "lightning_robattr.callbacks",
    "lightning_robattr.data",
    "lightning_robattr.detection",
    "lightning_robattr.loggers",
    "lightning_robattr.losses",
    "lightning_robattr.metrics",
    "lightning_robattr.metrics.functional",
    "lightning_robattr.models",
    "lightning_robattr.regimes",
    "lightning_robattr.reproduce",
)


@functools.cache
def public_names() -> dict[str, str]:
    """``{private dotted path: public dotted path}`` for every class and function of a public ``__all__``."""
    names = {}
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if hasattr(obj, "__module__") and hasattr(obj, "__qualname__"):
                names[f"{obj.__module__}.{obj.__qualname__}"] = f"{package}.{name}"
    return names


def resolve_private(app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element) -> Any:
    """``missing-reference`` handler: retry a private ``lightning_robattr`` target under its public name."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("lightning_robattr."):
        return None
    public = public_names().get(target)
    if public is None:
        return None
    node["reftarget"] = public
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"], public, node, contnode)


def check_documented(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn for every public ``__all__`` name that no page documents."""
    documented = set(env.get_domain("py").objects)
    for package in PUBLIC_PACKAGES:
        for name in importlib.import_module(package).__all__:
            if f"{package}.{name}" not in documented:
                logger.warning("%s.%s is in %s.__all__ but no page documents it", package, name, package)


def skip_aliases(app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """``autodoc-skip-member`` handler: leave out a NamedTuple's fields (its ``Attributes:`` section
    describes them) and class attributes that merely hold a class (``dataset_class = MNIST``)."""
    if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    if what == "class" and isinstance(obj, type) and obj.__name__ != name:
        return True
    return None


def drop_object_base(app: Sphinx, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """``autodoc-process-bases`` handler: no "Bases: object" line."""
    if bases == [object]:
        bases.clear()


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-skip-member", skip_aliases)
    app.connect("autodoc-process-bases", drop_object_base)
    app.connect("missing-reference", resolve_private)
    app.connect("env-check-consistency", check_documented)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

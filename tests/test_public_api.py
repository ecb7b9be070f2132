"""The public surface is what the subpackages' ``__all__`` list; every other module is named private, and the
docs, README and scripts reach the package only through public paths."""

import importlib
import re
from pathlib import Path

import pytest

import lightning_robattr

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lightning_robattr"
PUBLIC_PACKAGES = [
    "lightning_robattr", "lightning_robattr.attacks", "lightning_robattr.attributions", "lightning_robattr.callbacks",
    "lightning_robattr.data", "lightning_robattr.detection", "lightning_robattr.losses", "lightning_robattr.metrics",
    "lightning_robattr.metrics.functional", "lightning_robattr.models", "lightning_robattr.regimes", "lightning_robattr.reproduce",
]
PUBLIC_MODULES = {"lightning_robattr.cli", "lightning_robattr.configs", "lightning_robattr.loggers"}
IMPORT = re.compile(r"(?:from|import)\s+(lightning_robattr(?:\.\w+)*)")


def dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def is_public(module: str) -> bool:
    """A path every segment of which is public: a public package, a public module, or ``__main__`` of one."""
    return module in PUBLIC_PACKAGES or module in PUBLIC_MODULES or (
        module.endswith(".__main__") and module.removesuffix(".__main__") in [*PUBLIC_PACKAGES, *PUBLIC_MODULES]
    )


def test_every_module_is_public_by_name_or_named_private():
    for path in PACKAGE.rglob("*.py"):
        module = dotted(path)
        private = any(part.startswith("_") and not part.startswith("__") for part in module.split("."))
        assert private or is_public(module), f"{module} is neither a public package/module nor named private (_name)"


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_every_public_name_exists_and_is_listed_once(package):
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), f"{package}.__all__ lists a name twice"
    for name in names:
        assert hasattr(module, name), f"{package}.__all__ names {name}, which it does not define"


def test_attacks_list_the_attacks_their_configs_records_threat_models_and_the_loop():
    attacks = importlib.import_module("lightning_robattr.attacks")
    for name in ("pgd", "PGDConfig", "SuccessRecord", "attribution_attack", "AttributionAttackConfig", "AttributionAttackRecord",
                 "aai", "AAIConfig", "isa", "ISAConfig", "ThreatModel", "LinfBall", "threat_model", "projected_gradient_ascent",
                 "AttackConfig", "parse_eps"):
        assert name in attacks.__all__
    # building blocks are not the attacks' public surface
    for name in ("cross_entropy", "cw_margin", "dlr", "classification_loss", "patch_locations", "patch_shape"):
        assert name not in attacks.__all__


def sources() -> list[Path]:
    """The docs, the README and the scripts a user runs or copies (the ``bench_*`` scripts time internals against
    written-out references; the migration note names old paths on purpose)."""
    docs = [*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("scripts/*.py")]
    return [p for p in docs if p.name != "migration.md" and not p.name.startswith("bench")]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_readme_and_scripts_import_only_public_paths(path):
    private = [m for m in IMPORT.findall(path.read_text()) if not is_public(m)]
    assert not private, f"{path.name} imports private paths {sorted(set(private))}; import from the public package instead"


def test_the_top_level_package_exports_the_regimes():
    assert {"NaturalModule", "MadryModule", "SSRModule"} <= set(lightning_robattr.__all__)

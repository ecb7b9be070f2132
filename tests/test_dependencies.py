"""Every third-party module the package imports is a declared dependency (an optional extra only where it is imported lazily)."""

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lightning_robattr"


def imported(path: Path) -> tuple[set[str], set[str]]:
    """The top-level names of the absolute imports of ``path``: (at module level, inside functions)."""
    tree = ast.parse(path.read_text())
    lazy = {id(node) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in ast.walk(fn)}
    eager, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        (inner if id(node) in lazy else eager).update(name.split(".")[0] for name in names)
    return eager, inner


def distribution(requirement: str) -> str:
    """``"jsonargparse[signatures]>=4.27"`` -> ``"jsonargparse"``, normalised."""
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_imported_third_party_module_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {distribution(r) for r in project["dependencies"]}
    extras = {distribution(r) for group in project["optional-dependencies"].values() for r in group}
    providers = packages_distributions()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        eager, inner = imported(path)
        for module, allowed in [(m, required) for m in eager] + [(m, required | extras) for m in inner - eager]:
            if module in sys.stdlib_module_names or module == "lightning_robattr":
                continue
            names = {name.lower().replace("_", "-") for name in providers.get(module, [module])}
            if not names & allowed:
                missing.append(f"{path.relative_to(ROOT)} imports {module} (from {', '.join(sorted(names))})")
    assert not missing, "declare in pyproject.toml [project] dependencies:\n" + "\n".join(missing)

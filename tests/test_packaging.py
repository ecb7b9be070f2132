"""A non-editable install (a built wheel) carries the configs and the default evaluation set."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package built as a wheel and installed (without dependencies) into a fresh folder."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(folder)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(folder.glob("lightning_robattr-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {path.relative_to(ROOT).as_posix() for path in (ROOT / "lightning_robattr" / "configs").rglob("*.yaml")}
    assert "lightning_robattr/configs/callbacks/default.yaml" in shipped and "lightning_robattr/configs/smoke/madry.yaml" in shipped
    assert shipped <= set(names), sorted(shipped - set(names))
    target = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return target


def run_installed(target: Path, cwd: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_installed_package_is_the_one_imported(installed, tmp_path):
    where = run_installed(installed, tmp_path, "-c", "import lightning_robattr; print(lightning_robattr.__file__)")
    assert where.strip().startswith(str(installed))


def test_a_packaged_config_runs_with_the_default_evaluation_set_outside_a_checkout(installed, tmp_path):
    printed = run_installed(installed, tmp_path, "-m", "lightning_robattr", "fit", "--config", "configs/ssr.yaml", "--print_config")
    assert "lightning_robattr.regimes.SSRModule" in printed
    for callback in ("PGDEval", "AttributionAttackEval", "AttributionMapLogger"):
        assert f"lightning_robattr.callbacks.{callback}" in printed


def test_a_packaged_callback_set_replaces_the_default_one(installed, tmp_path):
    printed = run_installed(installed, tmp_path, "-m", "lightning_robattr", "fit", "-c", "configs/cifar10/madry.yaml",
                            "-c", "callbacks/none.yaml", "--print_config")
    assert "lightning_robattr.regimes.MadryModule" in printed and "PGDEval" not in printed

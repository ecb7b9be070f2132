"""The documentation site builds strictly: no warning, no broken reference, every public name documented.

The build is the one docs/development.md gives (``sphinx-build -W --keep-going -n -b html``), run
in a subprocess so that it imports the package afresh.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")

DOCS = Path(__file__).resolve().parent.parent / "docs"


def build(source: Path, out: Path) -> subprocess.CompletedProcess:
    """Build ``source`` into ``out`` in strict mode; the completed process, its output captured."""
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html", str(source), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_docs_build_without_warnings(tmp_path):
    result = build(DOCS, tmp_path / "html")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr[-5000:]
    for page in ("index", "attacks", "explanation_attacks", "regimes", "errors"):
        assert (tmp_path / "html" / f"{page}.html").is_file()
    # the API entries are there under their public import paths
    attacks = (tmp_path / "html" / "attacks.html").read_text()
    assert 'id="lightning_robattr.attacks.pgd"' in attacks

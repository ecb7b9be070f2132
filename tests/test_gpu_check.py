"""``scripts/gpu_check.py --device cpu --quick``: its table has every regime x precision and passing comparisons."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "gpu_check.py"
REGIMES = ("natural", "madry", "trades", "ssr", "ig_norm", "int")
PRECISIONS = ("16-mixed", "bf16-mixed")


@pytest.mark.slow
def test_quick_cpu_run_writes_one_table_with_every_check(tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out)],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert out.read_text() == run.stdout
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in run.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == ["check", "case", "ran as", "value", "tolerance or reference", "result"]
    body = [row for row in rows[1:] if len(row) == 6]
    assert len(body) == len(rows) - 1, "a cell holds a stray '|'"

    train = {row[1]: row for row in body if row[0] == "train"}
    assert set(train) == {f"{name}, {precision}" for name in REGIMES for precision in PRECISIONS}
    assert all(row[5] == "pass" and "s/step" in row[3] for row in train.values())
    assert train["madry, 16-mixed"][2] == "bf16-mixed (cpu)"  # Lightning 2.x runs 16-mixed as bf16-mixed on a CPU

    compare = [row for row in body if row[0] == "compare"]
    assert [row[1].split(",")[0] for row in compare] == ["PGD-10", "integrated gradients", "saliency"]
    assert all(row[5] == "pass" for row in compare)

    timed = {row[1].split(" / ")[0]: row for row in body if row[0] == "time"}
    assert {"PGD-10", "IG 16 steps", *(f"{name} training step" for name in REGIMES[1:])} <= set(timed)
    assert any(name.startswith("autoattack") for name in timed)  # timed, or skipped without pyautoattack
    assert all(float(row[3]) > 0 for row in timed.values() if row[5] != "skipped")

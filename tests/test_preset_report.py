"""scripts/preset_curves.py, the preset report of docs/presets.md, on a two-epoch run."""

import csv
import os
import subprocess
import sys
from pathlib import Path

from lightning_robattr.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_the_preset_report_measures_every_kept_checkpoint_and_plots_them(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        main(["fit", "-c", str(ROOT / "configs" / "natural.yaml"), "-c", str(ROOT / "callbacks" / "none.yaml"),
              "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "4", "--trainer.limit_val_batches", "1",
              "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", "run",
              "--checkpoint.save_top_k", "-1", "--checkpoint.filename", "e{epoch}"])
    finally:
        os.chdir(cwd)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "preset_curves.py"), f"natural={tmp_path / 'run'}", "--images", "16",
         "--autoattack-images", "8", "--out", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "report" / "results.csv")))
    assert [row["epochs"] for row in rows] == ["1", "2"]
    assert rows[0]["autoattack_acc"] == "" and rows[1]["autoattack_acc"] != ""  # AutoAttack on the last checkpoint only
    for row in rows:
        assert 0.0 <= float(row["apgd_acc"]) <= float(row["pgd40_acc"]) <= float(row["clean_acc"]) <= 1.0
    assert float(rows[1]["apgd_acc"]) < float(rows[1]["clean_acc"])  # a natural net is not robust at eps 0.3
    assert (tmp_path / "report" / "curves.png").stat().st_size > 10_000
    assert "| natural | 2 |" in done.stdout

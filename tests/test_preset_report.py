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


def test_the_preset_report_evaluates_a_fashion_mnist_run_on_its_own_test_images(tmp_path):
    import torch
    from test_data_torchvision import write_mnist

    from lightning_robattr.regimes import read_checkpoint

    arrays = write_mnist(tmp_path / "fashion", train=80)  # flat, as the OS package installs it
    main(["fit", "-c", str(ROOT / "configs" / "fashion_mnist" / "natural.yaml"), "-c", str(ROOT / "callbacks" / "none.yaml"),
          "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
          "--trainer.default_root_dir", str(tmp_path / "run"), "--data.init_args.root", str(tmp_path / "fashion"),
          "--data.init_args.val_size", "10", "--data.init_args.batch_size", "10", "--checkpoint.save_top_k", "-1"])
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "preset_curves.py"), f"natural={tmp_path / 'run'}", "--eps", "0.1", "--images", "16",
         "--autoattack-images", "4", "--out", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [row] = list(csv.DictReader(open(tmp_path / "report" / "results.csv")))
    # the oracle: the checkpoint's accuracy on the first 16 test images the test wrote (not MNIST5k's digits)
    [checkpoint] = [path for path in (tmp_path / "run").glob("lightning_logs/*/version_0/checkpoints/*.ckpt") if path.name != "last.ckpt"]
    state = {k[len("net."):]: v for k, v in read_checkpoint(checkpoint)["state_dict"].items() if k.startswith("net.")}
    from lightning_robattr.models import Small

    net = Small(in_channels=1, num_classes=10).eval()
    net.load_state_dict(state)
    images, labels = arrays["test"]
    x = torch.from_numpy(images[:16]).float().div(255).unsqueeze(1)
    with torch.no_grad():
        expected = (net(x).argmax(1) == torch.from_numpy(labels[:16]).long()).float().mean().item()
    assert float(row["clean_acc"]) == expected

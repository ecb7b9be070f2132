"""The command line: config validation, checkpoints, TensorBoard, resume, precision and regime checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Callback, Trainer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_robattr.cli import main
from lightning_robattr.data import MNIST5k
from lightning_robattr.models import Small
from lightning_robattr.regimes import NaturalModule

ROOT = Path(__file__).resolve().parents[1]
NATURAL = str(ROOT / "configs" / "natural.yaml")
NO_CALLBACKS = str(ROOT / "callbacks" / "none.yaml")
SHORT = ["--config", NO_CALLBACKS, "--trainer.limit_train_batches", "6", "--trainer.log_every_n_steps", "1", "--trainer.limit_val_batches", "2", "--trainer.enable_progress_bar", "false"]


def run_cli(tmp_path: Path, *args: str) -> object:
    """Run the CLI in-process inside ``tmp_path`` (logs and checkpoints land there)."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return main(list(args))
    finally:
        os.chdir(cwd)


def scalars(log_dir: Path) -> dict[str, list[float]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_config_typo_is_refused_naming_the_key(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli(tmp_path, "fit", "--config", NATURAL, "--trainer.max_epohcs", "1")
    assert "max_epohcs" in capsys.readouterr().err


def test_typo_inside_model_init_args_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(NATURAL).read_text().replace("scheduler_interval:", "scheduler_intreval:"))
    with pytest.raises(SystemExit):
        run_cli(tmp_path, "fit", "--config", str(bad))
    assert "scheduler_intreval" in capsys.readouterr().err


def test_print_config_shows_the_resolved_config(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(tmp_path, "fit", "--config", NATURAL, "--print_config")
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "lightning_robattr.models.Small" in printed and "inference_mode: false" in printed


def test_fit_writes_tensorboard_curves_and_checkpoints_then_test_evaluates_them(tmp_path):
    run_cli(tmp_path, "fit", "--config", NATURAL, "--trainer.max_epochs", "2", *SHORT)
    version = tmp_path / "lightning_logs" / "natural" / "version_0"
    checkpoints = sorted(p.name for p in (version / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints and any(name.startswith("best-") for name in checkpoints)
    logged = scalars(version)
    assert {"train/loss", "train/ce", "val/acc", "val/loss", "train/acc"} <= set(logged)
    assert any(tag.startswith("lr-") for tag in logged)
    assert len(logged["val/acc"]) == 2

    cli = run_cli(tmp_path, "test", "--config", NATURAL, "--ckpt_path", str(version / "checkpoints" / "last.ckpt"), *SHORT)
    assert 0.0 <= cli.trainer.callback_metrics["test/acc"].item() <= 1.0


class CrashInEpoch(Callback):
    """Simulates a crash in the middle of the given epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == 3:
            raise RuntimeError("simulated crash")


def test_a_crash_mid_epoch_loses_only_that_epoch_and_resuming_reproduces_training(tmp_path, monkeypatch):
    (tmp_path / "full").mkdir()
    (tmp_path / "crashed").mkdir()
    full = run_cli(tmp_path / "full", "fit", "--config", NATURAL, "--trainer.max_epochs", "2", *SHORT)

    monkeypatch.chdir(tmp_path / "crashed")
    crashed = main(["--config", NATURAL, "--trainer.max_epochs", "2", *SHORT], run=False)
    crashed.trainer.callbacks.append(CrashInEpoch(1))
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.trainer.fit(crashed.model, crashed.datamodule)
    last = tmp_path / "crashed" / "lightning_logs" / "natural" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0

    resumed = run_cli(tmp_path / "crashed", "fit", "--config", NATURAL, "--trainer.max_epochs", "2", "--ckpt_path", str(last), *SHORT)
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_same_seed_and_config_reproduce_the_same_metrics(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = run_cli(tmp_path / "a", "fit", "--config", NATURAL, "--trainer.max_epochs", "1", *SHORT)
    b = run_cli(tmp_path / "b", "fit", "--config", NATURAL, "--trainer.max_epochs", "1", *SHORT)
    assert a.trainer.callback_metrics["val/loss"].item() == b.trainer.callback_metrics["val/loss"].item()


def test_bf16_mixed_precision_trains_on_cpu(tmp_path):
    cli = run_cli(tmp_path, "fit", "--config", NATURAL, "--trainer.max_epochs", "1", "--trainer.precision", "bf16-mixed", *SHORT)
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])


class OtherRegime(NaturalModule):
    regime = "other"


def test_checkpoint_from_another_regime_is_refused(tmp_path):
    run_cli(tmp_path, "fit", "--config", NATURAL, "--trainer.max_epochs", "1", *SHORT)
    last = tmp_path / "lightning_logs" / "natural" / "version_0" / "checkpoints" / "last.ckpt"
    trainer = Trainer(limit_val_batches=1, logger=False, enable_progress_bar=False, inference_mode=False, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match="trained with the 'natural' regime .* 'other'"):
        trainer.validate(OtherRegime(Small()), MNIST5k(batch_size=8), ckpt_path=last)


def test_non_finite_loss_stops_training_naming_regime_step_and_part(tmp_path):
    class Exploding(NaturalModule):
        regime = "exploding"

        def regime_loss(self, x, y):
            loss, logits, parts = super().regime_loss(x, y)
            return loss * float("nan"), logits, {**parts, "penalty": torch.tensor(float("inf"))}

    trainer = Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(FloatingPointError, match=r"exploding regime: loss .* global step 0"):
        trainer.fit(Exploding(Small()), MNIST5k(batch_size=8))


def test_two_process_ddp_validation_accuracy_equals_single_process(tmp_path):
    """A 2-process CPU DDP fit logs the validation accuracy a 1-process run measures on its checkpoint."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    common = ["--config", NATURAL, "--config", NO_CALLBACKS, "--trainer.limit_train_batches", "4", "--trainer.enable_progress_bar", "false"]
    subprocess.run(
        [sys.executable, "-m", "lightning_robattr", "fit", *common, "--trainer.max_epochs", "1",
         "--trainer.devices", "2", "--trainer.strategy", "ddp"],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=240,
    )
    version = tmp_path / "lightning_logs" / "natural" / "version_0"
    ddp_acc = scalars(version)["val/acc"][-1]
    single = run_cli(tmp_path, "validate", *common, "--ckpt_path", str(version / "checkpoints" / "last.ckpt"))
    assert single.trainer.callback_metrics["val/acc"].item() == pytest.approx(ddp_acc, abs=1e-6)


def test_help_names_the_command_the_regimes_configs_and_callback_sets_and_a_data_module_resolves_by_name(tmp_path):
    from test_cli_terminal import cli

    from lightning_robattr import regimes
    from lightning_robattr.configs import CALLBACK_SETS, REGIME_CONFIGS

    done = cli(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m lightning_robattr ")
    for name in [n for n in regimes.__all__ if n.endswith("Module")] + [p.name for p in REGIME_CONFIGS.glob("*.yaml")] + [
            p.name for p in CALLBACK_SETS.glob("*.yaml")] + ["configs/cifar10/", "configs/smoke/"]:
        assert name in done.stdout, name
    fit_help = cli(tmp_path, "fit", "--help")
    assert fit_help.returncode == 0 and "--summary.tags" in fit_help.stdout and "--checkpoint.monitor" in fit_help.stdout
    shown = cli(tmp_path, "fit", "--data.help", "MNIST5k")  # a short class name: every data module is a known subclass
    assert shown.returncode == 0 and "--data.batch_size" in shown.stdout, shown.stderr

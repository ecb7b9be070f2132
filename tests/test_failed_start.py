"""A run that fails before it produced anything leaves no ``lightning_logs/version_N`` behind; one that produced results keeps it."""

import pytest
from test_cli import NATURAL, SHORT, run_cli
from test_cli_terminal import cli

from lightning_robattr.cli import TRACEBACK_VARIABLE

FIVE_CLASSES = ["--model.init_args.net.init_args.num_classes", "5"]  # MNIST5k has 10: refused at setup


def versions(root) -> list[str]:
    return sorted(p.name for p in (root / "lightning_logs" / "natural").glob("version_*"))


def test_a_setup_failure_on_the_command_line_leaves_no_run_folder_with_or_without_the_traceback(tmp_path):
    done = cli(tmp_path, "fit", "-c", NATURAL, *SHORT, *FIVE_CLASSES)
    assert done.returncode == 2 and done.stderr.splitlines()[-2].startswith("error: MNIST5k holds labels up to 9"), done.stderr
    traced = cli(tmp_path, "fit", "-c", NATURAL, *SHORT, *FIVE_CLASSES, **{TRACEBACK_VARIABLE: "1"})
    assert traced.returncode == 1 and "Traceback" in traced.stderr
    assert (tmp_path / "lightning_logs").is_dir()  # the folders were claimed (config.yaml written) and then removed
    assert versions(tmp_path) == []


def test_a_failure_after_a_checkpoint_keeps_the_run_folder_and_the_next_run_takes_the_next_number(tmp_path):
    crash = ["--trainer.callbacks+=test_cli.CrashInEpoch", "--trainer.callbacks.epoch=1"]  # epoch 0 is checkpointed first
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_cli(tmp_path, "fit", "--config", NATURAL, "--trainer.max_epochs", "2", *SHORT, *crash)
    assert versions(tmp_path) == ["version_0"]
    assert (tmp_path / "lightning_logs" / "natural" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    with pytest.raises(ValueError, match="labels up to 9"):
        run_cli(tmp_path, "fit", "--config", NATURAL, *SHORT, *FIVE_CLASSES)
    assert versions(tmp_path) == ["version_0"]  # version_1 was claimed by the failed start and removed

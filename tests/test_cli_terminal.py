"""What the command line prints when its output is piped (as under nohup): plain lines, no warnings of our making,
the run folder and best checkpoint, a test that works without the AutoAttack extra, and user errors without tracebacks."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_robattr.cli import TRACEBACK_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
NATURAL = str(ROOT / "configs" / "natural.yaml")
SHORT = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1"]
# pyautoattack hidden, as after a plain `pip install -e .` without the autoattack extra
WITHOUT_AUTOATTACK = "import runpy, sys; sys.modules['pyautoattack'] = None; runpy.run_module('lightning_robattr', run_name='__main__')"
WARNING_LINE = re.compile(r"\.py:\d+: ")  # how Python prints a warning


def cli(cwd: Path, *args: str, without_autoattack: bool = False, **env: str) -> subprocess.CompletedProcess:
    """``python -m lightning_robattr ARGS`` in ``cwd`` with stdout and stderr piped."""
    entry = ["-c", WITHOUT_AUTOATTACK] if without_autoattack else ["-m", "lightning_robattr"]
    environment = {key: value for key, value in os.environ.items() if key != TRACEBACK_VARIABLE}
    environment.update(OMP_NUM_THREADS="1", **env)
    return subprocess.run([sys.executable, *entry, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def piped_fit(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A 2-epoch fit with the default evaluation callbacks, its output piped: the folder and the finished process."""
    folder = tmp_path_factory.mktemp("piped")
    return folder, cli(folder, "fit", "-c", NATURAL, "--trainer.max_epochs", "2", *SHORT)


def test_a_piped_fit_prints_one_plain_line_per_epoch_the_run_folder_and_the_best_checkpoint(piped_fit):
    folder, done = piped_fit
    assert done.returncode == 0, done.stderr[-3000:]
    for stream in (done.stdout, done.stderr):
        assert "\x1b" not in stream and "\r" not in stream  # no progress bars, no cursor movements
    lines = done.stdout.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["0", "1"]
    for line in epochs:
        for tag in ("val/acc=", "robust/pgd_linf/eps=0.1/steps=10/acc=", "robust/pgd_linf/eps=0.3/steps=10/acc=",
                    "attr/saliency/topk/topk_intersection_auc="):
            assert tag in line, line
    assert "run folder: lightning_logs/natural/version_0" in lines
    best = next(line for line in lines if line.startswith("best checkpoint: ")).removeprefix("best checkpoint: ").split(" (val/acc ")[0]
    assert (folder / best).is_file() and Path(best).parent == Path("lightning_logs/natural/version_0/checkpoints")


def test_a_normal_run_shows_no_warning_of_our_making(piped_fit):
    _, done = piped_fit
    assert not [line for line in done.stderr.splitlines() if WARNING_LINE.search(line)], done.stderr
    for noise in ("args parameter", "litlogger", "LeafSpec", "Traceback"):
        assert noise not in done.stderr


def test_test_without_the_autoattack_extra_warns_once_and_reports_everything_else(piped_fit):
    folder, fit = piped_fit
    best = next(line for line in fit.stdout.splitlines() if line.startswith("best checkpoint: ")).split()[2]
    # the default set's AutoAttack entry and a second one: Python shows the warning once
    second = ["--trainer.callbacks+=lightning_robattr.callbacks.PGDEval", "--trainer.callbacks.eps=[0.3]", "--trainer.callbacks.steps=[]",
              "--trainer.callbacks.reference=autoattack", "--trainer.callbacks.schedule.every_n_epochs=0"]
    done = cli(folder, "test", "-c", NATURAL, "--ckpt_path", best, "--trainer.limit_test_batches", "1", *second, without_autoattack=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("AutoAttack is not installed") == 1, done.stderr
    assert 'pip install -e ".[autoattack]"' in done.stderr and 'pip install "lightning_robattr[autoattack]"' in done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("test ")]
    assert "test/acc=" in line and "robust/pgd_linf/eps=0.1/steps=10/acc=" in line and "attr/saliency/topk/topk_intersection_auc=" in line
    assert "autoattack" not in done.stdout
    assert f"checkpoint: {best}" in done.stdout.splitlines()


def test_user_errors_end_in_one_message_and_exit_code_2_and_the_variable_brings_the_traceback(tmp_path):
    missing = cli(tmp_path, "test", "-c", NATURAL, "--ckpt_path", "missing.ckpt")
    unknown = cli(tmp_path, "fit", "-c", "configs/nope.yaml")
    for done, message in ((missing, "ckpt_path 'missing.ckpt' does not exist"), (unknown, "--config 'configs/nope.yaml' does not exist")):
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith(f"error: {message}") and "ROBATTR_TRACEBACK=1" in done.stderr
    traced = cli(tmp_path, "test", "-c", NATURAL, "--ckpt_path", "missing.ckpt", ROBATTR_TRACEBACK="1")
    assert traced.returncode == 1 and "Traceback" in traced.stderr and "FileNotFoundError: ckpt_path 'missing.ckpt'" in traced.stderr

"""Nothing the user trains is lost: last.ckpt after every epoch (and every N steps), exact resume after SIGKILL,
--ckpt_path checked before any work, the CLI's own choices kept over the checkpoint's."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_cli import run_cli

from lightning_robattr.cli import main
from lightning_robattr.data import ResumableLoader

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SHORT = ["--trainer.limit_train_batches", "5", "--trainer.limit_val_batches", "2", "--trainer.enable_progress_bar", "false",
         "--trainer.enable_model_summary", "false"]
# plain SGD with a learning rate so small that val/acc stays flat (a plateau) while the weights still move
PLATEAU = ["--model.init_args.optimizer", "torch.optim.SGD", "--model.init_args.optimizer.lr", "1e-5",
           "--model.init_args.lr_scheduler", "null"]


def fit_subprocess(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m lightning_robattr fit -c configs/natural.yaml ...`` in ``cwd`` with the default evaluation callbacks on."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "lightning_robattr", "fit", "-c", "configs/natural.yaml", *SHORT, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def checkpoint_dir(root: Path, version: int = 0) -> Path:
    return root / "lightning_logs" / "natural" / f"version_{version}" / "checkpoints"


def final_weights(root: Path, version: int) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint_dir(root, version) / "last.ckpt", weights_only=True)["state_dict"]


def test_sigkill_mid_epoch_after_a_val_acc_plateau_loses_one_epoch_and_resume_is_bit_identical(tmp_path):
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    epochs = ["--trainer.max_epochs", "3", *PLATEAU]
    whole = fit_subprocess(tmp_path, *epochs)
    assert whole.returncode == 0, whole.stderr[-3000:]

    killer = ["--trainer.callbacks+=crash_callbacks.KillAt", "--trainer.callbacks.epoch=2", "--trainer.callbacks.batch=3"]
    killed = fit_subprocess(tmp_path, *epochs, *killer)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    folder = checkpoint_dir(tmp_path, 1)
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 1  # epochs 0 and 1 completed
    best = [p.name for p in folder.glob("best-*.ckpt")]
    assert best == ["best-epoch=0.ckpt"], f"val/acc did not plateau, the test proves nothing: {best}"

    resumed = fit_subprocess(tmp_path, *epochs, "--ckpt_path", str(folder / "last.ckpt"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    reference, resumed_weights = final_weights(tmp_path, 0), final_weights(tmp_path, 2)
    assert reference.keys() == resumed_weights.keys()
    for name, value in reference.items():
        torch.testing.assert_close(resumed_weights[name], value, rtol=0, atol=0, msg=name)
    moved = torch.load(folder / "best-epoch=0.ckpt", weights_only=True)["state_dict"]["net.classifier.weight"]
    assert not torch.equal(moved, reference["net.classifier.weight"])  # training did change the weights


class _CrashAt(Exception):
    pass


def test_every_n_train_steps_checkpoint_resumes_mid_epoch_exactly(tmp_path, monkeypatch):
    def run(folder: str, *extra: str, crash_at: tuple[int, int] | None = None, ckpt: str | None = None):
        (tmp_path / folder).mkdir(exist_ok=True)
        monkeypatch.chdir(tmp_path / folder)
        args = ["-c", str(ROOT / "configs" / "natural.yaml"), "-c", str(ROOT / "callbacks" / "none.yaml"), *SHORT,
                "--trainer.max_epochs", "2", "--last_checkpoint.every_n_train_steps", "2", *extra]
        cli = main(args, run=False)
        if crash_at is not None:
            from pytorch_lightning import Callback

            class Crash(Callback):
                def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                    if (trainer.current_epoch, batch_idx) == crash_at:
                        raise _CrashAt

            cli.trainer.callbacks.append(Crash())
        cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=ckpt)
        return cli

    whole = run("whole")
    with pytest.raises(_CrashAt):
        run("crashed", crash_at=(1, 3))  # batches 0-2 of epoch 1 trained: optimiser steps 6, 7, 8
    last = tmp_path / "crashed" / "lightning_logs" / "natural" / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert (saved["epoch"], saved["global_step"]) == (1, 8)
    resumed = run("crashed", ckpt=str(last))
    assert resumed.trainer.global_step == whole.trainer.global_step == 10
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)


def test_resumable_loader_replays_the_rest_of_an_epoch_and_the_global_generator():
    data = torch.arange(40.0).unsqueeze(1)

    def loader() -> ResumableLoader:
        return ResumableLoader(data, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(3))

    torch.manual_seed(0)
    first = loader()
    epoch = iter(first)
    seen = [next(epoch) for _ in range(3)]
    state, global_state = first.state_dict(), torch.get_rng_state()
    rest = list(epoch)
    next_epoch = list(first)

    second = loader()
    second.load_state_dict(state)
    torch.set_rng_state(global_state)
    resumed = list(second)
    assert torch.equal(torch.get_rng_state(), global_state)  # skipping touched no global randomness
    assert len(seen) + len(rest) == 10 and all(torch.equal(a, b) for a, b in zip(rest, resumed)) and len(resumed) == 7
    assert all(torch.equal(a, b) for a, b in zip(next_epoch, list(second)))
    assert not torch.equal(torch.cat(rest), torch.cat(next_epoch[3:]))  # a new epoch is a new order


@pytest.fixture(scope="module")
def natural_checkpoint(tmp_path_factory) -> Path:
    """``last.ckpt`` of a 2-epoch natural run (one-cycle schedule over 10 steps)."""
    root = tmp_path_factory.mktemp("natural")
    run_cli(root, "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT, "--trainer.max_epochs", "2")
    return checkpoint_dir(root) / "last.ckpt"


def test_last_ckpt_is_written_after_every_epoch_whatever_val_acc_does(tmp_path, natural_checkpoint):
    cli = run_cli(tmp_path, "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT, *PLATEAU,
                  "--trainer.max_epochs", "3")
    assert torch.load(checkpoint_dir(tmp_path) / "last.ckpt", weights_only=True)["epoch"] == 2
    assert cli.trainer.current_epoch == 3


def test_default_root_dir_holds_logs_and_checkpoints(tmp_path):
    run_cli(tmp_path, "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT, "--trainer.max_epochs", "1",
            "--trainer.default_root_dir", "runs/here")
    assert (tmp_path / "runs" / "here" / "lightning_logs" / "natural" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    assert list((tmp_path / "runs" / "here" / "lightning_logs" / "natural" / "version_0").glob("events.out.tfevents.*"))
    assert not (tmp_path / "lightning_logs").exists()


def test_a_checkpoint_of_another_regime_is_refused_before_anything_is_built(tmp_path, natural_checkpoint, monkeypatch):
    from lightning_robattr.cli import RobAttrCLI

    monkeypatch.setattr(RobAttrCLI, "instantiate_classes", lambda self: pytest.fail("the model and data were built"))
    with pytest.raises(ValueError, match=r"trained with the 'natural' regime .* 'ssr' module .* use the 'natural' regime's config"):
        run_cli(tmp_path, "fit", "-c", "configs/ssr.yaml", "-c", "callbacks/none.yaml", *SHORT, "--ckpt_path", str(natural_checkpoint))


def test_a_command_line_override_is_kept_when_resuming(tmp_path, natural_checkpoint):
    cli = run_cli(tmp_path, "validate", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT,
                  "--model.init_args.scheduler_interval", "epoch", "--ckpt_path", str(natural_checkpoint))
    assert cli.model.scheduler_interval == "epoch"  # the checkpoint's hyperparameters said "step"


def test_extending_a_finished_one_cycle_run_is_refused_with_the_fix(tmp_path, natural_checkpoint):
    with pytest.raises(ValueError, match=r"OneCycleLR schedule spans 10 steps but this run has 15 .* cannot be extended: resume with"):
        run_cli(tmp_path, "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT, "--trainer.max_epochs", "3",
                "--ckpt_path", str(natural_checkpoint))


def test_a_truncated_checkpoint_is_refused_naming_the_file_and_the_fix(tmp_path, natural_checkpoint):
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(natural_checkpoint.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"truncated.ckpt' is not a readable checkpoint .* resume from another checkpoint"):
        run_cli(tmp_path, "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT, "--ckpt_path", str(truncated))


def test_an_unknown_config_lists_the_packaged_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--config 'configs/nope.yaml' does not exist; .*ssr.yaml.*callbacks/<set>.yaml"):
        run_cli(tmp_path, "fit", "-c", "configs/nope.yaml")


def test_last_checkpoint_refuses_a_step_interval_below_one():
    from lightning_robattr.callbacks import LastCheckpoint

    with pytest.raises(ValueError, match=r"every_n_train_steps must be a positive number .* use None"):
        LastCheckpoint(every_n_train_steps=0)

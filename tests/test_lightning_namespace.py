"""Both Lightning namespaces work: ``pytorch_lightning`` (the default) and ``lightning.pytorch`` (``import lightning as L``)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]

USER_SCRIPT = """
import lightning as L
from lightning_robattr.callbacks import EvaluationSchedule, LastCheckpoint, PGDEval
from lightning_robattr.data import MNIST5k
from lightning_robattr.models import Small
from lightning_robattr.regimes import AtomicCheckpointIO, SSRModule

module = SSRModule(Small())
assert isinstance(module, L.LightningModule)
trainer = L.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, inference_mode=False, logger=False,
                    enable_progress_bar=False, default_root_dir=".", callbacks=[PGDEval(eps=[0.1], steps=[1], schedule=EvaluationSchedule(num_samples=8)), LastCheckpoint()])
trainer.fit(module, datamodule=MNIST5k(batch_size=16))
assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
print("robust", float(trainer.callback_metrics["robust/pgd_linf/eps=0.1/steps=1/acc"]))
"""


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "ROBATTR_LIGHTNING"}
    return subprocess.run(command, cwd=cwd, env={**environment, "OMP_NUM_THREADS": "1", **env}, capture_output=True, text=True, timeout=300)


def test_regimes_and_callbacks_train_under_import_lightning_as_L(tmp_path):
    done = run([sys.executable, "-c", USER_SCRIPT], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 0.0 <= float(done.stdout.split("robust")[-1]) <= 1.0
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize(("choice", "expected"), [("lightning", "lightning.pytorch"), ("pytorch_lightning", "pytorch_lightning")])
def test_the_command_line_runs_on_the_namespace_chosen(tmp_path, choice, expected):
    done = run([sys.executable, "-m", "lightning_robattr", "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT],
               tmp_path, ROBATTR_LIGHTNING=choice)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "lightning_logs" / "natural" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    probe = ("import lightning_robattr._lightning as n, lightning_robattr.regimes as r; "
             "print(n.NAMESPACE, next(c for c in r.SSRModule.__mro__ if c.__name__ == 'LightningModule').__module__)")
    shown = run([sys.executable, "-c", probe], tmp_path, ROBATTR_LIGHTNING=choice).stdout.split()
    assert shown[0] == expected and shown[1].startswith(expected)


def test_the_default_is_pytorch_lightning_and_a_bad_choice_is_refused(tmp_path):
    assert run([sys.executable, "-c", "import lightning_robattr._lightning as n; print(n.NAMESPACE)"], tmp_path).stdout.strip() == "pytorch_lightning"
    bad = run([sys.executable, "-c", "import lightning_robattr"], tmp_path, ROBATTR_LIGHTNING="lightning.pytorch")
    assert bad.returncode != 0 and "ROBATTR_LIGHTNING must be one of pytorch_lightning, lightning" in bad.stderr

"""A checkpoint write never destroys the previous file, a damaged checkpoint never loads, and runs never share a folder.

The write tests run on a small tmpfs the test mounts (a filesystem other than ``$TMPDIR``'s, as a
scratch or network mount on a cluster); where mounting is not allowed they use ``/dev/shm``, and
the full disk is injected instead.
"""

import errno
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Trainer
from pytorch_lightning.plugins.io import TorchCheckpointIO
from test_checkpointing import SHORT, checkpoint_dir
from test_cli import run_cli

from lightning_robattr.callbacks import LastCheckpoint
from lightning_robattr.loggers import ExclusiveTensorBoardLogger
from lightning_robattr.models import Small
from lightning_robattr.regimes import AtomicCheckpointIO, NaturalModule, read_checkpoint

MIB = 2**20


@pytest.fixture
def small_tmpfs(tmp_path) -> Iterator[Path | None]:
    """A 4 MiB tmpfs mounted for the test, or ``None`` where this process may not mount one."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def checkpoint_of(fill: float, mib: float) -> dict:
    """A Lightning-shaped checkpoint whose one weight tensor, of ``mib`` MiB, holds ``fill`` everywhere."""
    return {"state_dict": {"w": torch.full((int(mib * MIB) // 4,), fill)}, "epoch": int(fill)}


def test_a_full_disk_during_the_rewrite_keeps_the_previous_checkpoint(small_tmpfs, tmp_path, monkeypatch):
    folder = small_tmpfs or tmp_path
    path = folder / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint_of(1.0, 1.5), path)
    if small_tmpfs is None:  # no mount allowed: the disk fills up after 1 MiB of the new file
        class FullDisk:
            def __init__(self, file):
                self.file = file

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()

            def write(self, data):
                self.file.write(bytes(data[:MIB]))
                raise OSError(errno.ENOSPC, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.file, name)

        real_open = open
        monkeypatch.setattr("builtins.open", lambda name, mode="r", *a, **k: FullDisk(real_open(name, mode, *a, **k)) if mode == "xb" else real_open(name, mode, *a, **k))
    with pytest.raises(OSError) as raised:
        AtomicCheckpointIO().save_checkpoint(checkpoint_of(2.0, 3.0), path)  # 1.5 + 3 MiB do not fit in 4 MiB
    assert raised.value.errno == errno.ENOSPC and "last.ckpt" in str(raised.value) and "the previous last.ckpt is kept" in str(raised.value)
    assert read_checkpoint(path)["epoch"] == 1 and torch.all(read_checkpoint(path)["state_dict"]["w"] == 1.0)
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]  # the partial file was removed


def test_lightnings_own_writer_loses_the_previous_checkpoint_on_a_full_disk_of_another_filesystem(small_tmpfs, tmp_path, monkeypatch):
    """The scenario the atomic writer exists for: Lightning stages the file in $TMPDIR, then copies it over last.ckpt."""
    if small_tmpfs is None:
        pytest.skip("needs a filesystem other than $TMPDIR's that can fill up: mounting a tmpfs is not allowed here")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    path = small_tmpfs / "last.ckpt"
    TorchCheckpointIO().save_checkpoint(checkpoint_of(1.0, 1.5), path)
    with pytest.raises(OSError):
        TorchCheckpointIO().save_checkpoint(checkpoint_of(2.0, 4.5), path)  # more than the 4 MiB
    with pytest.raises(ValueError, match="not a readable checkpoint|corrupt|empty"):
        read_checkpoint(path)


WRITER = """
import sys, torch
from lightning_robattr.regimes import AtomicCheckpointIO
path, io = sys.argv[1], AtomicCheckpointIO()
for epoch in range(1, 10_000):
    io.save_checkpoint({"state_dict": {"w": torch.full((%d,), float(epoch))}, "epoch": epoch}, path)
    print(epoch, flush=True)
"""


def test_sigkill_in_the_middle_of_a_write_keeps_a_complete_checkpoint(small_tmpfs, tmp_path):
    folder = Path("/dev/shm") if small_tmpfs is None and Path("/dev/shm").is_dir() else small_tmpfs or tmp_path
    folder = folder / f"kill-{os.getpid()}" if small_tmpfs is None else folder
    folder.mkdir(exist_ok=True)
    path, elements = folder / "last.ckpt", int(1.2 * MIB) // 4
    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen([sys.executable, "-c", WRITER % elements, str(path)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "1"  # one complete checkpoint exists
        deadline, partial = time.monotonic() + 120, None
        while partial is None and time.monotonic() < deadline:  # wait until a temporary file is half written
            for candidate in folder.glob(".last.ckpt.*.tmp"):
                try:
                    if 0 < candidate.stat().st_size < elements * 4:
                        partial = candidate
                except FileNotFoundError:
                    pass
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        writer.kill()
    assert partial is not None, "never caught the writer mid-write"
    checkpoint = read_checkpoint(path)  # verified: checksums and finite weights
    assert torch.all(checkpoint["state_dict"]["w"] == checkpoint["epoch"])
    AtomicCheckpointIO().save_checkpoint(checkpoint_of(0.0, 0.01), path)  # the next write clears what the killed one left
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]


def test_last_checkpoint_gives_a_default_trainer_the_atomic_writer(tmp_path):
    trainer = Trainer(default_root_dir=tmp_path, callbacks=[LastCheckpoint()], max_epochs=1, limit_train_batches=1,
                      limit_val_batches=0, logger=False, enable_progress_bar=False, enable_model_summary=False)
    data = torch.utils.data.TensorDataset(torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]))
    trainer.fit(NaturalModule(Small()), torch.utils.data.DataLoader(data, batch_size=4))
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["epoch"] == 0


@pytest.fixture(scope="module")
def natural_run(tmp_path_factory) -> Path:
    """The ``last.ckpt`` of a one-epoch natural run."""
    root = tmp_path_factory.mktemp("natural")
    run_cli(root, "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT, "--trainer.max_epochs", "1")
    return checkpoint_dir(root) / "last.ckpt"


def damaged_copy(source: Path, target: Path) -> Path:
    """``source`` with 4 KiB of garbage written into the middle of its largest tensor record (zip CRC now wrong)."""
    with zipfile.ZipFile(source) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)
    data = bytearray(source.read_bytes())
    with source.open("rb") as file:  # the record's data starts after its local header (30 bytes + name + extra)
        file.seek(record.header_offset + 26)
        name_length, extra_length = int.from_bytes(file.read(2), "little"), int.from_bytes(file.read(2), "little")
    start = record.header_offset + 30 + name_length + extra_length + record.file_size // 2 - 2048
    data[start : start + 4096] = os.urandom(4096)
    target.write_bytes(bytes(data))
    return target


def nan_copy(source: Path, target: Path) -> Path:
    """``source`` re-saved (valid checksums) with one weight set to NaN, as a diverged run would leave it."""
    checkpoint = torch.load(source, weights_only=True)
    checkpoint["state_dict"]["net.classifier.weight"][0, 0] = float("nan")
    torch.save(checkpoint, target)
    return target


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (damaged_copy, ValueError, r"damaged.ckpt' is corrupt: the checksum of .* does not match .* resume from another checkpoint"),
        (nan_copy, ValueError, r"nan.ckpt' holds non-finite weights in 1 tensor\(s\): net.classifier.weight \(1\); .* resume from another"),
        (lambda _, target: target.write_bytes(b"") and target or target, ValueError, r"empty.ckpt' is an empty file \(0 bytes"),
        (lambda _, target: target.mkdir() or target, IsADirectoryError, r"folder' is a folder, not a checkpoint file; give a .ckpt file"),
    ],
    ids=["corrupt", "nan_weights", "zero_bytes", "folder"],
)
def test_a_damaged_checkpoint_is_refused_by_the_cli_and_by_a_plain_trainer(natural_run, tmp_path, make, error, message):
    name = {damaged_copy: "damaged.ckpt", nan_copy: "nan.ckpt"}.get(make, "empty.ckpt" if error is ValueError else "folder")
    bad = make(natural_run, tmp_path / name)
    with pytest.raises(error, match=message):
        run_cli(tmp_path, "validate", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT, "--ckpt_path", str(bad))
    assert not (tmp_path / "lightning_logs").exists()  # refused before a run folder was made
    if error is ValueError:  # Trainer.validate(ckpt_path=...) outside the CLI, with LastCheckpoint's writer/reader
        trainer = Trainer(default_root_dir=tmp_path, callbacks=[LastCheckpoint()], logger=False, enable_progress_bar=False, limit_val_batches=1)
        data = torch.utils.data.TensorDataset(torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]))
        with pytest.raises(ValueError, match=message):
            trainer.validate(NaturalModule(Small()), torch.utils.data.DataLoader(data, batch_size=4), ckpt_path=str(bad))


def test_a_checkpoint_of_another_net_is_refused_before_anything_runs(natural_run, tmp_path):
    with pytest.raises(ValueError, match=r"weights do not fit the configured network Small \(shapes differ .*net.classifier.weight .*config.yaml"):
        run_cli(tmp_path, "validate", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT,
                "--model.init_args.net.init_args.num_classes", "12", "--ckpt_path", str(natural_run))
    assert not (tmp_path / "lightning_logs").exists()


CLAIM = """
import sys, time
from lightning_robattr.loggers import ExclusiveTensorBoardLogger
start = float(sys.argv[2])
while time.time() < start:
    pass
print(ExclusiveTensorBoardLogger(save_dir=sys.argv[1]).version)
"""


def test_runs_started_at_the_same_instant_claim_different_version_folders(tmp_path):
    (tmp_path / "lightning_logs" / "version_3").mkdir(parents=True)  # an earlier run
    start = str(time.time() + 3)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    claims = [subprocess.Popen([sys.executable, "-c", CLAIM, str(tmp_path), start], env=env, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    versions = sorted(int(claim.communicate(timeout=120)[0]) for claim in claims)
    assert versions == [4, 5, 6, 7, 8, 9]
    assert sorted(p.name for p in (tmp_path / "lightning_logs").iterdir()) == [f"version_{v}" for v in range(3, 10)]


def test_two_fits_started_together_in_one_folder_write_two_runs(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "lightning_robattr", "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT,
               "--trainer.max_epochs", "1", "--seed_everything"]
    runs = [subprocess.Popen([*command, seed], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True) for seed in ("1", "2")]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
    folders = sorted((tmp_path / "lightning_logs" / "natural").iterdir())
    seeds = [next(line for line in (run / "config.yaml").read_text().splitlines() if line.startswith("seed_everything")) for run in folders]
    assert sorted(seeds) == ["seed_everything: 1", "seed_everything: 2"]  # each run kept its own config.yaml ...
    for run in folders:
        assert read_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] == 0  # ... and its own checkpoints
        assert len(list((run / "checkpoints").glob("best-*.ckpt"))) == 1


def test_the_default_logger_of_the_cli_claims_its_folder(tmp_path):
    cli = run_cli(tmp_path, "fit", "-c", "configs/natural.yaml", "-c", "callbacks/none.yaml", *SHORT, "--trainer.max_epochs", "1")
    assert isinstance(cli.trainer.logger, ExclusiveTensorBoardLogger)
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert (tmp_path / "lightning_logs" / "natural" / "version_0" / "checkpoints" / "last.ckpt").is_file()

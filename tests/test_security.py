"""What the framework loads never runs code: dataset pickles are read as plain data, checkpoints weights-only."""

import pickle
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_lightning import Trainer
from test_data_torchvision import write_cifar10

from lightning_robattr.data import CIFAR10Data
from lightning_robattr.data._plain_pickle import load_plain_pickle
from lightning_robattr.models import Small
from lightning_robattr.regimes import MadryModule, NaturalModule
from lightning_robattr.regimes._checkpoint import read_checkpoint


class _Payload:
    """Unpickling this calls ``Path.touch`` on the marker: the code a tampered file would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_tampered_cifar_batch_is_refused_without_running_its_payload(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    marker = tmp_path / "payload_ran"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(pickle.dumps({"data": _Payload(marker), "labels": []}, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_1 is not a plain-data pickle .*getattr.*could run code. Replace it"):
        CIFAR10Data(str(tmp_path)).setup()
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_repacked_plain_cifar_copy_still_loads(tmp_path, protocol):
    arrays = write_cifar10(tmp_path / "cifar-10-batches-py")
    for path in (tmp_path / "cifar-10-batches-py").iterdir():
        content = load_plain_pickle(path)
        path.write_bytes(pickle.dumps(content, protocol=protocol))
    data = CIFAR10Data(str(tmp_path), val_size=0, random_crop_padding=0, horizontal_flip=False)
    data.setup()
    images, labels = arrays["test"]
    x, y = data.test_set[3]
    torch.testing.assert_close(x, torch.from_numpy(images[3]).permute(2, 0, 1).float() / 255)
    assert y == labels[3]


def test_a_cifar_batch_of_the_wrong_shape_is_refused_naming_the_file(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({"data": np.zeros((4, 100), np.uint8), "labels": [0] * 4}))
    with pytest.raises(ValueError, match=r"test_batch is not a CIFAR-10 batch .* replace it"):
        CIFAR10Data(str(tmp_path)).setup()


def _fit(module, tmp_path: Path, *, epochs: int, ckpt_path=None) -> Trainer:
    from lightning_robattr.data import MNIST5k

    trainer = Trainer(max_epochs=epochs, limit_train_batches=3, limit_val_batches=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path, inference_mode=False)
    trainer.fit(module, MNIST5k(batch_size=8, split=(400, 50, 50)), ckpt_path=ckpt_path)
    return trainer


@pytest.mark.parametrize("build", [
    lambda: NaturalModule(Small(), optimizer=partial(torch.optim.SGD, lr=0.1, momentum=0.9),
                          lr_scheduler=partial(torch.optim.lr_scheduler.StepLR, step_size=2)),
    lambda: MadryModule(Small(), optimizer=torch.optim.Adam, eps=0.1, steps=1, step_size=0.1),
], ids=["natural-partials", "madry-class"])
def test_a_module_built_in_python_writes_a_weights_only_checkpoint_that_resumes(tmp_path, build):
    trainer = _fit(build(), tmp_path, epochs=1)
    path = tmp_path / "one.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)  # raised UnpicklingError when the optimiser class was a hyperparameter
    assert all(isinstance(value, (int, float, str, bool, type(None))) for value in checkpoint["hyper_parameters"].values())
    resumed = _fit(build(), tmp_path, epochs=2, ckpt_path=path)
    assert resumed.current_epoch == 2 and resumed.global_step == 6


def test_a_checkpoint_holding_code_is_refused_by_read_checkpoint(tmp_path):
    path = tmp_path / "evil.ckpt"
    marker = tmp_path / "payload_ran"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": _Payload(marker)}}, path)
    with pytest.raises(ValueError, match=r"holds objects other than plain data .*GLOBAL getattr.*torch.load\(weights_only=False\)"):
        read_checkpoint(path)
    assert not marker.exists()

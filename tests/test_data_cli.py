"""Every DataModule is built from YAML by LightningCLI (``class_path`` + plain typed ``init_args``)."""

import pytest
import yaml
from pytorch_lightning import LightningDataModule, LightningModule
from pytorch_lightning.cli import LightningCLI

from lightning_robattr import data

MODEL = {
    "class_path": "lightning_robattr.regimes.NaturalModule",
    "init_args": {"net": {"class_path": "lightning_robattr.models.Small"}},
}
TRAINER = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}

DATA_CONFIGS = [
    ("MNIST5k", {"batch_size": 16, "split": [400, 50, 50], "seed": 3}),
    ("MNISTData", {"root": "/data", "val_size": 1000, "random_crop_padding": 2}),
    ("FashionMNISTData", {"root": "/data", "val_size": 0.1}),
    ("CIFAR10Data", {"root": "~/datasets", "download": True, "horizontal_flip": False, "num_workers": 2}),
    ("ImageFolderData", {"root": "/data/flowers", "image_size": 128, "train_crop": "random", "test_size": 0.2}),
    ("SyntheticData", {"num_classes": 3, "image_shape": [3, 32, 32], "noise": 0.1}),
]


def build(tmp_path, data_config: dict) -> LightningCLI:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": MODEL, "data": data_config, "trainer": TRAINER}))
    return LightningCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        run=False,
        save_config_callback=None,
        args=["--config", str(config)],
    )


@pytest.mark.parametrize(("name", "init_args"), DATA_CONFIGS, ids=[name for name, _ in DATA_CONFIGS])
def test_datamodule_is_built_from_yaml(tmp_path, name, init_args):
    cli = build(tmp_path, {"class_path": f"lightning_robattr.data.{name}", "init_args": init_args})
    assert type(cli.datamodule) is getattr(data, name)
    given = {key: list(value) if isinstance(value, tuple) else value for key, value in cli.datamodule.hparams.items()}
    assert {key: given[key] for key in init_args} == init_args


def test_misspelt_datamodule_option_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        build(tmp_path, {"class_path": "lightning_robattr.data.CIFAR10Data", "init_args": {"random_crop_pading": 4}})
    assert "random_crop_pading" in capsys.readouterr().err

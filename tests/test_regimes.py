"""The regime LightningModules: training under mixed precision, the eps ramp, checkpoints, plugging in."""

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchvision
import yaml
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_robattr.cli import main
from lightning_robattr.losses import ssr_penalty
from lightning_robattr.models import CAMAdapter, Small
from lightning_robattr.regimes import IGNormModule, IntModule, MadryModule, SSRModule, TRADESModule

INNER = {"eps": 0.3, "steps": 2, "step_size": 0.1}
REGIMES = {
    "madry": lambda net: MadryModule(net, **INNER),
    "trades": lambda net: TRADESModule(net, **INNER),
    "ssr_exact": lambda net: SSRModule(net, scale=10.0),
    "ssr_power": lambda net: SSRModule(net, scale=10.0, route="power", iterations=3),
    "ig_norm": lambda net: IGNormModule(net, ig_steps=4, approx_factor=2, **INNER),
    "ig_sum_norm": lambda net: IGNormModule(net, ig_steps=4, approx_factor=2, sum_variant=True, **INNER),
    "int": lambda net: IntModule(net, **INNER),
    "int_adv": lambda net: IntModule(net, adversarial_loss=True, **INNER),
    "int_1class": lambda net: IntModule(net, one_class=True, **INNER),
}


def trainer(**options) -> pl.Trainer:
    defaults = {
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    return pl.Trainer(**{**defaults, **options})


def mnist_loader(mnist5k, n: int = 16, batch_size: int = 8) -> DataLoader:
    x, y = mnist5k["train"]
    return DataLoader(TensorDataset(x[:n], y[:n]), batch_size=batch_size)


@pytest.mark.parametrize("name", list(REGIMES))
def test_regime_trains_under_bf16_mixed_precision(mnist5k, name):
    torch.manual_seed(0)
    module = REGIMES[name](Small())
    before = [p.detach().clone() for p in module.parameters()]
    run = trainer(max_steps=2, precision="bf16-mixed")
    run.fit(module, mnist_loader(mnist5k))
    assert run.global_step == 2
    assert torch.isfinite(run.callback_metrics["train/loss"])
    assert all(not torch.equal(b, p) for b, p in zip(before, module.parameters()))
    assert module.regime == name.removesuffix("_exact").removesuffix("_power")


class RecordEps(pl.Callback):
    def __init__(self) -> None:
        self.scheduled, self.logged = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.scheduled.append(pl_module.scheduled_eps())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.logged.append(float(trainer.callback_metrics["train/eps"]))


@pytest.mark.parametrize("unit, start, end", [("step", 1, 3), ("fraction", 0.2, 0.6), ("epoch", 0.5, 1.5)])
def test_eps_ramp_schedules_the_budget_per_optimiser_step(mnist5k, unit, start, end):
    # 10 steps in 5 epochs of 2 batches: every unit puts the ramp between steps 1 and 3 ... 2 and 6
    module = MadryModule(Small(), eps=0.4, steps=1, step_size=0.1, ramp_start=start, ramp_end=end, ramp_unit=unit)
    record = RecordEps()
    trainer(max_epochs=5, callbacks=[record], limit_val_batches=0).fit(module, mnist_loader(mnist5k))
    first, last = {"step": (1, 3), "fraction": (2, 6), "epoch": (1, 3)}[unit]
    expected = [0.4 * min(1.0, max(0.0, (s - first) / (last - first))) for s in range(10)]
    assert record.scheduled == pytest.approx(expected)
    assert record.logged == pytest.approx(expected)


def test_checkpoint_of_another_regime_is_refused(mnist5k, tmp_path):
    run = trainer(max_steps=1)
    run.fit(MadryModule(Small(), **INNER), mnist_loader(mnist5k))
    run.save_checkpoint(tmp_path / "madry.ckpt")
    with pytest.raises(ValueError, match="trained with the 'madry' regime but is being loaded into a 'ssr' module"):
        trainer(max_steps=2).fit(SSRModule(Small()), mnist_loader(mnist5k), ckpt_path=tmp_path / "madry.ckpt", weights_only=False)


def test_int_needs_a_cam_net():
    with pytest.raises(TypeError, match="CAMAdapter"):
        IntModule(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))


class RandomImages(pl.LightningDataModule):
    """A user's own DataModule: random 3x16x16 images and labels."""

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(0)
        data = TensorDataset(torch.rand(4, 3, 16, 16, generator=generator), torch.randint(0, 10, (4,), generator=generator))
        return DataLoader(data, batch_size=2)


def test_ssr_module_trains_a_torchvision_resnet(tmp_path):
    torch.manual_seed(0)
    net = CAMAdapter(torchvision.models.resnet18(num_classes=10), feature_layer="layer4", classifier="fc")
    module = SSRModule(net=net, scale=10.0)
    run = trainer(max_steps=2, default_root_dir=tmp_path)
    run.fit(module, datamodule=RandomImages())
    assert run.global_step == 2
    assert run.callback_metrics["train/eig_max"] > 0


class UserModule(pl.LightningModule):
    """A user's own LightningModule that adds the SSR penalty to its loss."""

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.net, self.beta = Small(), beta

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y) + self.beta * ssr_penalty(self.net, x, scale=100.0)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_ssr_penalty_changes_the_update_of_a_user_module(mnist5k):
    weights = {}
    for beta in (0.0, 1.0):
        torch.manual_seed(0)
        module = UserModule(beta)
        trainer(max_steps=1).fit(module, mnist_loader(mnist5k))
        weights[beta] = module.net.conv1.weight.detach()
    assert not torch.allclose(weights[0.0], weights[1.0])


CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EXPECTED = {
    "madry": MadryModule, "trades": TRADESModule, "ssr": SSRModule, "ig_norm": IGNormModule, "ig_sum_norm": IGNormModule,
    "int": IntModule, "int_adv": IntModule, "int_1class": IntModule,
}


FULL_MNIST = ("madry", "trades", "int", "int_adv")  # also the smoke presets


@pytest.mark.parametrize("folder, regimes", [(".", tuple(EXPECTED)), ("cifar10", tuple(EXPECTED)), ("mnist", FULL_MNIST), ("smoke", FULL_MNIST)])
def test_every_regime_config_builds_its_module(tmp_path, monkeypatch, folder, regimes):
    monkeypatch.chdir(tmp_path)
    assert sorted(path.stem for path in (CONFIGS / folder).glob("*.yaml") if path.stem in EXPECTED) == sorted(regimes)
    for regime in regimes:
        module_class = EXPECTED[regime]
        cli = main(["--config", str(CONFIGS / folder / f"{regime}.yaml")], run=False)
        assert type(cli.model) is module_class and cli.model.regime == regime


@pytest.mark.parametrize("regime", FULL_MNIST)
def test_each_smoke_preset_is_its_preset_cut_to_a_few_epochs(regime):
    preset = yaml.safe_load((CONFIGS / f"{regime}.yaml").read_text())
    smoke = yaml.safe_load((CONFIGS / "smoke" / f"{regime}.yaml").read_text())
    assert smoke["trainer"].pop("max_epochs") <= 3 < preset["trainer"].pop("max_epochs")
    assert smoke == preset


def test_ssr_config_trains_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    short = ["--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.max_epochs", "1"]
    cli = main(["fit", "--config", str(CONFIGS / "ssr.yaml"), *short, "--trainer.enable_progress_bar", "false"])
    assert cli.trainer.global_step == 2 and cli.trainer.callback_metrics["train/eig_max"] > 0

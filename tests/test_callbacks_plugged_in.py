"""The callbacks in a LightningModule of one's own: the network they attack is explicit, checked, and no number is silently wrong."""

import math

import pytest
import torch
import torchvision
from pytorch_lightning import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_robattr.attacks import AttributionAttackConfig
from lightning_robattr.callbacks import AttributionAttackEval, EvaluationSchedule, PGDEval
from lightning_robattr.models import CAMAdapter, Small
from lightning_robattr.regimes import NaturalModule


class BackboneAndHead(LightningModule):
    """A user's module: a feature extractor in ``self.net`` and the classifier head beside it."""

    def __init__(self, trained: Small) -> None:
        super().__init__()
        t = trained
        self.net = nn.Sequential(t.normalize, t.conv1, t.relu1, t.conv2, t.relu2, t.conv3, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = trained.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x))

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/acc", (self(x).argmax(1) == y).float().mean())


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_a_module_with_a_backbone_in_net_is_evaluated_whole_and_naming_the_backbone_is_refused(trained_small, mnist5k):
    x, y = mnist5k["val"][0][:16], mnist5k["val"][1][:16]
    module = BackboneAndHead(trained_small).eval()
    assert accuracy(module, x, y) == accuracy(trained_small, x, y)  # the module is the trained net, rearranged
    callback = PGDEval(eps=[0.1], steps=[2], schedule=EvaluationSchedule(num_samples=None, progress=False))
    assert callback.network_of(module, x) is module
    results = callback.evaluate(callback.network_of(module, x), x, y)
    assert results["robust/pgd_linf/clean_acc"] == pytest.approx(accuracy(trained_small, x, y))
    with pytest.raises(ValueError, match=r"outputs have shape \(8, 100\), but the module BackboneAndHead returns \(8, 10\).*set the callback's network"):
        PGDEval(schedule=EvaluationSchedule(network='net')).network_of(module, x)
    assert PGDEval(schedule=EvaluationSchedule(network='head')).network_of is not None  # a name is resolved only against a module
    with pytest.raises(AttributeError, match=r"network 'backbone' is not a submodule of BackboneAndHead; name one of \['net', 'head'\]"):
        PGDEval(schedule=EvaluationSchedule(network='backbone')).network_of(module, x)


def test_a_regime_is_evaluated_through_its_net_and_a_function_can_choose_any_network(trained_small, mnist5k):
    x = mnist5k["val"][0][:8]
    regime = NaturalModule(trained_small)
    assert PGDEval().network_of(regime, x) is trained_small
    assert PGDEval(schedule=EvaluationSchedule(network=lambda module: module.net)).network_of(regime, x) is trained_small
    with pytest.warns(UserWarning, match=r"predictions differ from the module's forward on \d+ of 8 images"):
        PGDEval(schedule=EvaluationSchedule(network=lambda module: nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))).network_of(regime, x)


class Spy(PGDEval):
    """PGDEval that records the size of every evaluated subset."""

    sizes: list[int] = []

    def evaluate(self, model, images, labels, *, progress=False):
        Spy.sizes.append(len(images))
        return super().evaluate(model, images, labels, progress=progress)


@pytest.mark.parametrize(("options", "expected"), [({"limit_val_batches": 2}, 20), ({"fast_dev_run": True}, 10), ({}, 64)])
def test_evaluation_honours_fast_dev_run_and_limit_val_batches(trained_small, mnist5k, options, expected):
    x, y = mnist5k["val"][0][:100], mnist5k["val"][1][:100]
    Spy.sizes = []
    trainer = Trainer(callbacks=[Spy(eps=[0.1], steps=[1], schedule=EvaluationSchedule(num_samples=64, progress=False))], inference_mode=False, logger=False,
                      enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False, **options)
    trainer.validate(NaturalModule(trained_small), DataLoader(TensorDataset(x, y), batch_size=10))
    assert Spy.sizes == [expected]


def test_maps_of_a_single_cell_are_reported_and_give_nan_not_a_perfect_score():
    torch.manual_seed(0)
    net = CAMAdapter(torchvision.models.resnet18(num_classes=10), feature_layer="layer4", classifier="fc").eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        y = net(x).argmax(1)
    callback = AttributionAttackEval(methods=['cam'], eps=['4/255', '16/255'], attack=AttributionAttackConfig(steps=1), schedule=EvaluationSchedule(num_samples=None, batch_size=4, progress=False))
    with pytest.warns(UserWarning, match=r"maps of a single cell such as a 1x1 CAM grid.*cam/topk/eps=4_255/topk_intersection: 4 of 4 images left out \(none left: logged as NaN\)"):
        results = callback.evaluate(net, x, y)
    for metric in ("topk_intersection", "spearman", "kendall_tau", "mass_center_dislocation"):
        assert math.isnan(results[f"attr/cam/topk/eps=4_255/{metric}"]), metric
        assert math.isnan(results[f"attr/cam/topk/{metric}_auc"]), metric

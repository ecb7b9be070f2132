"""Regimes and attacks on nets whose eval mode differs from their train mode (BatchNorm, dropout).

Oracles: the clean reference of TRADES' and Int's inner loops is the eval-mode output of the
net (a hand-written pass); an attack on a train-mode net returns exactly what it returns on the
same net in eval mode, leaves every buffer and every submodule's mode as found and ignores the
global RNG; one training step moves BatchNorm's running statistics exactly as the regime's
documented train-mode passes do, and nothing else does.
"""

import copy
import importlib
from collections.abc import Callable
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_robattr.attacks import (
    ADV2Schedule,
    aai,
    adv2,
    apgd,
    attribution_attack,
    cw_l2,
    deepfool,
    fgsm,
    gabor,
    isa,
    jpeg,
    pgd,
    random_sign,
    snow,
    transfer_evaluation,
)
from lightning_robattr.attributions import class_activation_maps
from lightning_robattr.losses import int_loss, trades_loss
from lightning_robattr.models._cam_net import CAMNet
from lightning_robattr.regimes import IGNormModule, IntModule, MadryModule, NaturalModule, SSRModule, TRADESModule

INT_LOSS_MODULE = importlib.import_module("lightning_robattr.losses._int_loss")  # the package exports int_loss, the function
LAYERS = ("batchnorm", "dropout")
MODE_DEPENDENT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)


class ModeDependentNet(CAMNet):
    """conv 3x3/8 s2 -> L -> ReLU -> conv 3x3/12 -> L -> ReLU -> conv 3x3/16 -> GAP -> linear 16 -> 5 (no bias).

    ``L`` is BatchNorm (running statistics set away from any batch's) or dropout ``p = 0.5``.
    Images ``(B, 1, 16, 16)``; features and CAMs ``(B, 16, 8, 8)``.
    """

    def __init__(self, layer: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2, self.conv3 = nn.Conv2d(1, 8, 3, 2, 1), nn.Conv2d(8, 12, 3, 1, 1), nn.Conv2d(12, 16, 3, 1, 1)
        self.layer1, self.layer2 = (self._layer(layer, c) for c in (8, 12))
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.classifier = nn.Linear(16, 5, bias=False)
        nn.init.normal_(self.classifier.weight)  # logits of a few units, so that train and eval softmax differ clearly

    @staticmethod
    def _layer(layer: str, channels: int) -> nn.Module:
        if layer == "dropout":
            return nn.Dropout(0.5)
        bn = nn.BatchNorm2d(channels)
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.num_batches_tracked.fill_(3)
        return bn

    def features(self, x: Tensor) -> Tensor:
        h = self.relu1(self.layer1(self.conv1(x)))
        return self.conv3(self.relu2(self.layer2(self.conv2(h))))


def batch(n: int = 4) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 16, 16, generator=g), torch.arange(n) % 5


def eval_output_after_clean_training_pass(net: nn.Module, x: Tensor, forward: Callable[[nn.Module, Tensor], Tensor]) -> Tensor:
    """What the inner loop of a loss should aim away from: the clean output in eval mode, with the
    running statistics the loss's own clean training pass (which comes first) leaves behind."""
    reference = copy.deepcopy(net).train()
    with torch.no_grad():
        reference(x)
        return forward(reference.eval(), x)


def spy(monkeypatch, owner: Any, name: str, argument: int) -> list[Tensor]:
    """Replace ``owner.name`` by a wrapper recording its positional ``argument`` at every call."""
    seen, original = [], getattr(owner, name)

    def wrapper(*args, **kwargs):
        seen.append(args[argument].detach().clone())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return seen


INNER = {"eps": 0.2, "steps": 2, "step_size": 0.1}


@pytest.mark.parametrize("attack_eval_mode", [True, False])
@pytest.mark.parametrize("layer", LAYERS)
def test_trades_inner_loop_aims_away_from_the_clean_prediction_of_its_own_mode(monkeypatch, layer, attack_eval_mode):
    net, (x, y) = ModeDependentNet(layer).train(), batch()
    expected = eval_output_after_clean_training_pass(net, x, lambda m, z: m(z)).softmax(dim=1)
    targets = spy(monkeypatch, F, "kl_div", 1)  # the first call is the inner loop's, the last the outer loss's
    torch.manual_seed(0)
    trades_loss(net, x, y, attack_eval_mode=attack_eval_mode, generator=torch.Generator().manual_seed(0), **INNER)
    assert len(targets) == INNER["steps"] + 1
    if attack_eval_mode:
        torch.testing.assert_close(targets[0], expected)
        assert not torch.allclose(targets[-1], expected, atol=1e-3)  # the outer loss keeps the train-mode pass
    else:
        torch.testing.assert_close(targets[0], targets[-1])


@pytest.mark.parametrize("attack_eval_mode", [True, False])
@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("variant", [{}, {"adversarial_loss": True}, {"one_class": True}], ids=["int", "int_adv", "int_1class"])
def test_int_inner_loop_aims_away_from_the_clean_cams_of_its_own_mode(monkeypatch, layer, attack_eval_mode, variant):
    net, (x, y) = ModeDependentNet(layer).train(), batch()
    expected = eval_output_after_clean_training_pass(net, x, lambda m, z: class_activation_maps(m, z)[1])
    references = spy(monkeypatch, INT_LOSS_MODULE, "label_free_discrepancy", 0)
    torch.manual_seed(0)
    int_loss(net, x, y, attack_eval_mode=attack_eval_mode, generator=torch.Generator().manual_seed(0), **variant, **INNER)
    assert len(references) == INNER["steps"] + 1
    if attack_eval_mode:
        torch.testing.assert_close(references[0], expected)
        assert not torch.allclose(references[-1], expected, atol=1e-3)
    else:
        torch.testing.assert_close(references[0], references[-1])


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


_PERTURBATION = 0.05 * torch.randn(4, 1, 16, 16, generator=_rng(1))
ATTACKS: dict[str, Callable[[nn.Module, Tensor, Tensor], Any]] = {
    "fgsm": lambda m, x, y: fgsm(m, x, y, eps=0.1),
    "pgd": lambda m, x, y: pgd(m, x, y, eps=0.1, steps=2, restarts=2, early_stop=True, generator=_rng(0)),
    "apgd": lambda m, x, y: apgd(m, x, y, eps=0.1, steps=3, loss="dlr", generator=_rng(0)),
    "cw_l2": lambda m, x, y: cw_l2(m, x, y, steps=3, binary_search_steps=2),
    "deepfool": lambda m, x, y: deepfool(m, x, y, steps=2, candidates=5),
    "gabor": lambda m, x, y: gabor(m, x, y, eps=0.2, steps=2, generator=_rng(0)),
    "snow": lambda m, x, y: snow(m, x, y, eps=0.5, steps=2, generator=_rng(0)),
    "jpeg_linf": lambda m, x, y: jpeg(m, x, y, steps=2, generator=_rng(0)),
    "jpeg_l1": lambda m, x, y: jpeg(m, x, y, norm="l1", eps=8.0, steps=2, generator=_rng(0)),
    "attribution_attack_saliency": lambda m, x, y: attribution_attack(
        m, x, eps=0.1, steps=2, random_start=True, generator=_rng(0)
    ),
    "attribution_attack_cam": lambda m, x, y: attribution_attack(m, x, method="cam", objective="mass_center", eps=0.1, steps=2),
    "isa": lambda m, x, y: isa(m, x, y, steps=2, search_rounds=2, budget_factors=(1.0, 1.6), generator=_rng(0)),
    "aai": lambda m, x, y: aai(m, x, y, eps=0.1, steps=2, generator=_rng(0)),
    "adv2": lambda m, x, y: adv2(m, x, y, eps=0.1, schedule=ADV2Schedule(2, ((5.0, 10.0, 2),)), generator=_rng(0)),
    "random_sign": lambda m, x, y: random_sign(x, eps=0.1, generator=_rng(0)),
    "transfer_evaluation": lambda m, x, y: transfer_evaluation(
        m,
        x,
        (x + _PERTURBATION).clamp(0, 1),
        method_options={
            "ig": {"steps": 4},
            "smoothgrad": {"samples": 3, "generator": _rng(0)},
            "unigrad": {"samples": 3, "generator": _rng(0)},
        },
    ),
}


def tensors(result: Any) -> list[Tensor]:
    """Every tensor of an attack's result (images, records, nested metric dicts), in a fixed order."""
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, dict):
        return [t for key in sorted(result) for t in tensors(result[key])]
    if isinstance(result, tuple):
        return [t for item in result for t in tensors(item)]
    return []


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_on_a_train_mode_net_is_the_attack_on_its_eval_mode(name, layer):
    net, (x, y) = ModeDependentNet(layer), batch()
    net.train()
    net.layer2.eval()  # a submodule whose own mode differs from its parent's must get it back too
    modes = {n: m.training for n, m in net.named_modules()}
    state = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(1)
    on_train = tensors(ATTACKS[name](net, x, y))
    assert {n: m.training for n, m in net.named_modules()} == modes
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())  # BN running stats and counters
    assert all(p.grad is None for p in net.parameters())
    torch.manual_seed(2)  # a dropout mask drawn from the global RNG would differ between the two runs
    on_eval = tensors(ATTACKS[name](net.eval(), x, y))
    assert on_train and len(on_train) == len(on_eval)
    for a, b in zip(on_train, on_eval):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


# each regime's train-mode passes through the net in one step, in order ("path": the outer IG's interpolation points)
REGIMES: dict[str, tuple[Callable[[nn.Module], pl.LightningModule], list[str]]] = {
    "natural": (lambda net: NaturalModule(net), ["clean"]),
    "madry": (lambda net: MadryModule(net, **INNER), ["adv"]),
    "madry_mixed": (lambda net: MadryModule(net, clean_weight=0.5, **INNER), ["adv", "clean"]),
    "trades": (lambda net: TRADESModule(net, **INNER), ["clean", "adv"]),
    "ssr": (lambda net: SSRModule(net, scale=10.0), ["clean"]),
    "ig_norm": (lambda net: IGNormModule(net, ig_steps=4, approx_factor=2, **INNER), ["clean", "path"]),
    "ig_sum_norm": (lambda net: IGNormModule(net, ig_steps=4, approx_factor=2, sum_variant=True, **INNER), ["adv", "path"]),
    "int": (lambda net: IntModule(net, **INNER), ["clean", "adv"]),
    "int_adv": (lambda net: IntModule(net, adversarial_loss=True, **INNER), ["clean", "adv"]),
    "int_1class": (lambda net: IntModule(net, one_class=True, **INNER), ["clean", "adv"]),
}


def record_mode_dependent_calls(net: nn.Module) -> dict[str, list[tuple[bool, Tensor]]]:
    """``{layer name: [(training, input), ...]}`` for every call of every BatchNorm and dropout layer of ``net``."""
    calls: dict[str, list[tuple[bool, Tensor]]] = {}
    for name, module in net.named_modules():
        if isinstance(module, MODE_DEPENDENT):
            calls[name] = []
            record = calls[name].append
            module.register_forward_pre_hook(lambda m, args, record=record: record((m.training, args[0].detach().clone())))
    return calls


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_one_training_step_moves_batchnorm_only_through_the_documented_train_mode_passes(regime, layer):
    build, passes = REGIMES[regime]
    net, (x, y) = ModeDependentNet(layer), batch()
    initial = copy.deepcopy(net).train()
    clean_inputs = record_mode_dependent_calls(initial)
    with torch.no_grad():
        initial(x)
    initial = copy.deepcopy(net)  # without hooks, for the replay
    calls = record_mode_dependent_calls(net)
    quiet = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False}
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, **quiet)
    trainer.fit(build(net), DataLoader(TensorDataset(x, y), batch_size=len(x)))
    assert trainer.global_step == 1 and torch.isfinite(trainer.callback_metrics["train/loss"])
    for name, seen in calls.items():
        trained = [inp for training, inp in seen if training]
        assert len(trained) == len(passes), f"{name}: {len(trained)} train-mode passes, expected {passes}"
        assert (len(seen) > len(passes)) == (regime != "natural")  # inner loops and the SSR Hessian ran in eval mode
        for kind, inp in zip(passes, trained):
            if kind == "clean" and (layer == "batchnorm" or name == "layer1"):  # dropout masks differ further in
                torch.testing.assert_close(inp, clean_inputs[name][0][1])
        if layer == "batchnorm":
            replay = initial.get_submodule(name).train()
            with torch.no_grad():
                for inp in trained:
                    replay(inp)
            bn = net.get_submodule(name)
            torch.testing.assert_close(bn.running_mean, replay.running_mean)
            torch.testing.assert_close(bn.running_var, replay.running_var)
            assert bn.num_batches_tracked == replay.num_batches_tracked == 3 + len(passes)

"""Madry, TRADES, IG-Norm and Int objectives against written-out formulas, and the eps ramp."""

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from captum.attr import IntegratedGradients

from lightning_robattr.attributions import integrated_gradients
from lightning_robattr.losses import (
    ig_norm_loss,
    int_loss,
    label_free_discrepancy,
    madry_loss,
    ramp_steps,
    ramped_eps,
    trades_loss,
)
from lightning_robattr.models import Small


@pytest.fixture()
def batch(mnist5k) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = mnist5k["test"]
    return x[:6], y[:6]


@pytest.fixture()
def net(trained_small) -> Small:
    return trained_small.eval()


def cams_by_hand(net: Small, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and CAMs written out: ``cams[b, c] = sum_k W[c, k] A[b, k]`` with ``A`` the last feature map."""
    features = net.conv3(F.relu(net.conv2(F.relu(net.conv1(x)))))
    weight = net.classifier.weight
    return features.mean(dim=(2, 3)) @ weight.T, (weight[None, :, :, None, None] * features[:, None]).sum(dim=2)


def test_madry_loss_is_cross_entropy_at_torchattacks_pgd(net, batch):
    x, y = batch
    oracle = torchattacks.PGD(net, eps=0.1, alpha=0.02, steps=5, random_start=False)(x, y)
    objective = madry_loss(net, x, y, eps=0.1, steps=5, step_size=0.02, random_start=False)
    torch.testing.assert_close(objective.loss, F.cross_entropy(net(oracle), y))
    torch.testing.assert_close(objective.logits, net(oracle))


def test_madry_loss_mixes_clean_and_adversarial_cross_entropy(net, batch):
    x, y = batch
    objective = madry_loss(net, x, y, eps=0.1, steps=3, step_size=0.05, random_start=False, clean_weight=0.5)
    torch.testing.assert_close(objective.loss, 0.5 * objective.parts["ce"] + 0.5 * objective.parts["ce_adv"])
    torch.testing.assert_close(objective.parts["ce"], F.cross_entropy(net(x), y))


def test_madry_loss_at_zero_eps_is_natural(net, batch):
    x, y = batch
    torch.testing.assert_close(madry_loss(net, x, y, eps=0.0).loss, F.cross_entropy(net(x), y))


def test_trades_loss_matches_reference_algorithm(net, batch):
    x, y = batch
    eps, alpha, steps, beta = 0.1, 0.02, 3, 6.0
    # the TRADES reference loop, written out
    p_clean = F.softmax(net(x), dim=1).detach()
    x_adv = x + 0.001 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        x_adv.requires_grad_(True)
        kl = F.kl_div(F.log_softmax(net(x_adv), dim=1), p_clean, reduction="sum")
        (grad,) = torch.autograd.grad(kl, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    logits = net(x)
    kl = F.kl_div(F.log_softmax(net(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
    objective = trades_loss(
        net, x, y, eps=eps, steps=steps, step_size=alpha, beta=beta, generator=torch.Generator().manual_seed(0)
    )
    expected = F.cross_entropy(logits, y) + beta * kl
    torch.testing.assert_close(objective.loss, expected)
    assert objective.parts["penalty"] > 0


def test_trades_kl_vanishes_at_zero_eps(net, batch):
    x, y = batch
    objective = trades_loss(net, x, y, eps=0.0)
    assert objective.parts["penalty"] == 0
    torch.testing.assert_close(objective.loss, F.cross_entropy(net(x), y))


@pytest.mark.parametrize("approx_factor", [1, 5])
def test_loss_integrated_gradients_matches_captum(net, batch, approx_factor):
    x, y = batch
    x_end = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    points = 20 // approx_factor
    # Chen et al.'s thinned sum over k = af, 2 af, ..., m is a right Riemann sum with m / af points
    oracle = IntegratedGradients(lambda z, t: F.cross_entropy(net(z), t, reduction="none")).attribute(
        x_end, baselines=x, additional_forward_args=(y,), n_steps=points, method="riemann_right"
    )
    ours = integrated_gradients(net, x_end, y, baseline=x, steps=points, score="ce")
    torch.testing.assert_close(ours, oracle, rtol=1e-4, atol=1e-6)


def test_loss_integrated_gradients_is_complete(net, batch):
    x, y = batch
    x_end = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    ig = integrated_gradients(net, x_end, y, baseline=x, steps=100, score="ce")
    gap = F.cross_entropy(net(x_end), y, reduction="none") - F.cross_entropy(net(x), y, reduction="none")
    torch.testing.assert_close(ig.flatten(1).sum(dim=1), gap, rtol=0.05, atol=2e-3)


@pytest.mark.parametrize("sum_variant", [False, True])
def test_ig_norm_loss_is_cross_entropy_plus_ig_norm_at_start_point(net, batch, sum_variant):
    x, y = batch
    generator = torch.Generator().manual_seed(0)
    options = {"eps": 0.1, "steps": 0, "gamma": 0.5, "ig_steps": 10, "approx_factor": 5}
    objective = ig_norm_loss(net, x, y, sum_variant=sum_variant, generator=generator, **options)
    start = (x + 0.1 * (2 * torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) - 1)).clamp(0, 1)
    ig = IntegratedGradients(lambda z, t: F.cross_entropy(net(z), t, reduction="none")).attribute(
        start, baselines=x, additional_forward_args=(y,), n_steps=10, method="riemann_right"
    )
    ce = F.cross_entropy(net(start if sum_variant else x), y)
    torch.testing.assert_close(objective.loss, ce + 0.5 * ig.abs().flatten(1).sum(dim=1).mean(), rtol=1e-4, atol=1e-6)


def test_ig_norm_inner_maximisation_increases_the_ig_norm(net, batch):
    x, y = batch
    options = {"eps": 0.1, "ig_steps": 10, "approx_factor": 5}
    start = ig_norm_loss(net, x, y, steps=0, generator=torch.Generator().manual_seed(0), **options)
    ascended = ig_norm_loss(net, x, y, steps=5, step_size=0.02, generator=torch.Generator().manual_seed(0), **options)
    assert ascended.parts["penalty"] > 1.5 * start.parts["penalty"]


def test_ig_norm_parameter_gradient_is_second_order(net, batch):
    x, y = batch
    objective = ig_norm_loss(net, x, y, eps=0.1, steps=1, step_size=0.05, ig_steps=4, approx_factor=2)
    penalty_grad = torch.autograd.grad(objective.loss - objective.parts["ce"], net.conv1.weight)[0]
    assert penalty_grad.abs().sum() > 0


def test_discrepancy_vanishes_at_the_clean_point(net, batch):
    x, y = batch
    logits, cams = cams_by_hand(net, x)
    assert torch.all(label_free_discrepancy(cams, cams, logits, y) == 0)


def test_discrepancy_weights_renormalise_over_non_true_classes():
    clean, adv = torch.zeros(2, 4, 3, 3), torch.zeros(2, 4, 3, 3)
    distances = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    adv[:, :, 0, 0] = distances  # L1 distance of class i = distances[:, i]
    logits, y = torch.tensor([[0.0, 1.0, 2.0, 3.0], [3.0, -1.0, 0.5, 0.0]]), torch.tensor([1, 0])
    expected = []
    for b in range(2):
        p = F.softmax(logits[b], dim=0)
        others = [i for i in range(4) if i != y[b]]
        weights = {i: p[i] / sum(p[j] for j in others) for i in others}
        assert abs(sum(weights.values()) - 1) < 1e-6
        expected.append(distances[b, y[b]] + sum(weights[i] * distances[b, i] for i in others))
    torch.testing.assert_close(label_free_discrepancy(clean, adv, logits, y), torch.stack(expected))
    torch.testing.assert_close(label_free_discrepancy(clean, adv, logits, y, one_class=True), torch.tensor([2.0, 5.0]))


def test_discrepancy_weights_carry_gradient():
    logits = torch.randn(2, 4, requires_grad=True)
    adv = torch.rand(2, 4, 3, 3)
    label_free_discrepancy(torch.zeros(2, 4, 3, 3), adv, logits, torch.tensor([0, 1])).sum().backward()
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize("adversarial_loss, one_class", [(False, False), (True, False), (False, True)])
def test_int_loss_at_start_point_matches_written_out_formula(net, batch, adversarial_loss, one_class):
    x, y = batch
    objective = int_loss(
        net, x, y, eps=0.1, steps=0, gamma=0.01, adversarial_loss=adversarial_loss, one_class=one_class,
        generator=torch.Generator().manual_seed(0),
    )
    start = (x + 0.1 * (2 * torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) - 1)).clamp(0, 1)
    (logits, cams), (adv_logits, adv_cams) = cams_by_hand(net, x), cams_by_hand(net, start)
    distance = (cams - adv_cams).abs().sum(dim=(2, 3))
    true = distance[torch.arange(6), y]
    if one_class:
        discrepancy = true
    else:
        p = F.softmax(adv_logits, dim=1) * (1 - F.one_hot(y, 10))
        discrepancy = true + (p / p.sum(dim=1, keepdim=True) * distance).sum(dim=1)
    ce = F.cross_entropy(adv_logits if adversarial_loss else logits, y)
    torch.testing.assert_close(objective.loss, ce + 0.01 * discrepancy.mean(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("adversarial_loss", [False, True])
def test_int_inner_maximisation_increases_its_objective(net, batch, adversarial_loss):
    x, y = batch
    options = {"eps": 0.1, "gamma": 0.01, "adversarial_loss": adversarial_loss}
    start = int_loss(net, x, y, steps=0, generator=torch.Generator().manual_seed(0), **options)
    ascended = int_loss(net, x, y, steps=5, step_size=0.02, generator=torch.Generator().manual_seed(0), **options)
    assert ascended.loss > start.loss
    assert ascended.parts["penalty"] > start.parts["penalty"]


def test_int_at_zero_eps_is_natural(net, batch):
    x, y = batch
    objective = int_loss(net, x, y, eps=0.0)
    assert objective.parts["penalty"] == 0
    torch.testing.assert_close(objective.loss, F.cross_entropy(net(x), y))


def test_ramp_follows_the_int_schedule():
    # 0 up to step 2000, linear to eps at step 10000, eps afterwards
    steps = [0, 2000, 2001, 6000, 10000, 50000]
    expected = [0.0, 0.0, 0.3 / 8000, 0.15, 0.3, 0.3]
    assert [ramped_eps(0.3, s, start=2000, end=10000) for s in steps] == pytest.approx(expected)
    assert [ramped_eps(0.3, s, start=0, end=0) for s in (0, 5)] == [0.3, 0.3]


def test_ramp_units_convert_to_optimiser_steps():
    assert ramp_steps(2000, 10000, unit="step") == (2000, 10000)
    assert ramp_steps(1.5, 8, unit="epoch", steps_per_epoch=100) == (150, 800)
    assert ramp_steps(0.017, 0.083, unit="fraction", total_steps=120_000) == (2040, 9960)
    with pytest.raises(ValueError, match="start <= end"):
        ramp_steps(0.5, 0.1, unit="fraction", total_steps=10)
    with pytest.raises(ValueError, match="finite training length"):
        ramp_steps(0.1, 0.5, unit="fraction", total_steps=None)


def batchnorm_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 10)
    ).train()


LOSSES = {
    "madry": lambda net, x, y, **kw: madry_loss(net, x, y, **kw),
    "trades": lambda net, x, y, **kw: trades_loss(net, x, y, **kw),
    "ig_norm": lambda net, x, y, **kw: ig_norm_loss(net, x, y, ig_steps=2, approx_factor=1, **kw),
}


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("attack_eval_mode", [True, False])
def test_inner_loop_touches_no_parameter_gradient_and_bn_statistics_only_in_train_mode(batch, name, attack_eval_mode):
    x, y = batch
    net = batchnorm_net()
    LOSSES[name](net, x, y, eps=0.1, steps=3, step_size=0.05, attack_eval_mode=attack_eval_mode)
    assert all(p.grad is None for p in net.parameters())
    assert net.training
    outer_passes = {"madry": 1, "trades": 2, "ig_norm": 2}[name]  # ig_norm: CE(x) and the IG path
    inner_passes = 0 if attack_eval_mode else 3
    assert int(net[1].num_batches_tracked) == outer_passes + inner_passes

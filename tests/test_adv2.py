"""ADV2 on every interpreter, against written-out references: the authors' GRAD schedule, CAM against targeted PGD, target maps."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_robattr.attacks import ADV2_SCHEDULES, ADV2Schedule, adv2, interpreter_transfer
from lightning_robattr.attacks._explanation.adv2 import adv2_loss
from lightning_robattr.attacks._explanation.interpreters import differentiable_map, interpreter_map, min_max_normalized
from lightning_robattr.attributions import cam, grad, mask, rts
from lightning_robattr.metrics.functional import iou
from lightning_robattr.models import RTSNet, SmoothDerivativeReLU

SHORT = ADV2Schedule(20, ((5.0, 10.0, 30),))


@pytest.fixture(scope="module")
def batch(trained_small, mnist5k):
    """24 test images the naturally trained Small classifies correctly."""
    x, y = mnist5k["test"]
    x, y = x[300:340], y[300:340]
    with torch.no_grad():
        correct = trained_small(x).argmax(1) == y
    return x[correct][:24], y[correct][:24]


def test_adv2_hides_the_cam_better_than_targeted_pgd(trained_small, batch):
    x, y = batch
    target = (y + 3) % 10
    x_adv, record = adv2(trained_small, x, y, target=target, eps=0.2, step_size=0.01, schedule=SHORT)
    _, plain = adv2(trained_small, x, y, target=target, eps=0.2, step_size=0.01, schedule=SHORT.prediction_only())
    # measured 22-24 of 24 for both over four training seeds; an interpretation loss ratio of 0.55-0.60
    assert record.success.float().mean() >= 0.8 and plain.success.float().mean() >= 0.8
    assert record.interpretation_loss.mean() < 0.8 * plain.interpretation_loss.mean()
    assert record.iou.mean() > plain.iou.mean() and record.l1.mean() < plain.l1.mean()
    assert (x_adv - x).abs().max() <= 0.2 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    with torch.no_grad():
        assert torch.equal(record.success, trained_small(x_adv).argmax(1) == target)
        torch.testing.assert_close(record.confidence, trained_small(x_adv).softmax(1)[torch.arange(len(x)), target])
    benign = min_max_normalized(cam(trained_small, x, y))
    attacked = min_max_normalized(cam(trained_small, x_adv, target))
    torch.testing.assert_close(record.interpretation_loss, (attacked - benign).pow(2).mean((1, 2)))
    torch.testing.assert_close(record.l1, (attacked - benign).abs().sum((1, 2)) / 49)
    torch.testing.assert_close(record.iou, iou(attacked, benign))
    summary = record.summary()
    assert summary["success_rate"] == record.success.float().mean().item()
    assert summary["iou"] == pytest.approx(record.iou[record.success].mean().item())


class _AuthorsSoftReLU(torch.autograd.Function):
    """The ADV2 authors' surrogate as they write it: ReLU forward; backward ``g * x / sqrt(x^2 + 1e-4)`` (x >= 0), ``g * (1 + ...)`` (x < 0)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        ratio = x / torch.sqrt(x * x + 1e-4)
        return grad * torch.where(x >= 0, ratio, 1 + ratio)


class _SoftReLU(nn.Module):
    def forward(self, x):
        return _AuthorsSoftReLU.apply(x)


def _authors_surrogate(net: nn.Module) -> nn.Module:
    copied = copy.deepcopy(net)
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, _SoftReLU())
    return copied


def test_smooth_derivative_relu_matches_the_authors_backward():
    x = torch.linspace(-0.05, 0.05, 101, dtype=torch.float64).requires_grad_(True)
    ours, theirs = SmoothDerivativeReLU()(x), _AuthorsSoftReLU.apply(x)
    torch.testing.assert_close(ours, F.relu(x))
    (g_ours,) = torch.autograd.grad(ours.sum(), x, create_graph=True)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), x, create_graph=True)
    torch.testing.assert_close(g_ours, g_theirs)
    (h_ours,) = torch.autograd.grad(g_ours.sum(), x)
    torch.testing.assert_close(h_ours, 1e-4 / (x.detach() ** 2 + 1e-4) ** 1.5)


def _reference_grad_adv2(net, x, y, target, *, eps, step, schedule):
    """The authors' GRAD attack written out: signed CE steps, then stages of CE + c * squared map error with the
    surrogate gradient, keeping every ``check_every`` steps the iterate with p(t') > 0.8 and the lowest map error."""
    soft = _authors_surrogate(net)

    def grad_map(model, images, label, create_graph):
        images = images if create_graph else images.detach().requires_grad_(True)
        loss = F.cross_entropy(model(images), label, reduction="sum")
        (g,) = torch.autograd.grad(loss, images, create_graph=create_graph)
        pooled = F.avg_pool2d(g.abs().amax(1, keepdim=True), 4)[:, 0].flatten(1)
        low, high = pooled.amin(1, keepdim=True), pooled.amax(1, keepdim=True)
        return ((pooled - low) / (high - low).clamp_min(1e-8)).view(len(images), 7, 7)

    benign = grad_map(net, x, y, False).detach()
    weights = [0.0] * schedule.prediction_steps + [c for c, _, n in schedule.stages for _ in range(n)]
    x_adv, best, best_loss = x.clone(), None, torch.full((len(x),), float("inf"), dtype=x.dtype)
    for i, c in enumerate(weights):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(net(x_adv), target, reduction="none")
        if c > 0:
            loss = loss + c * (grad_map(soft, x_adv, target, True) - benign).pow(2).flatten(1).mean(1)
        (g,) = torch.autograd.grad(loss.sum(), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() - step * g.sign(), x - eps), x + eps).clamp(0, 1)
        if i + 1 > schedule.prediction_steps and (i + 1) % schedule.check_every == 0:
            with torch.no_grad():
                p = net(x_adv).softmax(1)[torch.arange(len(x)), target]
            error = (grad_map(net, x_adv, target, False) - benign).pow(2).flatten(1).mean(1)
            take = (p > schedule.keep_confidence) & (error < best_loss)
            best = x_adv.clone() if best is None else torch.where(take[:, None, None, None], x_adv, best)
            best_loss = torch.where(take, error, best_loss)
    return torch.where((best_loss < float("inf"))[:, None, None, None], best, x_adv)


def test_grad_adv2_follows_the_authors_schedule_step_for_step(trained_small, batch):
    net = copy.deepcopy(trained_small).double()
    x, y = batch[0][:6].double(), batch[1][:6]
    target = (y + 1) % 10
    schedule = ADV2Schedule(6, ((3.136, 3.136, 4), (12.544, 12.544, 4)), keep_confidence=0.8, check_every=2)
    ours, _ = adv2(net, x, y, target=target, method="grad", eps=0.2, step_size=0.02, schedule=schedule)
    reference = _reference_grad_adv2(net, x, y, target, eps=0.2, step=0.02, schedule=schedule)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)


def test_the_authors_schedules():
    grad = ADV2_SCHEDULES["grad"]
    assert grad.steps == 300 + 301 + 201 + 101 + 101 and grad.keep_confidence == 0.8
    assert ADV2_SCHEDULES["cam"].steps == 1600 and ADV2_SCHEDULES["cam"].weights()[400] == 5.0
    assert ADV2_SCHEDULES["cam"].weights()[-1] == 10.0 and ADV2_SCHEDULES["cam"].weights()[399] == 0.0
    assert ADV2_SCHEDULES["cam"].prediction_only().weights() == [0.0] * 1600
    assert ADV2_SCHEDULES["cam"].scaled(0.1).steps == 40 + 120


def test_a_target_map_steers_the_cam_towards_another_image(trained_small, batch):
    x, y = batch
    x, y = x[:12], y[:12]
    target = (y + 5) % 10
    other = min_max_normalized(cam(trained_small, x.roll(1, 0), y.roll(1, 0)))
    schedule = ADV2Schedule(20, ((10.0, 20.0, 60),))
    _, steered = adv2(trained_small, x, y, target=target, target_map=other, eps=0.2, step_size=0.01, schedule=schedule)
    _, plain = adv2(trained_small, x, y, target=target, target_map=other, eps=0.2, step_size=0.01, schedule=schedule.prediction_only())
    assert steered.iou.mean() > plain.iou.mean() + 0.1
    assert steered.interpretation_loss.mean() < 0.8 * plain.interpretation_loss.mean()


def test_transfer_matrix_has_a_row_per_attack_and_its_own_diagonal(trained_small, batch):
    x, y = batch[0][:8], batch[1][:8]
    result = interpreter_transfer(
        trained_small, x, y, methods=["grad", "cam"], eps=0.2, step_size=0.01, schedule_scale=0.05, generator=torch.Generator().manual_seed(0)
    )
    assert result.rows == ["adv2:grad", "adv2:cam", "pgd"] and result.columns == ["grad", "cam"]
    assert result.iou.shape == result.l1.shape == (3, 2) and result.success_rate.shape == (3,)
    assert ((0 <= result.iou) & (result.iou <= 1)).all() and ((0 <= result.l1) & (result.l1 <= 1)).all()


@pytest.fixture(scope="module")
def rts_net():
    """An untrained masking network: its masks lie in [0, 1] without spanning it."""
    torch.manual_seed(0)
    return RTSNet(1, 10).eval()


def test_rts_and_mask_maps_are_compared_raw_grad_and_cam_normalised(trained_small, batch, rts_net):
    x, y = batch[0][:4], batch[1][:4]
    raw = rts(trained_small, x, y, saliency_net=rts_net)
    assert (raw.flatten(1).amax(1) < 0.99).all() or (raw.flatten(1).amin(1) > 0.01).all()  # min-max would change it
    torch.testing.assert_close(interpreter_map(trained_small, x, y, "rts", {"saliency_net": rts_net}), raw)
    options = {"iterations": 3}
    torch.testing.assert_close(interpreter_map(trained_small, x, y, "mask", options), mask(trained_small, x, y, **options))
    torch.testing.assert_close(interpreter_map(trained_small, x, y, "cam"), min_max_normalized(cam(trained_small, x, y)))
    torch.testing.assert_close(interpreter_map(trained_small, x, y, "grad"), min_max_normalized(grad(trained_small, x, y)))
    attacked = differentiable_map(trained_small, y, "rts", {"saliency_net": rts_net})
    torch.testing.assert_close(attacked(x.clone().requires_grad_(True)), raw)


def test_rts_distances_compare_the_raw_masks(trained_small, batch, rts_net):
    x, y = batch[0][:4], batch[1][:4]
    target = (y + 1) % 10
    options = {"rts": {"saliency_net": rts_net}}
    x_adv, record = adv2(trained_small, x, y, target=target, method="rts", method_options=options, eps=0.2, step_size=0.02,
                         schedule=ADV2Schedule(2, ((5.0, 5.0, 2),)))
    difference = rts(trained_small, x_adv, target, saliency_net=rts_net) - rts(trained_small, x, y, saliency_net=rts_net)
    torch.testing.assert_close(record.l1, difference.abs().mean((1, 2)))
    torch.testing.assert_close(record.interpretation_loss, difference.pow(2).mean((1, 2)))


def test_the_rts_attack_adds_the_class_heads_cross_entropy_to_the_target(trained_small, batch, rts_net):
    x, y = batch[0][:4], batch[1][:4]
    target = (y + 2) % 10
    maps = {"rts": differentiable_map(trained_small, target, "rts", {"saliency_net": rts_net})}
    wanted = {"rts": rts(trained_small, x, y, saliency_net=rts_net)}
    x_adv = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    with_term, without = (adv2_loss(trained_small, x_adv, target, maps, wanted, 5.0, rts_net=rts_net, rts_class_weight=w) for w in (0.1, 0.0))
    expected = F.cross_entropy(rts_net.class_logits(x_adv), target, reduction="none")
    torch.testing.assert_close(with_term - without, 0.1 * expected)
    assert expected.min() > 0.1  # the term is not negligible
    # stage 1 (weight 0) is the cross-entropy alone, as the authors have it
    torch.testing.assert_close(adv2_loss(trained_small, x_adv, target, maps, wanted, 0.0, rts_net=rts_net),
                               F.cross_entropy(trained_small(x_adv), target, reduction="none"))


@pytest.mark.parametrize("weight, calls", [(0.1, 3), (0.0, 0)])
def test_adv2_on_rts_reads_the_class_head_in_its_joint_steps_only(trained_small, batch, monkeypatch, weight, calls):
    net = RTSNet(1, 10).eval()
    read = []
    original = net.class_logits
    monkeypatch.setattr(net, "class_logits", lambda images: read.append(len(images)) or original(images))
    x, y = batch[0][:2], batch[1][:2]
    adv2(trained_small, x, y, method="rts", method_options={"rts": {"saliency_net": net}}, eps=0.1, step_size=0.01,
         schedule=ADV2Schedule(2, ((5.0, 5.0, 3),)), rts_class_weight=weight)
    assert len(read) == calls


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"method": "nope"}, ValueError, "unknown attribution"),
        ({"method": "rts"}, ValueError, "saliency_net"),
        ({"method": []}, ValueError, "at least one attribution method"),
        ({"method": ["grad", "cam"], "target_map": torch.zeros(2, 7, 7)}, ValueError, "as a dict"),
        ({"norm": "l0"}, ValueError, "unknown norm"),
    ],
)
def test_bad_arguments_raise_clear_errors(trained_small, kwargs, error, message):
    with pytest.raises(error, match=message):
        adv2(trained_small, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), **kwargs)


def test_a_schedule_refuses_negative_steps_and_weights():
    with pytest.raises(ValueError, match="integers >= 0"):
        ADV2Schedule(-1, ())
    with pytest.raises(ValueError, match="weights must be >= 0"):
        ADV2Schedule(1, ((-1.0, 1.0, 2),))


def test_an_l2_budget_bounds_the_perturbation(trained_small, batch):
    x, y = batch[0][:6], batch[1][:6]
    x_adv, record = adv2(trained_small, x, y, target=(y + 1) % 10, norm="l2", eps=2.0, step_size=0.2, schedule=ADV2Schedule(5, ((5.0, 5.0, 5),)))
    assert (x_adv - x).flatten(1).norm(dim=1).max() <= 2.0 + 1e-5
    assert 0 <= x_adv.min() and x_adv.max() <= 1 and record.success.shape == (6,)

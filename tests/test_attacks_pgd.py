"""PGD and FGSM: agreement with torchattacks and closed forms, constraints, monotonicity, errors."""

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_robattr.attacks import LinfBall, apgd, fgsm, pgd, projected_gradient_ascent
from lightning_robattr.models import Small


@pytest.fixture(scope="module")
def batch(mnist5k):
    """The first 100 MNIST5k test images and labels."""
    x, y = mnist5k["test"]
    return x[:100], y[:100]


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_pgd_linf_matches_torchattacks(trained_small, mnist5k):
    # Deterministic comparison: no random start on either side (torchattacks draws from the global RNG).
    x, y = mnist5k["test"][0][:200], mnist5k["test"][1][:200]
    ours, _ = pgd(trained_small, x, y, eps=0.15, steps=10, step_size=0.02, random_start=False)
    theirs = torchattacks.PGD(trained_small, eps=0.15, alpha=0.02, steps=10, random_start=False)(x, y)
    assert abs(accuracy(trained_small, ours, y) - accuracy(trained_small, theirs, y)) <= 0.01
    assert accuracy(trained_small, ours, y) < accuracy(trained_small, x, y) - 0.2


def test_pgd_l2_matches_torchattacks(trained_small, batch):
    x, y = batch
    ours, _ = pgd(trained_small, x, y, eps=1.5, steps=10, step_size=0.3, norm="l2", random_start=False)
    theirs = torchattacks.PGDL2(trained_small, eps=1.5, alpha=0.3, steps=10, random_start=False)(x, y)
    assert abs(accuracy(trained_small, ours, y) - accuracy(trained_small, theirs, y)) <= 0.01


def test_pgd_targeted_reaches_target_like_torchattacks(trained_small, batch):
    x, y = batch
    target = (y + 1) % 10
    ours, _ = pgd(trained_small, x, target, eps=0.3, steps=10, step_size=0.05, random_start=False, targeted=True)
    attack = torchattacks.PGD(trained_small, eps=0.3, alpha=0.05, steps=10, random_start=False)
    attack.set_mode_targeted_by_label(quiet=True)
    theirs = attack(x, target)
    assert abs(accuracy(trained_small, ours, target) - accuracy(trained_small, theirs, target)) <= 0.01
    assert accuracy(trained_small, ours, target) > 0.5


def test_fgsm_equals_closed_form(trained_small, batch):
    x, y = batch
    x = x[:50].clone().requires_grad_(True)
    grad = torch.autograd.grad(F.cross_entropy(trained_small(x), y[:50]), x)[0]
    expected = (x + 0.1 * grad.sign()).clamp(0, 1).detach()
    torch.testing.assert_close(fgsm(trained_small, x.detach(), y[:50], eps=0.1)[0], expected)
    targeted = (x - 0.1 * torch.autograd.grad(F.cross_entropy(trained_small(x), (y[:50] + 1) % 10), x)[0].sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(trained_small, x.detach(), (y[:50] + 1) % 10, eps=0.1, targeted=True)[0], targeted.detach())


@settings(max_examples=20, deadline=None)
@given(
    attack=st.sampled_from(["pgd", "apgd"]),
    eps=st.floats(0.0, 1.0),
    steps=st.integers(1, 4),
    norm=st.sampled_from(["linf", "l2"]),
    loss=st.sampled_from(["ce", "cw"]),
    random_start=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pgd_and_apgd_stay_in_ball_and_box(attack, eps, steps, norm, loss, random_start, seed):
    torch.manual_seed(seed)
    net = Small().eval()
    x = torch.rand(4, 1, 28, 28)
    y = torch.randint(0, 10, (4,))
    eps = eps * 4 if norm == "l2" else eps
    if attack == "pgd":
        x_adv, _ = pgd(net, x, y, eps=eps, steps=steps, norm=norm, loss=loss, random_start=random_start)
    else:
        x_adv, _ = apgd(net, x, y, eps=eps, steps=steps, norm=norm, loss="ce" if loss == "ce" else "dlr")
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-5).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_pgd_with_zero_eps_returns_the_input(trained_small, batch):
    x, y = batch
    torch.testing.assert_close(pgd(trained_small, x[:20], y[:20], eps=0.0, steps=3)[0], x[:20])


def test_more_steps_and_larger_eps_never_raise_robust_accuracy(trained_small, batch):
    x, y = batch
    by_steps = [accuracy(trained_small, pgd(trained_small, x, y, eps=0.15, steps=s, step_size=0.02, random_start=False)[0], y)
                for s in (1, 4, 12)]
    by_eps = [accuracy(trained_small, pgd(trained_small, x, y, eps=e, steps=10, random_start=False)[0], y)
              for e in (0.05, 0.1, 0.2)]
    for values in (by_steps, by_eps):
        assert all(b <= a + 0.01 for a, b in zip(values, values[1:])), values
        assert values[-1] < values[0]


def test_restarts_and_early_stop_report_consistent_success(trained_small, batch):
    x, y = batch
    gen = torch.Generator().manual_seed(0)
    x_adv, (success,) = pgd(trained_small, x, y, eps=0.1, steps=5, restarts=3, generator=gen, early_stop=True)
    with torch.no_grad():
        assert torch.equal(success, trained_small(x_adv).argmax(1) != y)
    single, _ = pgd(trained_small, x, y, eps=0.1, steps=5, generator=torch.Generator().manual_seed(0))
    assert success.float().mean() >= 1 - accuracy(trained_small, single, y) - 1e-6


def test_early_stop_keeps_the_first_successful_iterate(trained_small, batch):
    # With early stop a fooled example stops moving, so its perturbation is no larger than without.
    x, y = batch
    free, _ = pgd(trained_small, x, y, eps=0.3, steps=15, step_size=0.02, random_start=False, loss="cw")
    stopped, (success,) = pgd(trained_small, x, y, eps=0.3, steps=15, step_size=0.02, random_start=False, loss="cw",
                              early_stop=True)
    dist = lambda a: (a - x).flatten(1).abs().amax(1)  # noqa: E731
    assert success.float().mean() >= 1 - accuracy(trained_small, free, y) - 1e-6
    assert dist(stopped)[success].mean() < dist(free)[success].mean()


def test_keep_best_returns_the_highest_objective_iterate():
    # A step far too large oscillates past the optimum; keep_best must return the best iterate seen.
    x = torch.full((3, 1, 2, 2), 0.5)
    centre = torch.tensor([0.55, 0.2, 0.9]).view(3, 1, 1, 1)

    def objective(z, _step=None):
        return -(z - centre).flatten(1).square().sum(1)

    threat = LinfBall(0.4)
    kwargs = {"steps": 5, "step_size": 0.3, "random_start": False}
    last = projected_gradient_ascent(objective, x, threat, **kwargs)
    best = projected_gradient_ascent(objective, x, threat, keep_best=True, **kwargs)
    iterates, z = [x], x
    for _ in range(5):
        z = threat.project(z + 0.3 * torch.sign(centre - z), x)
        iterates.append(z)
    expected = torch.stack([objective(i) for i in iterates]).amax(0)
    torch.testing.assert_close(objective(best), expected)
    assert (objective(best) >= objective(last)).all() and (objective(best) > objective(last)).any()

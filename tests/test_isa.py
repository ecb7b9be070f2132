"""ISA: Proposition 1 of the Int paper, least-discrepancy search, NDS/NSL bookkeeping, errors."""

import pytest
import torch

from lightning_robattr.attacks._explanation.isa import ISAConfig, isa
from lightning_robattr.attributions import cam, class_activation_maps

FAST = dict(steps=5, search_rounds=5, budget_factors=(1.0, 1.6))


@pytest.fixture(scope="module")
def batch(trained_small, mnist5k):
    """48 test images the naturally trained Small classifies correctly."""
    x, y = mnist5k["test"]
    x, y = x[100:160], y[100:160]
    with torch.no_grad():
        correct = trained_small(x).argmax(1) == y
    return x[correct][:48], y[correct][:48]


@pytest.fixture(scope="module")
def cam_isa(trained_small, batch):
    """Two-class l1 CAM ISA with the paper's CAM scale (cells sum to the logit)."""
    x, y = batch
    options = {"scale": "sum_to_logit"}
    return isa(trained_small, x, y, method="cam", method_options=options, generator=torch.Generator().manual_seed(0), **FAST)


def test_every_successful_isa_obeys_proposition_1(trained_small, batch, cam_isa):
    # D_{2,l1}(x, x') >= (f_t(x) - f_t'(x)) / 2 for a map whose cells sum to the logit (bias-free head).
    x, y = batch
    x_adv, result = cam_isa
    assert result.success.float().mean() > 0.8  # measured 0.98-1: an image never fooled within budget 1 fails
    with torch.no_grad():
        logits = trained_small(x)
    margin = logits.gather(1, y[:, None])[:, 0] - logits.gather(1, result.target[:, None])[:, 0]

    def paper_cam(images, c):
        return cam(trained_small, images, c, scale="sum_to_logit")

    for point, ok in zip(x_adv, result.success):
        d = [(paper_cam(x, c) - paper_cam(point, c)).abs().sum((1, 2)) for c in (y, result.target)]
        two_class = (d[0] + d[1]) / 2
        assert (two_class[ok] >= margin[ok] / 2 - 1e-5).all()
    torch.testing.assert_close(two_class, result.discrepancy[-1])


def test_authors_cam_scale_multiplies_the_discrepancy_by_the_grid_size(trained_small, batch, cam_isa):
    x, y = batch
    adv, record = cam_isa[0][-1], cam_isa[1]
    with torch.no_grad():
        clean_cams, adv_cams = class_activation_maps(trained_small, x)[1], class_activation_maps(trained_small, adv)[1]
    rows = torch.arange(len(x))
    code = sum((clean_cams[rows, c] - adv_cams[rows, c]).abs().sum((1, 2)) for c in (y, record.target)) / 2
    torch.testing.assert_close(code, 49 * record.discrepancy[-1], rtol=1e-4, atol=1e-4)


def test_isa_hides_better_than_the_plain_targeted_attack(trained_small, batch, cam_isa):
    x, _ = batch
    x_adv, result = cam_isa
    assert x_adv.shape == (3, *x.shape) and result.nds.shape == result.budgets.shape == (3, len(x))
    assert (result.nds[1:] <= result.nds[:-1]).all()
    both = result.success[0] & result.success[-1]
    # Over five trained nets the last point's mean NDS is 0.952-0.962 of the first's on 48 images
    # (0.953-0.974 on 24, 0.960-0.974 on 12); NDS never rises, so an ISA no better than the plain attack scores 1.
    assert result.nds[-1][both].mean() < 0.98 * result.nds[0][both].mean()
    slope = both & (result.budgets[-1] > result.budgets[0])  # eps* = 1 (never fooled) leaves no slope
    assert torch.isfinite(result.nsl[slope]).all() and (result.nsl[slope] >= 0).all()
    assert torch.isnan(result.nsl[~slope]).all()
    torch.testing.assert_close(result.budgets[-1], (1.6 * result.eps_star).clamp(max=1))
    distance = (x_adv - x).flatten(2).abs().amax(dim=2)
    assert (distance <= result.budgets + 1e-6).all()
    assert (result.target != batch[1]).all()
    with torch.no_grad():
        fooled = trained_small(x_adv[0]).argmax(1) == result.target
    assert torch.equal(fooled, result.success[0])


@pytest.mark.parametrize(
    "method, options, classes, p",
    [("gradcampp_int_repo", None, "all", 2), ("ig", {"steps": 3}, "one", 1), ("repr", None, "two", 1)],
)
def test_isa_runs_on_other_interpreters(trained_small, batch, method, options, classes, p):
    x, y = batch[0][:4], batch[1][:4]
    x_adv, result = isa(
        trained_small, x, y, method=method, method_options=options, classes=classes, p=p,
        steps=2, search_rounds=2, budget_factors=(1.5,), target=(y + 1) % 10,
    )
    assert result.nds.shape == (2, 4) and torch.isfinite(result.nds).all()
    assert torch.equal(result.target, (y + 1) % 10)
    assert ((x_adv - x).flatten(2).abs().amax(dim=2) <= result.budgets + 1e-6).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"classes": "three"}, "classes must be"),
        ({"p": 3}, "p must be"),
        ({"budget_factors": (1.0,)}, "budget_factors"),
        ({"budget_factors": (1.4, 1.2)}, "budget_factors"),
        ({"tau": -1.0}, "tau"),
        ({"method": "lime"}, "unknown attribution"),
    ],
)
def test_bad_arguments_raise_clear_errors(trained_small, kwargs, message):
    with pytest.raises(ValueError, match=message):
        isa(trained_small, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), **kwargs)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"classes": "three"}, "classes must be one of"),
        ({"p": 3}, "p must be 1 or 2"),
        ({"tau": -0.1}, "tau must be a finite number >= 0"),
        ({"budget_factors": ()}, "budget_factors must be positive and increasing"),
        ({"budget_factors": (1.0, 0.9)}, "budget_factors must be positive and increasing"),
        ({"budget_factors": (0.5, 1.0)}, "with the last > 1"),
        ({"first_point": "paper"}, "first_point must be one of targeted, isa"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"search_rounds": 0}, "search_rounds must be an integer >= 1"),
        ({"eps_init": 0.0}, r"eps_init must be in \(0, 1\]"),
        ({"weight_init": 2.0}, r"weight_init must be in \(0, 1\]"),
        ({"beta": -1.0}, "beta must be a positive softplus sharpness"),
    ],
)
def test_a_bad_config_value_raises_when_the_config_is_built(fields, message):
    with pytest.raises(ValueError, match=message):
        ISAConfig(**fields)


def test_a_list_of_budget_factors_is_stored_as_a_tuple():
    assert ISAConfig(budget_factors=[1.0, 1.6]) == ISAConfig(budget_factors=(1.0, 1.6))


def test_a_config_runs_the_same_attack_as_its_fields_as_keywords(trained_small, batch):
    x, y = batch[0][:6], batch[1][:6]
    fields = {"classes": "all", "p": 2, "steps": 2, "search_rounds": 2, "budget_factors": (1.0, 1.5), "first_point": "isa", "tau": 0.2}
    by_config = isa(trained_small, x, y, config=ISAConfig(**fields), generator=torch.Generator().manual_seed(4))
    by_keywords = isa(trained_small, x, y, generator=torch.Generator().manual_seed(4), **fields)
    assert torch.equal(by_config[0], by_keywords[0])
    for a, b in zip(by_config[1], by_keywords[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    with pytest.raises(TypeError, match="ISAConfig has no option 'rounds'"):
        isa(trained_small, x, y, rounds=2)

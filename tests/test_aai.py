"""AAI: a Madry-trained net keeps more rank correlation than a natural one; filter and hinge modes; errors."""

import pytest
import torch

from lightning_robattr.attacks._explanation.aai import AAIConfig, aai
from lightning_robattr.attacks._explanation.isa import ISAConfig
from lightning_robattr.attacks._explanation.random_sign import random_sign
from lightning_robattr.attributions import cam
from lightning_robattr.metrics.functional import kendall_tau


@pytest.fixture(scope="module")
def batch(trained_small, madry_small, mnist5k):
    """96 test images both nets classify correctly."""
    x, y = mnist5k["test"]
    x, y = x[200:320], y[200:320]
    with torch.no_grad():
        correct = (trained_small(x).argmax(1) == y) & (madry_small(x).argmax(1) == y)
    return x[correct][:96], y[correct][:96]


def kept_tau(model, x, y, eps):
    _, record = aai(model, x, y, eps=eps, steps=30, generator=torch.Generator().manual_seed(0))
    return record.kendall_tau[record.label_kept].mean().item()


def test_madry_training_keeps_cam_rank_correlation_higher(trained_small, madry_small, batch):
    # Over four training seeds the Madry net keeps 0.069-0.109 more Kendall tau on 96 images, with a
    # standard error of 0.014-0.017; two equally trained nets would differ by about that error.
    x, y = batch
    assert kept_tau(madry_small, x, y, 0.1) > kept_tau(trained_small, x, y, 0.1) + 0.03


def test_aai_lowers_kendall_tau_more_than_random_sign_and_stays_in_ball(trained_small, batch):
    x, y = batch[0][:24], batch[1][:24]
    x_adv, record = aai(trained_small, x, y, eps=0.1, steps=20, generator=torch.Generator().manual_seed(1))
    x_rs = random_sign(x, eps=0.1, generator=torch.Generator().manual_seed(1))
    tau_rs = kendall_tau(cam(trained_small, x, y), cam(trained_small, x_rs, y))
    assert record.kendall_tau[record.label_kept].mean() < tau_rs.mean()
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    with torch.no_grad():
        assert torch.equal(record.label_kept, trained_small(x_adv).argmax(1) == y)
    torch.testing.assert_close(record.kendall_tau, kendall_tau(cam(trained_small, x, y), cam(trained_small, x_adv, y)))


def test_hinge_mode_keeps_more_labels_than_filter_mode(trained_small, batch):
    # On 48 images hinge mode keeps 8-23 labels, filter mode 0-4 (over four training seeds); on 24 the
    # two could differ by as few as 3 images.
    x, y = batch[0][:48], batch[1][:48]
    _, filtered = aai(trained_small, x, y, eps=0.2, steps=20, generator=torch.Generator().manual_seed(0))
    _, hinged = aai(trained_small, x, y, eps=0.2, steps=20, mode="hinge", generator=torch.Generator().manual_seed(0))
    assert hinged.label_kept.float().mean() > filtered.label_kept.float().mean()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"mode": "soft"}, "mode must be"), ({"k": 50}, "k must be"), ({"eps": 2.0}, "eps must"), ({"steps": 0}, "steps must be")],
)
def test_bad_arguments_raise_clear_errors(trained_small, kwargs, message):
    with pytest.raises(ValueError, match=message):
        aai(trained_small, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), **{"eps": 0.1, **kwargs})


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"k": 0}, "k must be an integer >= 1"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"step_size": None}, "step_size must be a finite number >= 0"),
        ({"norm": "l1"}, "norm must be one of linf, l2"),
        ({"mode": "soft"}, "mode must be one of filter, hinge"),
        ({"hinge_weight": -1.0}, "hinge_weight must be a finite number >= 0"),
        ({"channel_rule": "max"}, "channel_rule must be one of abs_sum, signed_sum, l2"),
        ({"beta": 0.0}, "beta must be a positive softplus sharpness, or None"),
    ],
)
def test_a_bad_config_value_raises_when_the_config_is_built(fields, message):
    with pytest.raises(ValueError, match=message):
        AAIConfig(**fields)


def test_a_config_runs_the_same_attack_as_its_fields_as_keywords(trained_small, batch):
    x, y = batch[0][:8], batch[1][:8]
    fields = {"k": 6, "steps": 4, "step_size": 0.02, "mode": "hinge", "hinge_weight": 5.0}
    by_config = aai(trained_small, x, y, eps="8/255", config=AAIConfig(**fields), generator=torch.Generator().manual_seed(2))
    by_keywords = aai(trained_small, x, y, eps=8 / 255, generator=torch.Generator().manual_seed(2), **fields)
    assert torch.equal(by_config[0], by_keywords[0])
    assert torch.equal(by_config[1].label_kept, by_keywords[1].label_kept)
    torch.testing.assert_close(by_config[1].kendall_tau, by_keywords[1].kendall_tau, rtol=0, atol=0, equal_nan=True)
    # a keyword replaces the config's field for this call only
    replaced = aai(trained_small, x, y, eps="8/255", config=AAIConfig(**fields), steps=2, generator=torch.Generator().manual_seed(2))
    written = aai(trained_small, x, y, eps="8/255", config=AAIConfig(**{**fields, "steps": 2}), generator=torch.Generator().manual_seed(2))
    assert torch.equal(replaced[0], written[0])


def test_an_unknown_option_or_a_foreign_config_is_refused(trained_small):
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([0, 1])
    with pytest.raises(TypeError, match="AAIConfig has no option 'stepz'"):
        aai(trained_small, x, y, eps=0.1, stepz=3)
    with pytest.raises(TypeError, match="config must be a AAIConfig, got ISAConfig"):
        aai(trained_small, x, y, eps=0.1, config=ISAConfig())

"""One options object per attack: validated when built, the same attack as the keywords, shared by function and callback."""

import inspect

import pytest
import torch

from lightning_robattr import callbacks
from lightning_robattr.attacks import AttributionAttackConfig, PGDConfig, attribution_attack, parse_eps, pgd
from lightning_robattr.attacks._budget import budgets, eps_label
from lightning_robattr.callbacks import AttributionAttackEval, EvaluationSchedule, PGDEval
from lightning_robattr.models import Small


@pytest.fixture(scope="module")
def net_and_batch():
    torch.manual_seed(0)
    return Small().eval(), torch.rand(6, 1, 28, 28), torch.arange(6)


@pytest.mark.parametrize(("spelt", "value"), [("8/255", 8 / 255), (" 2 / 255 ", 2 / 255), ("0.5/1", 0.5), (0.3, 0.3), (1, 1.0)])
def test_a_budget_is_a_number_or_a_fraction_in_pixel_units(spelt, value):
    assert parse_eps(spelt) == pytest.approx(value, abs=0)


@pytest.mark.parametrize("spelt", ["8/0", "eight/255", "8/255/2", "-8/255", "", "1e-2/x"])
def test_a_budget_that_is_not_a_fraction_is_refused(spelt):
    with pytest.raises(ValueError, match="is not a budget"):
        parse_eps(spelt)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_a_negative_or_non_finite_budget_is_refused(bad):
    with pytest.raises(ValueError, match=">= 0 in pixel units"):
        parse_eps(bad)


def test_budget_labels_keep_the_spelling_without_a_tag_separator():
    assert [label for label, _ in budgets(["2/255", 0.1])] == ["eps=2_255", "eps=0.1"]
    assert eps_label(0.30) == "eps=0.3"
    with pytest.raises(ValueError, match="twice"):
        budgets(["8/255", 8 / 255])
    with pytest.raises(ValueError, match="strictly increasing"):
        budgets(["8/255", "2/255"], increasing=True)
    with pytest.raises(ValueError, match=r"L-inf eps must lie in \[0, 1\]"):
        budgets([8], norm="linf")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PGDConfig(steps=0), "steps must be an integer >= 1"),
        (lambda: PGDConfig(step_size=-1.0), "step_size must be a finite number >= 0"),
        (lambda: PGDConfig(norm="l3"), "unknown norm 'l3'"),
        (lambda: PGDConfig(loss="hinge"), "unknown loss 'hinge'"),
        (lambda: PGDConfig(restarts=3, random_start=False), "set random_start=True"),
        (lambda: AttributionAttackConfig(k=0), "k must be an int >= 1 or a fraction"),
        (lambda: AttributionAttackConfig(k=1.5), "k must be an int >= 1 or a fraction"),
        (lambda: AttributionAttackConfig(beta=0.0), "beta must be a positive softplus sharpness"),
        (lambda: AttributionAttackConfig(constraint="squash"), "unknown constraint 'squash'"),
        (lambda: AttributionAttackConfig(normalize="max"), "unknown normalize 'max'"),
        (lambda: AttributionAttackConfig(measure="random_sign"), "unknown dissimilarity measure"),
        (lambda: EvaluationSchedule(num_samples=0), "num_samples must be an integer >= 1"),
        (lambda: EvaluationSchedule(every_n_epochs=-1), "every_n_epochs must be an integer >= 0"),
        (lambda: EvaluationSchedule(batch_size=0), "batch_size must be an integer >= 1"),
    ],
)
def test_a_bad_option_fails_when_the_config_is_built(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_a_config_is_frozen_and_an_unknown_option_is_named():
    config = PGDConfig()
    with pytest.raises(AttributeError):
        config.steps = 3
    with pytest.raises(TypeError, match=r"PGDConfig has no option 'stpes'; its options are \['steps'"):
        config.updated(stpes=3)
    assert config.updated(steps=3) == PGDConfig(steps=3) and config.steps == 40


def test_pgd_with_a_config_is_pgd_with_its_fields_as_keywords(net_and_batch):
    net, x, y = net_and_batch
    config = PGDConfig(steps=4, step_size=0.05, restarts=2)
    a, _ = pgd(net, x, y, eps="8/255", config=config, generator=torch.Generator().manual_seed(3))
    b, _ = pgd(net, x, y, eps=8 / 255, steps=4, step_size=0.05, restarts=2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert (a - x).abs().max() <= 8 / 255 + 1e-6


def test_attribution_attack_with_a_config_is_the_attack_with_its_fields_as_keywords(net_and_batch):
    net, x, _ = net_and_batch
    config = AttributionAttackConfig(steps=3, beta=10.0, k=50, random_start=True)
    a, ra = attribution_attack(net, x, eps="4/255", config=config, generator=torch.Generator().manual_seed(1))
    b, rb = attribution_attack(net, x, eps=4 / 255, steps=3, beta=10.0, k=50, random_start=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and torch.equal(ra.dissimilarity, rb.dissimilarity)


def test_a_callback_runs_the_attack_its_config_describes(net_and_batch):
    """PGDEval with a config gives the accuracy a written-out loop of pgd with the same config gives."""
    net, x, y = net_and_batch
    y = net(x).argmax(dim=1)  # all correct: the accuracy is the share pgd leaves unchanged
    config = PGDConfig(random_start=False, step_size=0.01)
    values = PGDEval(eps=["8/255"], steps=[5], attack=config, schedule=EvaluationSchedule(batch_size=6)).evaluate(net, x, y)
    x_adv, _ = pgd(net, x, y, eps=8 / 255, config=config, steps=5)
    expected = (net(x_adv).argmax(dim=1) == y).float().mean()
    assert values["robust/pgd_linf/eps=8_255/steps=5/acc"] == pytest.approx(float(expected), abs=1e-6)


def evaluation_callbacks():
    return [getattr(callbacks, name) for name in callbacks.__all__
            if inspect.isclass(getattr(callbacks, name)) and issubclass(getattr(callbacks, name), callbacks.ScheduledEvaluation)
            and getattr(callbacks, name) not in (callbacks.ScheduledEvaluation, callbacks.EvaluationCallback)]


@pytest.mark.parametrize("callback", evaluation_callbacks(), ids=lambda c: c.__name__)
def test_every_evaluation_callback_fits_on_a_screen(callback):
    """Grid axes, one config per attack and one schedule: no copies of attack options (at most 10 options)."""
    parameters = inspect.signature(callback).parameters
    assert "schedule" in parameters
    assert not {"num_samples", "every_n_epochs", "batch_size", "seed", "eps_scale", "attack_options"} & set(parameters)
    assert len(parameters) <= 10, list(parameters)


def test_a_schedule_given_to_a_callback_is_used_and_none_gives_the_class_default():
    assert PGDEval().schedule == PGDEval.default_schedule and PGDEval.default_schedule.batch_size == 100
    schedule = EvaluationSchedule(num_samples=7, seed=3)
    assert AttributionAttackEval(schedule=schedule).schedule is schedule

"""The attribution registry: each record agrees with what the package does with its method, aliases, renamed keywords."""

import inspect
from contextlib import nullcontext

import pytest
import torch
from torch import nn

from lightning_robattr.attacks import ADV2_SCHEDULES, ADV2Schedule, adv2, adv2_schedule, interpreter_transfer
from lightning_robattr.attacks._explanation import interpreters, maps
from lightning_robattr.attributions import (
    ATTRIBUTION_METHODS,
    ATTRIBUTIONS,
    AttributionMethod,
    attribution_record,
    get_attribution,
    saliency,
)
from lightning_robattr.attributions._mask import initial_mask_state, mask_saliency, mask_steps
from lightning_robattr.callbacks import ADV2Eval
from lightning_robattr.detection import EnsembleDetector, ensemble_agreement, ensemble_check
from lightning_robattr.models import CAMNet, RTSNet, Small

torch.manual_seed(0)
NET = Small().eval()
X = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
TARGET = torch.tensor([3, 5])
FAST = {"ig": {"steps": 3}, "smoothgrad": {"samples": 3}, "unigrad": {"samples": 3}, "mask": {"iterations": 3},
        "rts": {"saliency_net": RTSNet(1, 10, width=4).eval()}}
ALIASES = {"integrated_gradients": "ig", "grad_cam_pp": "gradcampp", "representation": "repr", "smooth_grad": "smoothgrad",
           "uni_grad": "unigrad", "grad_cam": "gradcam", "grad_cam_pp_int_repo": "gradcampp_int_repo"}
# how attacks differentiated each method before the registry knew it (maps.FIRST_ORDER_METHODS and the GRAD special case)
PREVIOUS_SURROGATES = {"cam": "none", "gradcam": "none", "gradcampp": "none", "gradcampp_int_repo": "none", "repr": "none", "rts": "none",
                       "grad": "relu_derivative"}


def seeded_map(explain, *args, **kwargs) -> torch.Tensor:
    """``explain(NET, X, TARGET, ...)`` from a fixed global seed (SmoothGrad and UniGrad draw noise)."""
    torch.manual_seed(0)
    return explain(NET, X, TARGET, *args, **kwargs)


@pytest.mark.parametrize("name", sorted(ATTRIBUTION_METHODS))
def test_every_record_is_what_get_attribution_runs(name):
    record = attribution_record(name)
    assert record.name == name and ATTRIBUTIONS[name].func is record.function
    options = FAST.get(name, {})
    torch.testing.assert_close(seeded_map(get_attribution(name, **options)), seeded_map(record.function, **record.defaults, **options))


@pytest.mark.parametrize("name", sorted(ATTRIBUTION_METHODS))
def test_every_record_says_on_which_grid_its_map_lies(name):
    shape = seeded_map(get_attribution(name, **FAST.get(name, {}))).shape[-2:]
    grid = attribution_record(name).grid
    assert {"input": shape == X.shape[-2:], "feature": shape == NET.features(X).shape[-2:],
            "coarse": shape[0] < X.shape[-2] and shape[1] < X.shape[-1]}[grid]


def test_grad_x_input_is_saliency_with_its_default_bound():
    record = attribution_record("grad_x_input")
    assert record.function is saliency and record.defaults == {"multiply_by_inputs": True}
    torch.testing.assert_close(get_attribution("grad_x_input")(NET, X, TARGET), saliency(NET, X, TARGET) * X)
    torch.testing.assert_close(get_attribution("grad_x_input", multiply_by_inputs=False)(NET, X, TARGET), saliency(NET, X, TARGET))


@pytest.mark.parametrize("alias, name", sorted(ALIASES.items()))
def test_a_function_name_is_an_alias_of_its_method(alias, name):
    assert attribution_record(alias) is ATTRIBUTION_METHODS[name] and alias not in ATTRIBUTIONS
    options = FAST.get(name, {})
    torch.testing.assert_close(seeded_map(get_attribution(alias, **options)), seeded_map(get_attribution(name, **options)))


def test_unknown_names_and_bad_records_are_refused_clearly():
    with pytest.raises(ValueError, match="unknown attribution 'lime'; attribution must be one of saliency, grad_x_input"):
        attribution_record("lime")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['mode'\]"):
        get_attribution("gradcampp", mode="int_repo")
    with pytest.raises(ValueError, match="grid of the attribution 'mine'"):
        AttributionMethod("mine", saliency, "pixels", "softplus")
    with pytest.raises(ValueError, match="surrogate of the attribution 'mine'"):
        AttributionMethod("mine", saliency, "input", "smooth")


# ---------------------------------------------------------------- the facts attacks read


@pytest.mark.parametrize("name", sorted(ATTRIBUTION_METHODS))
def test_surrogate_kinds_are_what_attacks_chose_before(name, monkeypatch):
    expected = PREVIOUS_SURROGATES.get(name, "softplus")
    assert attribution_record(name).surrogate == expected
    monkeypatch.setattr(maps, "softplus_surrogate", lambda model, beta: "softplus")
    monkeypatch.setattr(maps, "relu_derivative_surrogate", lambda model: "relu_derivative")
    chosen = maps.surrogate(NET, name)
    assert (isinstance(chosen, nullcontext) and expected == "none") or chosen == expected


def test_only_mask_is_tracked_only_repr_ignores_the_class_only_rts_needs_an_option():
    assert [n for n, r in ATTRIBUTION_METHODS.items() if r.tracker is not None] == ["mask"]
    assert [n for n, r in ATTRIBUTION_METHODS.items() if not r.per_class] == ["repr"]
    assert {n: list(r.required) for n, r in ATTRIBUTION_METHODS.items() if r.required} == {"rts": ["saliency_net"]}


@pytest.mark.parametrize("name", sorted(ATTRIBUTION_METHODS))
def test_adv2_schedules_are_the_authors_as_before(name):
    expected = ADV2_SCHEDULES[name] if name in ("grad", "mask", "rts") else ADV2_SCHEDULES["cam"]
    assert adv2_schedule(name) == expected
    assert adv2_schedule([name, "grad"]) == ADV2_SCHEDULES["cam"]  # ensembles


def test_the_tracked_mask_follows_its_optimisation_as_before():
    """``differentiable_map`` on MASK against the authors' tracking written out: restarts, plain steps, one step with a graph."""
    options, inner, restart = {"iterations": 3, "lr": 0.2}, 2, 3
    attacked = interpreters.differentiable_map(NET, TARGET, "mask", options, mask_inner_steps=inner, mask_restart_every=restart)
    state = None
    for call in range(5):
        x = (X + 0.02 * call).clamp(0, 1).requires_grad_(True)
        ours = attacked(x)
        (ours_grad,) = torch.autograd.grad(ours.sum(), x)
        if call % restart == 0:
            state = mask_steps(NET, x.detach(), TARGET, initial_mask_state(x.detach(), 7), iterations=3, lr=0.2)
        else:
            state = mask_steps(NET, x.detach(), TARGET, state, iterations=inner, lr=0.2)
        step = mask_steps(NET, x, TARGET, state, iterations=1, create_graph=True, lr=0.2)
        reference = mask_saliency(step.m, x.shape[-2:])  # raw: MASK's map is compared as it comes
        (reference_grad,) = torch.autograd.grad(reference.sum(), x)
        torch.testing.assert_close(ours, reference)
        torch.testing.assert_close(ours_grad, reference_grad)


# ---------------------------------------------------------------- GradCAM++ as the Int code computes it


class TinyCAMNet(CAMNet):
    """conv 3x3/4 -> ReLU -> conv 3x3/3 s2 -> GAP -> linear(3), its weights mixed in sign."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2, self.classifier = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 3, 3, stride=2, padding=1), nn.Linear(3, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(x)))


def test_gradcampp_int_repo_is_the_int_codes_formula():
    torch.manual_seed(0)
    net, x, target = TinyCAMNet().eval(), torch.rand(2, 1, 8, 8), torch.tensor([0, 2])
    features, weights = net.features(x).detach(), net.classifier.weight.detach()
    assert (weights < 0).any() and (weights > 0).any()
    expected = torch.stack([
        sum(max(weights[c, k].item(), 0.0) * features[b, k] for k in range(features.shape[1])) for b, c in enumerate(target.tolist())
    ])
    torch.testing.assert_close(get_attribution("gradcampp_int_repo")(net, x, target), expected)
    assert get_attribution("grad_cam_pp_int_repo", upsample=True)(net, x, target).shape == (2, 8, 8)
    assert not torch.allclose(get_attribution("gradcampp")(net, x, target), expected)  # the exact GradCAM++ is another method


# ---------------------------------------------------------------- renamed keywords


def with_old_names(call):
    """``(call(), the messages of the FutureWarnings it gave)``."""
    with pytest.warns(FutureWarning) as caught:
        result = call()
    return result, [str(w.message) for w in caught]


def renamed(function: str, old: str, new: str) -> str:
    return f"{function}({old}=...) is renamed {function}({new}=...); the old name will be removed"


def test_adv2_takes_its_old_keywords_with_a_future_warning_and_the_same_result():
    schedule = ADV2Schedule(1, ((5.0, 10.0, 1),))
    common = {"target": TARGET, "eps": 0.1, "step_size": 0.01, "schedule": schedule}
    x_new, new = adv2(NET, X, torch.tensor([0, 1]), method="mask", method_options={"mask": {"iterations": 2}}, **common)
    (x_old, old), messages = with_old_names(
        lambda: adv2(NET, X, torch.tensor([0, 1]), interpreter="mask", interpreter_options={"mask": {"iterations": 2}}, **common)
    )
    assert messages == [renamed("adv2", "interpreter", "method"), renamed("adv2", "interpreter_options", "method_options")]
    torch.testing.assert_close(x_old, x_new)
    torch.testing.assert_close(old.iou, new.iou)
    with pytest.raises(TypeError, match="give method= only"):
        adv2(NET, X, torch.tensor([0, 1]), method="cam", interpreter="cam")
    assert "interpreter" not in inspect.signature(adv2).parameters and "method" in inspect.signature(adv2).parameters


def test_the_ensemble_check_and_transfer_take_their_old_keywords_with_a_future_warning():
    options = {"grad": {"pool": 2}}
    old, messages = with_old_names(lambda: ensemble_agreement(NET, X, interpreters=["grad", "cam"], interpreter_options=options))
    assert messages == [renamed("ensemble_agreement", "interpreters", "methods"),
                        renamed("ensemble_agreement", "interpreter_options", "method_options")]
    torch.testing.assert_close(old, ensemble_agreement(NET, X, methods=["grad", "cam"], method_options=options))
    detector, messages = with_old_names(lambda: EnsembleDetector(NET, interpreters=["grad", "cam"], interpreter_options=options))
    assert messages[0] == renamed("EnsembleDetector", "interpreters", "methods")
    assert detector.methods == ["grad", "cam"] and detector.method_options == options
    schedule, messages = with_old_names(lambda: adv2_schedule(interpreter="grad"))
    assert schedule == ADV2_SCHEDULES["grad"] and messages == [renamed("adv2_schedule", "interpreter", "method")]
    small = {"eps": 0.1, "step_size": 0.01, "schedule_scale": 0.001, "generator": torch.Generator().manual_seed(0)}
    transfer, messages = with_old_names(
        lambda: interpreter_transfer(NET, X, torch.tensor([0, 1]), interpreters=["grad", "cam"], pgd=False, **small)
    )
    assert transfer.columns == ["grad", "cam"] and messages == [renamed("interpreter_transfer", "interpreters", "methods")]
    check, messages = with_old_names(lambda: ensemble_check(NET, X, torch.tensor([0, 1]), interpreters=["grad", "cam"], **small))
    assert check.attacks == ["adv2:grad", "adv2:cam", "pgd", "adv2:adaptive"]
    assert messages == [renamed("ensemble_check", "interpreters", "methods")]


def test_adv2_eval_takes_its_old_keywords_with_a_future_warning():
    old, messages = with_old_names(lambda: ADV2Eval(interpreters=["grad", "cam"], interpreter_options={"grad": {"pool": 2}}))
    assert messages == [renamed("ADV2Eval", "interpreters", "methods"), renamed("ADV2Eval", "interpreter_options", "method_options")]
    new = ADV2Eval(methods=["grad", "cam"], method_options={"grad": {"pool": 2}})
    assert old.methods == new.methods and old.options == new.options and old.schedules == new.schedules
    assert "interpreters" not in inspect.signature(ADV2Eval).parameters

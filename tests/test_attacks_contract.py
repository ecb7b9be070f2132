"""What every classification and unforeseen attack promises: model left as found, clear errors."""

import pytest
import torch
from torch import nn

from lightning_robattr.attacks import apgd, cw_l2, deepfool, fgsm, gabor, jpeg, pgd, snow
from lightning_robattr.models import Small

ATTACKS = {
    "fgsm": lambda m, x, y: fgsm(m, x, y, eps=0.1),
    "pgd": lambda m, x, y: pgd(m, x, y, eps=0.1, steps=2, restarts=2, early_stop=True),
    "apgd": lambda m, x, y: apgd(m, x, y, eps=0.1, steps=3, loss="dlr"),
    "cw_l2": lambda m, x, y: cw_l2(m, x, y, steps=3, binary_search_steps=2),
    "deepfool": lambda m, x, y: deepfool(m, x, y, steps=2),
    "gabor": lambda m, x, y: gabor(m, x, y, eps=0.2, steps=2),
    "snow": lambda m, x, y: snow(m, x, y, eps=0.5, steps=2),
    "jpeg_l1": lambda m, x, y: jpeg(m, x, y, norm="l1", eps=8.0, steps=2),
}


class ModeRecorder(nn.Module):
    """Wraps a net and records, at every forward pass, its training flag and the input dtype."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = Small()
        self.seen: list[tuple[bool, torch.dtype, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        self.seen.append((self.training, out.dtype, torch.is_autocast_enabled("cpu")))
        return out


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_leaves_the_model_as_found(name):
    model = ModeRecorder().train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x_adv, _ = ATTACKS[name](model, x, y)
    assert model.training
    assert model.seen
    assert all(not training and dtype == torch.float32 and not autocast for training, dtype, autocast in model.seen)
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert x_adv.shape == x.shape and x_adv.dtype == torch.float32 and not x_adv.requires_grad
    assert x_adv.min() >= 0 and x_adv.max() <= 1


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_rejects_images_outside_the_unit_range(name):
    model, y = Small().eval(), torch.arange(2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ATTACKS[name](model, torch.rand(2, 1, 28, 28) * 255, y)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x, y: pgd(m, x, y, eps=-0.1), "eps"),
        (lambda m, x, y: fgsm(m, x, y, eps=-1.0), "eps"),
        (lambda m, x, y: pgd(m, x, y, eps=0.1, steps=0), "steps"),
        (lambda m, x, y: pgd(m, x, y, eps=0.1, norm="l3"), "norm"),
        (lambda m, x, y: pgd(m, x, y, eps=0.1, loss="hinge"), "loss"),
        (lambda m, x, y: pgd(m, x, y, eps=0.1, restarts=2, random_start=False), "restarts"),
        (lambda m, x, y: apgd(m, x, y, eps=-0.1), "eps"),
        (lambda m, x, y: apgd(m, x, y, eps=0.1, steps=0), "steps"),
        (lambda m, x, y: apgd(m, x, y, eps=0.1, norm="l1"), "norm"),
        (lambda m, x, y: apgd(m, x, y, eps=0.1, loss="cw"), "loss"),
        (lambda m, x, y: cw_l2(m, x, y, c=-1.0), "c"),
        (lambda m, x, y: cw_l2(m, x, y, steps=0), "steps"),
        (lambda m, x, y: deepfool(m, x, y, steps=0), "steps"),
        (lambda m, x, y: deepfool(m, x, y, candidates=1), "candidates"),
        (lambda m, x, y: gabor(m, x, y, eps=-0.1), "eps"),
        (lambda m, x, y: gabor(m, x, y, steps=0), "steps"),
        (lambda m, x, y: snow(m, x, y, eps=-1.0), "eps"),
        (lambda m, x, y: snow(m, x, y, budget=0.0), "budget"),
        (lambda m, x, y: snow(m, x[..., :26, :26], y), "divisible by 4"),
        (lambda m, x, y: jpeg(m, x, y, norm="l3"), "norm"),
        (lambda m, x, y: jpeg(m, x, y, eps=-1.0), "eps"),
        (lambda m, x, y: jpeg(m, x, y, steps=0), "steps"),
        (lambda m, x, y: pgd(m, x, y[:1], eps=0.1), "labels"),
        (lambda m, x, y: pgd(m, x[0], y, eps=0.1), "images"),
    ],
)
def test_attack_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(Small().eval(), torch.rand(2, 1, 28, 28), torch.arange(2))

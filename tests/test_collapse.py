"""A collapsed model (one predicted class, or chance accuracy) is recognised; a trained one is not."""

import torch
from torch import nn

from lightning_robattr.reproduce._collapse import collapse_reason


def test_a_constant_classifier_is_collapsed():
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.zeros_(net[1].weight)
    with torch.no_grad():
        net[1].bias.copy_(torch.arange(10.0))  # always class 9
    reason = collapse_reason(net, torch.rand(20, 1, 28, 28), torch.arange(20) % 10)
    assert reason is not None and "class 9 for 100%" in reason


def test_a_classifier_at_chance_is_collapsed_even_when_it_spreads_its_predictions():
    y = torch.arange(100) % 10
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))  # random weights: about 10 % right, several classes
    reason = collapse_reason(net, torch.rand(100, 1, 28, 28), y)
    assert reason is not None and "clean accuracy" in reason


def test_a_trained_net_is_not_collapsed(trained_small, mnist5k):
    x, y = mnist5k["test"]
    assert collapse_reason(trained_small, x[:200].float(), y[:200]) is None

"""MASK's class term: on a confident net the softmax probability (the paper's) and the log-probability both give
constant maps (their gradient, about 1 - p, loses to the L1 term under Adam); the logit finds the region the net reads."""

import pytest
import torch
from torch import nn

from lightning_robattr.attributions import mask
from lightning_robattr.metrics.functional import constant_maps


class OneRegionNet(nn.Module):
    """Class 1 iff the top-left 12x12 block is bright, with a very confident (saturated) softmax."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 60.0 * (x[:, 0, :12, :12].mean(dim=(1, 2)) - 0.25)
        return torch.stack([-score, score], dim=1)


def test_the_logit_finds_the_region_where_a_saturated_probability_cannot():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, :12, :12] = 0.9
    x[:, :, 16:, 16:] = torch.rand(4, 1, 12, 12)  # texture the net ignores
    net = OneRegionNet()
    region = torch.zeros(28, 28, dtype=torch.bool)
    region[:12, :12] = True
    for term in ("probability", "log_probability"):  # p = 1 - 1e-34: the mask stays 1 and the map is 0
        assert constant_maps(mask(net, x, iterations=100, class_term=term)).all(), term
    maps = mask(net, x, iterations=100, class_term="logit")
    assert not constant_maps(maps).any()
    inside, outside = maps[:, region].mean(dim=1), maps[:, ~region].mean(dim=1)
    assert (inside > outside + 0.2).all(), (inside, outside)


def test_an_unknown_class_term_is_refused():
    with pytest.raises(ValueError, match="class_term must be one of"):
        mask(OneRegionNet(), torch.rand(1, 1, 28, 28), iterations=1, class_term="margin")

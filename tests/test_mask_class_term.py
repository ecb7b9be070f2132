"""MASK's class term: on a confident net the softmax probability (the paper's) and the log-probability both give
constant maps (their gradient, about 1 - p, loses to the L1 term under Adam); the logit, the default, finds the region
the net reads."""

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


def test_the_default_class_term_finds_the_region_on_a_confident_net():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, :12, :12] = 0.6 + 0.4 * torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(0))  # the read block, textured
    x[:, :, 16:, 16:] = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(1))  # texture the net ignores
    net = OneRegionNet()
    assert (net(x).diff(dim=1) > 40).all()  # p(class 1) > 1 - 1e-17: saturated in float32
    assert constant_maps(mask(net, x, iterations=100, class_term="probability")).all()  # the authors' term: no region
    maps = mask(net, x, iterations=100)
    assert not constant_maps(maps).any()
    near = torch.zeros(28, 28, dtype=torch.bool)
    near[:16, :16] = True  # the block and the one cell of the 7 x 7 grid that bilinear upsampling spills into
    within = maps[:, near].sum(dim=1) / maps.flatten(1).sum(dim=1)
    assert (within > 0.8).all(), within  # measured 0.92 to 0.93 (also at 400 iterations: scripts/bench_mask_class_term.py)


def test_an_unknown_class_term_is_refused():
    with pytest.raises(ValueError, match="class_term must be one of"):
        mask(OneRegionNet(), torch.rand(1, 1, 28, 28), iterations=1, class_term="margin")

"""MASK (meaningful perturbation): the TV term by hand, and the mask finds the one region a model reads."""

import torch
from torch import nn

from lightning_robattr.attributions import get_attribution, mask
from lightning_robattr.attributions._mask import gaussian_blur, total_variation


def test_total_variation_of_a_3x3_mask_by_hand():
    m = torch.tensor([[0.0, 1.0, 0.5], [0.2, 0.2, 0.2], [1.0, 0.0, 0.0]]).view(1, 1, 3, 3)
    beta = 3.0
    rows = [abs(m[0, 0, i + 1, j] - m[0, 0, i, j]) ** beta for i in range(2) for j in range(3)]
    cols = [abs(m[0, 0, i, j + 1] - m[0, 0, i, j]) ** beta for i in range(3) for j in range(2)]
    expected = sum(rows) / 6 + sum(cols) / 6
    torch.testing.assert_close(total_variation(m, beta), expected.view(1))


class ReadsOneQuadrant(nn.Module):
    """Class 1's logit is the match of the top-left quadrant with a checkerboard; class 0's is constant."""

    def __init__(self, pattern: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("pattern", pattern)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        match = (x[:, 0, :14, :14] - 0.5).mul(self.pattern).flatten(1).mean(dim=1)
        return torch.stack([torch.full_like(match, 1.0), 12 * match], dim=1)  # p_1 about 0.9: not saturated


def test_the_mask_concentrates_on_the_only_region_the_model_reads():
    board = (torch.arange(14)[:, None] + torch.arange(14)[None, :]) % 2 * 2.0 - 1  # +-1 checkerboard
    x = torch.full((1, 1, 28, 28), 0.5)
    x[0, 0, :14, :14] = 0.5 + 0.5 * board
    x[0, 0, 14:, 14:] = 0.5 + 0.5 * board  # the same texture where the model does not look
    model = ReadsOneQuadrant(board).eval()
    assert model(x).argmax(1).item() == 1
    region = torch.zeros(28, 28, dtype=torch.bool)
    region[:14, :14] = True
    exact = mask(model, x, iterations=300, blur_sigma=1.0, grid=28)[0] >= 0.5  # a full-resolution mask
    assert ((exact & region).sum() / (exact | region).sum()).item() >= 0.9  # measured 1.0
    coarse = mask(model, x, iterations=300, blur_sigma=1.0)[0]  # the default 7 x 7 grid spills one cell over (bilinear)
    assert coarse[region].mean() > coarse[~region].mean() + 0.7  # measured 1.0 against 0.1
    assert get_attribution("mask", iterations=2)(model, x).shape == (1, 28, 28)


def test_blur_keeps_a_constant_image_and_the_map_is_differentiable_with_create_graph():
    x = torch.full((1, 1, 8, 8), 0.3)
    torch.testing.assert_close(gaussian_blur(x, 1.0, 5), x)
    board = (torch.arange(14)[:, None] + torch.arange(14)[None, :]) % 2 * 2.0 - 1
    image = torch.full((1, 1, 28, 28), 0.5)
    image[0, 0, :14, :14] = 0.5 + 0.5 * board
    image.requires_grad_(True)
    # after 5 of Adam's steps of 0.1 the mask is inside (0, 1) where the model reads, so the map depends on the image
    (grad,) = torch.autograd.grad(mask(ReadsOneQuadrant(board), image, iterations=5, create_graph=True).sum(), image)
    assert grad.isfinite().all() and grad[0, 0, :14, :14].abs().sum() > 0

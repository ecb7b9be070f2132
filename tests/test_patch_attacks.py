"""Patch attacks: pasting replaces exactly the window; on a linear model the optimal patch is found; Small is fooled."""

import pytest
import torch
from torch import nn

from lightning_robattr.attacks import adversarial_patch, apply_patch, lavan, patch_attack
from lightning_robattr.attacks._patch.placement import patch_locations, patch_shape


def test_apply_patch_changes_only_the_patch_window():
    generator = torch.Generator().manual_seed(0)
    x, patch = torch.rand(3, 2, 8, 8, generator=generator), torch.rand(2, 3, 2, generator=generator)
    corners = torch.tensor([[0, 0], [5, 6], [2, 3]])
    out = apply_patch(x, patch, corners)
    for b, (r, c) in enumerate(corners.tolist()):
        window = torch.zeros(8, 8, dtype=torch.bool)
        window[r : r + 3, c : c + 2] = True
        assert torch.equal(out[b][:, window], patch.flatten(1))  # replaced, not added
        assert torch.equal(out[b][:, ~window], x[b][:, ~window])


def test_sizes_and_placements():
    assert patch_shape((28, 28), 0.25) == (14, 14) and patch_shape((32, 32), 0.02) == (5, 5)
    where = patch_locations(100, (28, 28), (5, 5), "random", generator=torch.Generator().manual_seed(0))
    assert where.min() >= 0 and where.max() <= 23 and len(where.unique(dim=0)) > 50
    assert patch_locations(4, (28, 28), (5, 5), (23, 0)).tolist() == [[23, 0]] * 4
    with pytest.raises(ValueError, match="does not fit"):
        patch_locations(1, (28, 28), (5, 5), (24, 0))
    with pytest.raises(ValueError, match="size"):
        patch_shape((28, 28), 0.0)


@pytest.mark.parametrize("optimise", [adversarial_patch, lavan], ids=["brown", "lavan"])
def test_on_a_linear_model_the_optimal_patch_is_the_indicator_of_the_target_direction(optimise):
    """Logits W x with 2 classes: over the window, z_t - z_y = sum (w_t - w_y) p (+ const), maximal at p = 1[w_t > w_y]."""
    generator = torch.Generator().manual_seed(0)
    layer = nn.Linear(36, 2, bias=False)
    layer.weight.data = torch.randn(2, 36, generator=generator)
    net = nn.Sequential(nn.Flatten(), layer).eval()
    images, labels = torch.rand(32, 1, 6, 6, generator=generator), torch.zeros(32, dtype=torch.long)
    patch = optimise(net, images, labels, target=1, size=1 / 9, steps=200, step_size=0.02, placement=(2, 2), generator=generator)
    direction = (layer.weight[1] - layer.weight[0]).detach().view(6, 6)[2:4, 2:4]
    torch.testing.assert_close(patch[0], (direction > 0).float())


def test_a_trained_patch_fools_small_on_held_out_digits(trained_small, mnist5k):
    x_train, y_train = mnist5k["train"][0][:1000], mnist5k["train"][1][:1000]
    patch = adversarial_patch(trained_small, x_train, y_train, target=3, size=0.25, steps=150, step_size=0.02,
                              generator=torch.Generator().manual_seed(0))
    x, y = mnist5k["test"][0][:200], mnist5k["test"][1][:200]
    x_adv, record = patch_attack(trained_small, x, y, patch=patch, target=3, generator=torch.Generator().manual_seed(1))
    noise, noise_record = patch_attack(trained_small, x, y, patch=torch.rand_like(patch), target=3, generator=torch.Generator().manual_seed(1))
    assert record.success.float().mean() > 0.4  # the universal patch works on unseen images (measured 0.63)
    assert record.success.float().mean() > noise_record.success.float().mean() + 0.3  # a random patch does not (0.05)
    assert not record.success[y == 3].any()

"""The unforeseen attacks of Kang et al.: each is an attack, and each keeps its own constraint."""

import importlib

import numpy as np
import pytest
import scipy.fft
import scipy.optimize
import torch

from lightning_robattr.attacks import gabor, jpeg, snow
from lightning_robattr.attacks._unforeseen.jpeg import l1_box_vertex
from lightning_robattr.attacks._unforeseen.jpeg_codec import _tables, jpeg_decode, jpeg_encode
from lightning_robattr.attacks._unforeseen.snow import SnowBudget, whiten

STEPS = 8
# The package re-exports the attack functions under their module names, so fetch the modules.
gabor_module, snow_module, jpeg_module = (
    importlib.import_module(f"lightning_robattr.attacks._unforeseen.{name}") for name in ("gabor", "snow", "jpeg")
)


@pytest.fixture(scope="module")
def batch(mnist5k):
    """The first 100 MNIST5k test images and labels."""
    x, y = mnist5k["test"]
    return x[:100], y[:100]


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.fixture
def spy(monkeypatch):
    """Records what the optimisation loop of an attack module returns (the attack's variables)."""
    seen = []

    def install(module, name):
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            seen.append((args, kwargs, out := original(*args, **kwargs)))
            return out

        monkeypatch.setattr(module, name, wrapped)
        return seen

    return install


def test_gabor_lowers_accuracy_and_only_adds_at_most_eps(trained_small, batch, spy):
    x, y = batch
    calls = spy(gabor_module, "projected_gradient_ascent")
    x_adv, _ = gabor(trained_small, x, y, eps=100 / 255, steps=STEPS, generator=torch.Generator().manual_seed(0))
    assert accuracy(trained_small, x_adv, y) < accuracy(trained_small, x, y) - 0.3
    delta = x_adv - x
    assert delta.min() >= 0 and delta.max() <= 100 / 255 + 1e-6
    assert calls[0][2].abs().max() <= 1  # the sparse-grid variables


def test_snow_lowers_accuracy_and_keeps_the_flake_budget(trained_small, batch, spy):
    x, y = batch
    calls = spy(snow_module, "projected_gradient_ascent")
    x_adv, _ = snow(trained_small, x, y, eps=0.5, steps=STEPS, generator=torch.Generator().manual_seed(0))
    assert accuracy(trained_small, x_adv, y) < accuracy(trained_small, x, y) - 0.2
    assert (x_adv >= whiten(x).clamp(max=1) - 1e-6).all()
    intensities = calls[0][2]
    assert intensities.min() > 0 and intensities.max() <= 1
    assert intensities.mean(dim=(-1, -2)).max() <= 0.2 + 1e-6  # 7x7 grids: one 8x8 block each


def test_snow_budget_projection_rescales_each_block_to_the_budget():
    v = torch.rand(2, 7, 16, 16)
    p = SnowBudget(0.2).project(v, v)
    blocks = p.unfold(-2, 8, 8).unfold(-2, 8, 8).mean(dim=(-1, -2))
    original = v.unfold(-2, 8, 8).unfold(-2, 8, 8).mean(dim=(-1, -2))
    torch.testing.assert_close(blocks, torch.minimum(original, torch.tensor(0.2)))


@pytest.mark.parametrize(("norm", "eps"), [("linf", 0.25), ("l2", 8.0), ("l1", 256.0)])
def test_jpeg_lowers_accuracy_and_keeps_its_coefficient_budget(trained_small, batch, spy, norm, eps):
    x, y = batch
    calls = spy(jpeg_module, "projected_gradient_ascent")
    x_adv, _ = jpeg(trained_small, x, y, norm=norm, eps=eps, steps=STEPS, generator=torch.Generator().manual_seed(0))
    assert accuracy(trained_small, x_adv, y) < accuracy(trained_small, x, y) - 0.2
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    v = calls[0][2].flatten(1)
    size = {"linf": v.abs().amax(1), "l2": v.norm(dim=1), "l1": v.abs().sum(1)}[norm]
    assert (size <= eps * (1 + 1e-5)).all()
    if norm != "linf":
        assert v.abs().max() <= 2


def test_jpeg_codec_uses_the_orthonormal_dct_and_is_lossless_on_grey_images():
    dct, luma, _ = _tables("cpu", torch.float64)
    block = np.random.default_rng(0).random((8, 8))
    np.testing.assert_allclose((dct @ torch.from_numpy(block) @ dct.T).numpy(), scipy.fft.dctn(block, norm="ortho"), atol=1e-12)
    assert luma[0, 0] == 16 and luma[7, 7] == 99
    grey = (torch.rand(2, 1, 32, 32, dtype=torch.float64) * 255).expand(-1, 3, -1, -1)
    torch.testing.assert_close(jpeg_decode(jpeg_encode(grey), 32, 32), grey)


def test_jpeg_with_zero_budget_returns_the_image(trained_small, batch):
    # Grey images survive the codec exactly (chroma is flat), so v = 0 gives back x.
    x, y = batch[0][:8], batch[1][:8]
    torch.testing.assert_close(jpeg(trained_small, x, y, eps=0.0, steps=1)[0], x, atol=1e-5, rtol=0)


def test_l1_box_vertex_solves_the_linear_program():
    grad = torch.randn(3, 12, dtype=torch.float64)
    vertex = l1_box_vertex(grad, eps=5.0, bound=2.0)
    for g, s in zip(grad.numpy(), vertex.numpy()):
        # max g.s  s.t. sum|s| <= 5, |s_i| <= 2, as an LP over s = p - n with p, n >= 0.
        result = scipy.optimize.linprog(np.concatenate([-g, g]), A_ub=np.ones((1, 24)), b_ub=[5.0], bounds=[(0, 2)] * 24)
        assert g @ s == pytest.approx(-result.fun)
        assert np.abs(s).sum() == pytest.approx(5.0) and np.abs(s).max() <= 2

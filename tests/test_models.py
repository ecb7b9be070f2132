"""Models: shapes, CAM grids, parameter counts, the GAP-linear structure, Normalize, the softplus surrogate, evaluation_mode."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from lightning_robattr.models import CAMAdapter, Normalize, Pool, ResNet20, Small, WideResNet, evaluation_mode, softplus_surrogate
from lightning_robattr.models._surrogate import LeakySoftplus

INT_WRESNET = {"widen_factor": 1, "batch_norm": False, "leaky_slope": 0.0, "head_bias": False, "final_activation": False}
"""The BN-free narrow network that "Proper Network Interpretability Helps Adversarial Robustness" calls WResnet."""


def conv(c_in: int, c_out: int, k: int, *, bias: bool = True) -> int:
    return c_out * c_in * k * k + (c_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def wide_resnet_parameters(
    widen_factor: int, *, batch_norm: bool, head_bias: bool, final_activation: bool, blocks: int = 5
) -> int:
    """Parameter count of a pre-activation WideResNet written out from its description (conv biases only without BN)."""
    total, channels = conv(3, 16, 3, bias=not batch_norm), 16
    for width in (16 * widen_factor, 32 * widen_factor, 64 * widen_factor):
        for _ in range(blocks):
            total += conv(channels, width, 3, bias=not batch_norm) + conv(width, width, 3, bias=not batch_norm)
            total += (bn(channels) + bn(width)) if batch_norm else 0
            channels = width
    total += bn(channels) if batch_norm and final_activation else 0
    return total + channels * 10 + (10 if head_bias else 0)


def resnet20_parameters() -> int:
    """ResNet-20 v1: stem conv + BN, 3x3 basic blocks of two bias-free convs + BNs, 1x1 biased conv shortcuts, biased head."""
    total, channels = conv(3, 16, 3, bias=False) + bn(16), 16
    for width in (16, 32, 64):
        for _ in range(3):
            total += conv(channels, width, 3, bias=False) + bn(width) + conv(width, width, 3, bias=False) + bn(width)
            total += conv(channels, width, 1) if channels != width else 0
            channels = width
    return total + 64 * 10 + 10


@pytest.fixture(scope="module")
def madry_wrn() -> WideResNet:
    """Madry's CIFAR-10 WRN (the default preset, ~46M parameters) on the meta device: shapes without storage."""
    with torch.device("meta"):
        return WideResNet().eval()


NETS = {
    "small_mnist": (partial(Small), (1, 28, 28)),
    "small_cifar": (partial(Small, in_channels=3), (3, 32, 32)),
    "pool": (partial(Pool), (1, 28, 28)),
    "resnet20": (partial(ResNet20), (3, 32, 32)),
    "wrn_madry_narrow": (partial(WideResNet, widen_factor=1, blocks_per_stage=2), (3, 32, 32)),
    "wrn_int": (partial(WideResNet, blocks_per_stage=2, **INT_WRESNET), (3, 32, 32)),
    "resnet18_adapter": (
        lambda: CAMAdapter(torchvision.models.resnet18(num_classes=10), feature_layer="layer4", classifier="fc"),
        (3, 64, 64),
    ),
}
"""Every architecture (WRNs narrow and shallow) as a factory, with the input shape it is used on."""


@pytest.fixture(scope="module")
def nets() -> dict[str, tuple[nn.Module, tuple[int, int, int]]]:
    """The nets of ``NETS``, built once and put in eval mode."""
    torch.manual_seed(0)
    return {name: (factory().eval(), shape) for name, (factory, shape) in NETS.items()}


@pytest.mark.parametrize(
    ("factory", "shape", "channels", "grid"),
    [
        (partial(Small), (1, 28, 28), 100, 7),
        (partial(Small, in_channels=3), (3, 32, 32), 100, 8),
        (partial(Pool), (1, 28, 28), 64, 7),
        (partial(Pool, in_channels=3), (3, 32, 32), 64, 8),
        (partial(ResNet20), (3, 32, 32), 64, 8),
        (partial(WideResNet, **INT_WRESNET), (3, 32, 32), 64, 8),
        (partial(ResNet20, num_classes=5), (3, 32, 32), 64, 8),
    ],
    ids=["small_mnist", "small_cifar", "pool_mnist", "pool_cifar", "resnet20", "wrn_int", "resnet20_5_classes"],
)
def test_logits_and_cam_grid_shapes(factory, shape, channels, grid):
    net = factory()
    x = torch.rand(2, *shape)
    with torch.no_grad():
        assert net.features(x).shape == (2, channels, grid, grid)
        assert net(x).shape == (2, net.num_classes)


def test_madry_wrn_has_640_channels_on_an_8x8_grid(madry_wrn):
    x = torch.empty(2, 3, 32, 32, device="meta")
    assert madry_wrn.features(x).shape == (2, 640, 8, 8) and madry_wrn(x).shape == (2, 10)


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (Small, conv(1, 16, 4) + conv(16, 32, 4) + conv(32, 100, 7) + 100 * 10),
        (Pool, conv(1, 32, 5) + conv(32, 64, 5) + 64 * 10),
        (ResNet20, resnet20_parameters()),
        (
            partial(WideResNet, **INT_WRESNET),
            wide_resnet_parameters(1, batch_norm=False, head_bias=False, final_activation=False),
        ),
    ],
    ids=["small", "pool", "resnet20", "wrn_int"],
)
def test_parameter_counts_follow_the_architecture(factory, expected):
    assert sum(p.numel() for p in factory().parameters()) == expected


def test_published_sizes():
    assert 165_000 < sum(p.numel() for p in Small().parameters()) < 167_000  # "about 166k" on MNIST
    assert 260_000 < sum(p.numel() for p in ResNet20().parameters()) < 280_000  # "0.27M"
    int_wrn = WideResNet(**INT_WRESNET)
    assert sum(isinstance(m, nn.Conv2d) for m in int_wrn.modules()) == 31
    assert not any(isinstance(m, nn.BatchNorm2d | nn.LeakyReLU) for m in int_wrn.modules())


def test_madry_wrn_parameter_count(madry_wrn):
    expected = wide_resnet_parameters(10, batch_norm=True, head_bias=True, final_activation=True)
    assert sum(p.numel() for p in madry_wrn.parameters()) == expected
    assert 45e6 < expected < 47e6
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.1 for m in madry_wrn.modules()) == 31


@pytest.mark.parametrize("name", NETS)
def test_forward_is_the_linear_head_on_globally_pooled_features(nets, name):
    net, shape = nets[name]
    x = torch.rand(3, *shape)
    with torch.no_grad():
        pooled = net.features(x).mean(dim=(2, 3))
        bias = 0 if net.classifier.bias is None else net.classifier.bias
        torch.testing.assert_close(net(x), pooled @ net.classifier.weight.T + bias)


@pytest.mark.parametrize(
    ("factory", "has_bias"),
    [
        (Small, False),
        (Pool, False),
        (partial(WideResNet, **INT_WRESNET), False),
        (ResNet20, True),
        (partial(WideResNet, widen_factor=1), True),
    ],
    ids=["small", "pool", "wrn_int", "resnet20", "wrn_madry"],
)
def test_only_the_int_papers_nets_have_bias_free_heads(factory, has_bias):
    assert (factory().classifier.bias is not None) == has_bias


def test_cam_adapter_wraps_a_torchvision_resnet(nets):
    resnet = nets["resnet18_adapter"][0].net
    adapter = CAMAdapter(resnet, feature_layer="layer4", classifier="fc", mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])
    x = torch.rand(2, 3, 64, 64)
    normalized = (x - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(adapter(x), resnet(normalized))
        torch.testing.assert_close(adapter.features(x), nn.Sequential(*list(resnet.children())[:-2])(normalized))
    assert adapter.classifier is resnet.fc and adapter.num_classes == 10
    assert not resnet.layer4._forward_hooks  # the capturing hook is removed again


def test_cam_adapter_refuses_a_head_that_is_not_linear(nets):
    resnet = nets["resnet18_adapter"][0].net
    with pytest.raises(TypeError, match="nn.Linear"):
        CAMAdapter(resnet, feature_layer="layer4", classifier="avgpool")
    with pytest.raises(AttributeError):
        CAMAdapter(resnet, feature_layer="layer5", classifier="fc")


def test_normalize_is_per_channel_standardisation():
    layer = Normalize([0.1, 0.2, 0.3], [0.5, 0.25, 2.0])
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    expected = (x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 2.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(layer(x), expected)
    (grad,) = torch.autograd.grad(layer(x).sum(), x)
    torch.testing.assert_close(grad[0, :, 0, 0], torch.tensor([2.0, 4.0, 0.5]))  # d/dx of (x - m) / s is 1 / s
    assert not list(layer.parameters()) and set(layer.state_dict()) == {"mean", "std"}


@pytest.mark.parametrize(("mean", "std", "message"), [([0.0, 0.0], [1.0], "channels"), ([0.0], [0.0], "positive")])
def test_normalize_refuses_bad_statistics(mean, std, message):
    with pytest.raises(ValueError, match=message):
        Normalize(mean, std)


def test_network_normalisation_is_its_first_layer():
    torch.manual_seed(0)
    normalized = Small(mean=[0.13], std=[0.31]).eval()
    plain = Small().eval()
    plain.load_state_dict({k: v for k, v in normalized.state_dict().items() if not k.startswith("normalize.")}, strict=False)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(normalized(x), plain((x - 0.13) / 0.31))


def input_hessian_vector_product(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``H v`` for the Hessian of the summed top logits w.r.t. the input and a fixed random direction ``v``."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).max(1).values.sum(), x, create_graph=True)
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    (hv,) = torch.autograd.grad((grad * v).sum(), x, allow_unused=True)
    return torch.zeros_like(x) if hv is None else hv


@pytest.mark.parametrize("name", NETS)
def test_surrogate_restores_the_net_bit_for_bit(nets, name):
    net, shape = nets[name]
    x = torch.rand(2, *shape)
    modules_before = list(net.named_modules())
    with torch.no_grad():
        before = net(x)
        with softplus_surrogate(net, beta=5.0):
            smooth = net(x)
        after = net(x)
    assert torch.equal(before, after) and not torch.equal(before, smooth)
    assert list(net.named_modules()) == modules_before


@pytest.mark.parametrize("name", NETS)
def test_surrogate_has_second_input_derivatives_the_relu_net_lacks(nets, name):
    net, shape = nets[name]
    x = torch.rand(1, *shape)
    hv = input_hessian_vector_product(net, x)
    with softplus_surrogate(net, beta=10.0):
        assert not any(isinstance(m, nn.ReLU | nn.LeakyReLU) for m in net.modules())
        smooth_hv = input_hessian_vector_product(net, x)
    assert hv.abs().max() == 0  # ReLU and leaky ReLU nets are piecewise linear and smooth_hv.abs().max() > 0


def test_surrogate_computes_softplus_with_the_given_sharpness():
    torch.manual_seed(0)
    net = Small().eval()
    x = torch.rand(2, 1, 28, 28)
    with softplus_surrogate(net, beta=3.0):
        smooth = net(x)

    def act(h: torch.Tensor) -> torch.Tensor:
        return torch.log1p(torch.exp(3.0 * h)) / 3.0  # beta^-1 log(1 + e^(beta h))

    features = net.conv3(act(net.conv2(act(net.conv1(x)))))
    torch.testing.assert_close(smooth, net.classifier(features.mean((2, 3))))


def test_surrogate_gradients_reach_the_real_parameters():
    net = Small()
    with softplus_surrogate(net, beta=2.0):
        net(torch.rand(2, 1, 28, 28)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_leaky_softplus_tends_to_leaky_relu_and_keeps_its_slope():
    h = torch.linspace(-3, 3, 61, dtype=torch.float64)
    torch.testing.assert_close(LeakySoftplus(0.1, beta=1e4)(h), F.leaky_relu(h, 0.1), atol=1e-4, rtol=0)
    torch.testing.assert_close(LeakySoftplus(0.1, beta=2.0)(h), 0.1 * h + 0.9 * torch.log1p(torch.exp(2.0 * h)) / 2.0)
    far = torch.tensor([-50.0, 50.0], requires_grad=True)
    (slope,) = torch.autograd.grad(LeakySoftplus(0.1, beta=1.0)(far).sum(), far)
    torch.testing.assert_close(slope, torch.tensor([0.1, 1.0]))


def test_surrogate_swaps_leaky_relu_for_leaky_softplus_with_the_same_slope():
    net = WideResNet(widen_factor=1, blocks_per_stage=1)
    with softplus_surrogate(net, beta=4.0):
        smooth = [m for m in net.modules() if isinstance(m, LeakySoftplus)]
        assert len(smooth) == 7 and all(m.negative_slope == 0.1 and m.beta == 4.0 for m in smooth)
    assert sum(isinstance(m, nn.LeakyReLU) for m in net.modules()) == 7


def test_surrogate_restores_the_net_when_the_body_raises():
    net = Small()
    with pytest.raises(KeyError), softplus_surrogate(net):
        raise KeyError
    assert isinstance(net.relu1, nn.ReLU) and isinstance(net.relu2, nn.ReLU)


def test_surrogate_refuses_a_non_positive_beta():
    with pytest.raises(ValueError, match="beta"), softplus_surrogate(Small(), beta=0.0):
        pass


def test_evaluation_mode_evaluates_with_autograd_in_fp32_and_restores_train_mode():
    net = ResNet20().train()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16), evaluation_mode(net):
        assert not any(m.training for m in net.modules())
        assert torch.is_grad_enabled()
        logits = net(x)
        assert logits.dtype == torch.float32 and logits.requires_grad
    assert all(m.training for m in net.modules())
    with evaluation_mode(net.eval()):
        pass
    assert not net.training


def test_evaluation_mode_restores_each_submodules_own_mode():
    net = ResNet20().train()
    net.stem[1].eval()  # a frozen BatchNorm must stay frozen after an attack during training
    with evaluation_mode(net):
        pass
    assert not net.stem[1].training and net.training and net.blocks[0].bn1.training


def test_evaluation_mode_restores_the_mode_when_the_body_raises():
    net = Small().train()
    with pytest.raises(KeyError), evaluation_mode(net):
        raise KeyError
    assert net.training


def test_evaluation_mode_refuses_inference_mode():
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode=False"), evaluation_mode(Small()):
        pass

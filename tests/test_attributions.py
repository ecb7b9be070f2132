"""Attribution methods against captum, written-out formulas and completeness identities."""

import copy

import captum.attr as ca
import pytest
import torch
from torch import nn

from lightning_robattr.attributions import (
    ATTRIBUTIONS,
    cam,
    class_activation_maps,
    deeplift,
    get_attribution,
    grad_cam,
    grad_cam_pp,
    grad_cam_pp_int_repo,
    integrated_gradients,
    representation,
    saliency,
    smooth_grad,
    uni_grad,
)
from lightning_robattr.attributions._uni_grad import uniform_noise
from lightning_robattr.models import CAMNet, RTSNet, Small

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """``max |actual - expected| <= rtol * max |expected|`` (relative to the map's scale)."""
    assert actual.shape == expected.shape
    scale = expected.abs().max()
    assert scale > 0
    assert (actual - expected).abs().max() <= rtol * scale, ((actual - expected).abs().max() / scale).item()


@pytest.fixture(scope="module")
def net(suite_seed) -> Small:
    torch.manual_seed(suite_seed)
    return Small().eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))


TARGET = torch.tensor([1, 2, 3])


def quick(name: str, steps: int = 3):
    """The registry method ``name`` with few IG steps / noise samples, for contract tests."""
    options = {"ig": {"steps": steps}, "smoothgrad": {"samples": steps}, "unigrad": {"samples": steps}, "mask": {"iterations": steps},
               "rts": {"saliency_net": RTSNet(1, 10, width=4).eval()}}.get(name, {})
    return get_attribution(name, **options)


class TinySoftplusNet(CAMNet):
    """conv 3x3/3 -> softplus -> conv 3x3/4 s2 -> GAP -> linear(3): smooth, so gradcheck applies."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1)
        self.act = nn.Softplus()
        self.conv2 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.classifier = nn.Linear(4, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


# ---------------------------------------------------------------- gradient maps vs captum


def test_saliency_matches_captum(net, x):
    assert_rel_close(saliency(net, x, TARGET), ca.Saliency(net).attribute(x, TARGET, abs=False))
    assert_rel_close(saliency(net, x, TARGET, abs=True), ca.Saliency(net).attribute(x, TARGET, abs=True))


def test_grad_x_input_matches_captum(net, x):
    assert_rel_close(get_attribution("grad_x_input")(net, x, TARGET), ca.InputXGradient(net).attribute(x, TARGET))


def test_prob_score_matches_captum_on_softmax_output(net, x):
    probs = nn.Sequential(net, nn.Softmax(dim=1))
    assert_rel_close(saliency(net, x, TARGET, score="prob"), ca.Saliency(probs).attribute(x, TARGET, abs=False))


@pytest.mark.parametrize(("rule", "captum_method"), [("riemann_right", "riemann_right"), ("gauss_legendre", "gausslegendre")])
def test_integrated_gradients_matches_captum(net, x, rule, captum_method):
    baseline = torch.full_like(x, 0.2)
    ours = integrated_gradients(net, x, TARGET, baseline=baseline, steps=8, rule=rule, internal_batch_size=10)
    theirs = ca.IntegratedGradients(net).attribute(
        x, baselines=baseline, target=TARGET, n_steps=8, method=captum_method, internal_batch_size=10
    )
    assert_rel_close(ours, theirs)


def test_trapezoid_is_captum_trapezoid_with_weights_summing_to_one(net, x):
    # captum's "riemann_trapezoid" uses step 1/n on n nodes (weights sum to 1 - 1/n); ours uses 1/(n - 1).
    n = 10
    ours = integrated_gradients(net, x, TARGET, steps=n, rule="trapezoid")
    theirs = ca.IntegratedGradients(net).attribute(x, target=TARGET, n_steps=n, method="riemann_trapezoid")
    assert_rel_close(ours, theirs * n / (n - 1))


def test_integrated_gradients_does_not_depend_on_internal_batch_size(net, x):
    one_pass = integrated_gradients(net, x, TARGET, steps=10, internal_batch_size=10_000)
    chunked = integrated_gradients(net, x, TARGET, steps=10, internal_batch_size=12)  # 4 points per chunk, last chunk short
    assert_rel_close(chunked, one_pass)


def test_integrated_gradients_completeness_within_one_percent(trained_small, mnist5k):
    images = mnist5k["test"][0][:4]
    ig = integrated_gradients(trained_small, images, steps=256)
    with torch.no_grad():
        logits, baseline_logits = trained_small(images), trained_small(torch.zeros_like(images))
    target = logits.argmax(dim=1, keepdim=True)
    gap = (logits.gather(1, target) - baseline_logits.gather(1, target)).squeeze(1)
    assert ((ig.flatten(1).sum(dim=1) - gap).abs() / gap.abs()).max() < 0.01


def test_smooth_grad_with_given_noise_matches_captum_saliency_average(net, x):
    noise = torch.randn(3, *x.shape, generator=torch.Generator().manual_seed(2))
    sigma = 0.1 * (x.flatten(1).amax(dim=1) - x.flatten(1).amin(dim=1))
    noisy = [x + n * sigma.view(-1, 1, 1, 1) for n in noise]
    expected = torch.stack([ca.Saliency(net).attribute(z, TARGET, abs=False) for z in noisy]).mean(0)
    assert_rel_close(smooth_grad(net, x, TARGET, noise=noise, internal_batch_size=4), expected)
    expected_x = expected * x
    assert_rel_close(smooth_grad(net, x, TARGET, noise=noise, multiply_by_inputs=True), expected_x)


def test_smooth_grad_matches_captum_noise_tunnel_under_the_same_global_seed(net, x):
    # captum draws N(0, stdevs) for all samples at once from the global RNG, sample-major per image
    # (rows ordered image-major); replaying the same draws reproduces its SmoothGrad.
    samples, stdev = 4, 0.15
    torch.manual_seed(3)
    theirs = ca.NoiseTunnel(ca.Saliency(net)).attribute(
        x, nt_type="smoothgrad", nt_samples=samples, stdevs=stdev, target=TARGET, abs=False
    )
    torch.manual_seed(3)
    draws = torch.normal(0, torch.tensor(stdev).repeat(x.shape[0] * samples, *x.shape[1:]))
    noise = draws.view(x.shape[0], samples, *x.shape[1:]).transpose(0, 1) / stdev
    assert_rel_close(smooth_grad(net, x, TARGET, noise=noise, sigma=stdev), theirs)


def test_smooth_grad_is_seeded_by_its_generator(net, x):
    first = smooth_grad(net, x, samples=4, generator=torch.Generator().manual_seed(5))
    again = smooth_grad(net, x, samples=4, generator=torch.Generator().manual_seed(5))
    other = smooth_grad(net, x, samples=4, generator=torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("method", [smooth_grad, uni_grad])
def test_seeded_noise_does_not_depend_on_internal_batch_size(net, x, method):
    one_pass = method(net, x, TARGET, samples=5, generator=torch.Generator().manual_seed(7), internal_batch_size=10_000)
    chunked = method(net, x, TARGET, samples=5, generator=torch.Generator().manual_seed(7), internal_batch_size=4)
    assert_rel_close(chunked, one_pass)


def test_uni_grad_averages_saliency_over_its_noise(net, x):
    g = torch.Generator().manual_seed(0)
    noise = uniform_noise((3, *x.shape), radius=0.1, norm="linf", generator=g, dtype=x.dtype, device=x.device)
    expected = torch.stack([ca.Saliency(net).attribute(x + n, TARGET, abs=False) for n in noise]).mean(0)  # noisy points leave [0, 1]
    assert_rel_close(uni_grad(net, x, TARGET, noise=noise), expected)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_uniform_noise_stays_in_its_ball_and_fills_it(norm):
    g = torch.Generator().manual_seed(0)
    noise = uniform_noise((400, 2, 1, 4, 4), radius=0.5, norm=norm, generator=g, dtype=torch.float64, device=torch.device("cpu"))
    sizes = noise.flatten(2).abs().amax(dim=2) if norm == "linf" else noise.flatten(2).norm(dim=2)
    assert sizes.max() <= 0.5 + 1e-12
    assert sizes.max() > 0.45  # samples reach the boundary region, not a shrunken ball


def test_deeplift_matches_captum(net, x):
    baseline = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(4)) * 0.3
    ours = deeplift(net, x, TARGET, baseline=baseline)
    assert_rel_close(ours, ca.DeepLift(net).attribute(x, target=TARGET, baselines=baseline.expand_as(x)))
    assert_rel_close(deeplift(net, x, TARGET), ca.DeepLift(net).attribute(x, target=TARGET))


def test_deeplift_sums_to_logit_difference(net, x):
    baseline = torch.full_like(x, 0.5)
    with torch.no_grad():
        gap = (net(x) - net(baseline)).gather(1, TARGET[:, None]).squeeze(1)
    total = deeplift(net, x, TARGET, baseline=baseline).flatten(1).sum(dim=1)
    assert torch.allclose(total, gap, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- CAM family


def test_cam_cells_average_to_logit_minus_bias():
    torch.manual_seed(0)
    net = Small()
    net.classifier = nn.Linear(100, 10, bias=True)
    x = torch.rand(3, 1, 28, 28)
    logits, cams = class_activation_maps(net, x)
    assert torch.allclose(cams.mean(dim=(2, 3)), logits - net.classifier.bias, atol=1e-5)
    paper = cam(net, x, TARGET, scale="sum_to_logit")
    unbiased = (logits - net.classifier.bias).gather(1, TARGET[:, None]).squeeze(1)
    assert torch.allclose(paper.sum(dim=(1, 2)), unbiased, atol=1e-5)


def test_cam_of_predicted_class_by_default(net, x):
    logits, cams = class_activation_maps(net, x)
    assert torch.equal(cam(net, x), cams[torch.arange(3), logits.argmax(dim=1)].detach())


@pytest.mark.parametrize("layer", [None, "relu2"])
def test_grad_cam_matches_captum_layer_grad_cam(net, x, layer):
    module = net.conv3 if layer is None else net.get_submodule(layer)
    theirs = ca.LayerGradCam(net, module).attribute(x, TARGET, relu_attributions=True)
    assert_rel_close(grad_cam(net, x, TARGET, layer=layer), theirs[:, 0])
    upsampled = ca.LayerAttribution.interpolate(theirs, (28, 28), interpolate_mode="bilinear")
    assert_rel_close(grad_cam(net, x, TARGET, layer=layer, upsample=True), upsampled[:, 0])


def test_grad_cam_on_gap_head_is_rectified_cam_over_cells(net, x):
    assert_rel_close(grad_cam(net, x, TARGET), torch.relu(cam(net, x, TARGET)) / 49)


def test_grad_cam_pp_exact_matches_closed_form_on_gap_head(net, x):
    features, weights = net.features(x).detach(), net.classifier.weight[TARGET].detach()
    denominator = 2 + weights * features.mean(dim=(2, 3))
    assert denominator.min() > 0
    expected = torch.relu(torch.einsum("bk,bkhw->bhw", torch.relu(weights) / denominator, features))
    assert_rel_close(grad_cam_pp(net, x, TARGET), expected)


def test_grad_cam_pp_exact_matches_written_out_formula_on_inner_layer(net, x):
    # Chattopadhay et al. eq. 19 with layer gradients from captum's LayerGradientXActivation.
    activations = ca.LayerActivation(net, net.relu2).attribute(x).double()
    grads = ca.LayerGradientXActivation(net, net.relu2, multiply_by_inputs=False).attribute(x, TARGET).double()
    sums = activations.sum(dim=(2, 3), keepdim=True)
    alpha = grads**2 / (2 * grads**2 + sums * grads**3)
    alpha = torch.where((grads != 0) & (2 * grads**2 + sums * grads**3 > 0), alpha, 0.0)
    weights = (alpha * torch.relu(grads)).sum(dim=(2, 3))
    expected = torch.relu((weights[:, :, None, None] * activations).sum(dim=1)).float()
    assert_rel_close(grad_cam_pp(net, x, TARGET, layer="relu2"), expected)


def test_grad_cam_pp_int_repo_is_cam_with_negative_weights_zeroed(net, x):
    features = net.features(x).detach()
    expected = torch.einsum("bk,bkhw->bhw", torch.relu(net.classifier.weight[TARGET].detach()), features)
    assert_rel_close(grad_cam_pp_int_repo(net, x, TARGET), expected)


def test_representation_is_the_feature_map(net, x):
    assert torch.equal(representation(net, x), net.features(x).detach())


# ---------------------------------------------------------------- shared contract


def test_registry_names_and_unknown_name():
    names = {"saliency", "grad", "grad_x_input", "ig", "smoothgrad", "unigrad", "cam", "gradcam", "gradcampp", "gradcampp_int_repo", "repr",
             "deeplift", "mask", "rts"}
    assert set(ATTRIBUTIONS) == names
    with pytest.raises(ValueError, match="saliency, grad_x_input"):
        get_attribution("lime")


@pytest.mark.parametrize("name", ["saliency", "ig", "smoothgrad", "unigrad", "gradcam", "gradcampp", "deeplift"])
def test_target_none_attributes_the_predicted_class(net, x, name):
    method = quick(name)
    predicted = net(x).argmax(dim=1)
    torch.manual_seed(0)
    by_default = method(net, x)
    torch.manual_seed(0)
    assert torch.equal(by_default, method(net, x, predicted))


@pytest.mark.parametrize("name", sorted(ATTRIBUTIONS))
def test_without_create_graph_no_graph_is_kept_and_no_param_grad(net, x, name):
    method = quick(name)
    out = method(net, x.clone().requires_grad_(True), TARGET)
    assert not out.requires_grad and out.grad_fn is None
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("name", sorted(ATTRIBUTIONS))
def test_dtype_follows_input(name):
    torch.manual_seed(0)
    net = TinySoftplusNet().double().eval()
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    method = quick(name, steps=2)
    assert method(net, x, torch.tensor([0, 2])).dtype == torch.float64


GRADCHECK_METHODS = {
    "saliency": {},
    "grad_x_input": {},
    "ig": {"steps": 3, "internal_batch_size": 4},
    "smoothgrad": {"noise": torch.randn(2, 2, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))},
    "unigrad": {"noise": 0.05 * torch.randn(2, 2, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))},
    "cam": {},
    "gradcam": {},
    "gradcampp": {},
    "gradcampp_int_repo": {},
    "repr": {},
    "deeplift": {"baseline": 0.3},
}


class _AttributionOf(nn.Module):
    def __init__(self, net: nn.Module, name: str) -> None:
        super().__init__()
        self.net, self.method = net, get_attribution(name, **GRADCHECK_METHODS[name])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.method(self.net, x, torch.tensor([0, 2]), create_graph=True)


@pytest.mark.parametrize("name", sorted(GRADCHECK_METHODS))
def test_create_graph_map_is_differentiable_in_input_and_parameters(name):
    torch.manual_seed(0)
    module = _AttributionOf(TinySoftplusNet().double().eval(), name)
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    weight = module.net.conv1.weight.detach().clone().requires_grad_(True)

    def attribution(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(module, {"net.conv1.weight": weight}, (x,))

    assert torch.autograd.gradcheck(attribution, (x, weight), fast_mode=True)


def test_runs_inside_no_grad_but_fails_clearly_under_inference_mode(net, x):
    with torch.no_grad():
        assert torch.equal(saliency(net, x, TARGET), saliency(net, x, TARGET))
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode=False"):
        saliency(net, x, TARGET)


# ---------------------------------------------------------------- eval mode inside every method


class BatchNormDropoutNet(CAMNet):
    """conv 3x3/6 -> BatchNorm -> ReLU -> dropout 0.5 -> conv 3x3/8 s2 -> GAP -> linear(5), on ``(B, 1, 16, 16)``.

    BatchNorm's running statistics lie away from any batch's, so train and eval mode give different maps.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn, self.relu = nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU()
        self.dropout, self.conv2, self.classifier = nn.Dropout(0.5), nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.Linear(8, 5)
        self.bn.running_mean.uniform_(-0.5, 0.5)
        self.bn.running_var.uniform_(0.5, 2.0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.dropout(self.relu(self.bn(self.conv1(x)))))


BN_NOISE = torch.randn(3, 4, 1, 16, 16, generator=torch.Generator().manual_seed(2))
BN_RTS = RTSNet(1, 5, width=4).eval()


def bn_quick(name: str, batch: int):
    """The registry method ``name`` for ``BatchNormDropoutNet``, its noise fixed for the first ``batch`` images."""
    options = {"ig": {"steps": 3}, "smoothgrad": {"noise": BN_NOISE[:, :batch]}, "unigrad": {"noise": 0.05 * BN_NOISE[:, :batch]},
               "mask": {"iterations": 3}, "rts": {"saliency_net": BN_RTS}}.get(name, {})
    return get_attribution(name, **options)


@pytest.mark.parametrize("name", sorted(ATTRIBUTIONS))
def test_a_train_mode_net_is_attributed_in_eval_mode_and_left_as_found(name):
    torch.manual_seed(0)
    net = BatchNormDropoutNet()
    x, target = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 3])
    expected = bn_quick(name, 4)(copy.deepcopy(net).eval(), x, target)  # the net put in eval mode by hand
    net.train()
    net.dropout.eval()  # a submodule whose own mode differs from its parent's gets it back too
    modes = {n: m.training for n, m in net.named_modules()}
    state = {k: v.clone() for k, v in net.state_dict().items()}
    maps = bn_quick(name, 4)(net, x, target)
    assert {n: m.training for n, m in net.named_modules()} == modes and not net._forward_hooks  # the logit check is gone too
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())  # running statistics and batch counter
    torch.testing.assert_close(maps, expected)
    torch.testing.assert_close(bn_quick(name, 1)(net, x[:1], target[:1]), maps[:1])  # one image's map alone = in the batch


def test_saliency_of_a_train_mode_net_is_the_input_gradient_of_its_eval_mode_logit():
    torch.manual_seed(0)
    net = BatchNormDropoutNet()
    x, target = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 3])
    reference, xi = copy.deepcopy(net).eval(), x.clone().requires_grad_(True)
    reference(xi).gather(1, target[:, None]).sum().backward()
    torch.testing.assert_close(saliency(net.train(), x, target), xi.grad)
    assert net.training

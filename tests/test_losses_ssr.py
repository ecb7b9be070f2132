"""SSR: the closed-form input Hessian, its top eigenvalue by every route, and the penalty's gradient."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_robattr.losses import ssr_loss, ssr_penalty, top_hessian_eigenvalue


def relu_net(num_classes: int, *, seed: int = 0, batch_norm: bool = False) -> nn.Module:
    """A small conv ReLU net on (3, 8, 8) images, in float64 (d = 192 >= num_classes)."""
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, num_classes)]
    if batch_norm:
        layers.insert(1, nn.BatchNorm2d(8))
    return nn.Sequential(*layers).double()


def images(n: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def autograd_input_hessian(net: nn.Module, x: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    """Per-example input Hessian of CE(net(x), 0) by autograd, ``(B, d, d)`` (d = C*H*W)."""
    d = x[0].numel()

    def hessian(xb: torch.Tensor) -> torch.Tensor:
        def loss(z: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(net(z[None]), torch.zeros(1, dtype=torch.long))

        h = torch.autograd.functional.hessian(loss, xb, create_graph=create_graph, vectorize=True)
        return h.reshape(d, d)

    return torch.stack([hessian(xb) for xb in x])


def test_closed_form_equals_autograd_input_hessian():
    net, x = relu_net(10), images(2)
    for b in range(2):
        xb = x[b : b + 1]
        jacobian = torch.autograd.functional.jacobian(net, xb).reshape(10, -1)  # (n_c, d)
        p = F.softmax(net(xb), dim=1)[0]
        closed_form = jacobian.T @ (torch.diag(p) - torch.outer(p, p)) @ jacobian
        torch.testing.assert_close(closed_form, autograd_input_hessian(net, xb)[0], rtol=1e-8, atol=1e-12)


def test_exact_route_gives_top_eigenvalue_of_autograd_hessian():
    net, x = relu_net(10), images(3)
    oracle = torch.linalg.eigvalsh(autograd_input_hessian(net, x))[:, -1]
    torch.testing.assert_close(top_hessian_eigenvalue(net, x, route="exact"), oracle, rtol=1e-4, atol=0)


@pytest.mark.parametrize("num_classes", [10, 100])
@pytest.mark.parametrize("route, iterations", [("power", 100), ("lanczos", 30)])
def test_matrix_free_routes_converge_to_top_eigenvalue(num_classes, route, iterations):
    net, x = relu_net(num_classes), images(3)
    oracle = torch.linalg.eigvalsh(autograd_input_hessian(net, x))[:, -1]
    estimate = top_hessian_eigenvalue(net, x, route=route, iterations=iterations, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(estimate, oracle, rtol=1e-2, atol=0)


@pytest.mark.parametrize("route", ["exact", "lanczos"])
def test_channel_mean_uses_channel_averaged_jacobian(route):
    net, x = relu_net(10), images(2)
    oracle = []
    for b in range(2):
        xb = x[b : b + 1]
        jacobian = torch.autograd.functional.jacobian(net, xb).reshape(10, 3, 64).mean(dim=1)  # (n_c, H*W)
        p = F.softmax(net(xb), dim=1)[0]
        oracle.append(torch.linalg.eigvalsh(jacobian.T @ (torch.diag(p) - torch.outer(p, p)) @ jacobian)[-1])
    estimate = top_hessian_eigenvalue(net, x, route=route, iterations=9, channel_reduce="mean")
    torch.testing.assert_close(estimate, torch.stack(oracle), rtol=1e-4, atol=0)


@pytest.mark.parametrize("route, iterations", [("exact", None), ("lanczos", 12), ("power", 200)])
def test_penalty_gradient_matches_autograd_through_eigvalsh(route, iterations):
    net, x = relu_net(10), images(2)
    oracle_value = torch.linalg.eigvalsh(autograd_input_hessian(net, x, create_graph=True))[:, -1].mean()
    oracle_grads = torch.autograd.grad(oracle_value, list(net.parameters()))
    penalty = ssr_penalty(net, x, scale=1.0, route=route, iterations=iterations, generator=torch.Generator().manual_seed(0))
    grads = torch.autograd.grad(penalty, list(net.parameters()))
    torch.testing.assert_close(penalty, oracle_value, rtol=1e-4, atol=0)
    for grad, oracle in zip(grads, oracle_grads):
        torch.testing.assert_close(grad, oracle, rtol=1e-3, atol=1e-3 * oracle.abs().max().item())


def test_ssr_loss_forms_weight_cross_entropy_and_penalty():
    net, x, y = relu_net(10), images(4), torch.tensor([0, 1, 2, 3])
    ce = F.cross_entropy(net(x), y)
    penalty = 7.0 * top_hessian_eigenvalue(net, x).mean()
    paper = ssr_loss(net, x, y, beta=0.3, scale=7.0, form="paper")
    code = ssr_loss(net, x, y, beta=0.3, scale=7.0, form="code")
    torch.testing.assert_close(paper.loss, ce + 0.3 * penalty)
    torch.testing.assert_close(code.loss, 0.7 * ce + 0.3 * penalty)
    torch.testing.assert_close(paper.parts["eig_max"] * 7.0, paper.parts["penalty"])


def test_hessian_of_batchnorm_net_is_per_example_in_eval_mode():
    net, x, y = relu_net(10, batch_norm=True), images(4), torch.tensor([0, 1, 2, 3])
    net.train()
    objective = ssr_loss(net, x, y, scale=1.0)
    assert net.training
    net.eval()
    per_example = torch.stack([top_hessian_eigenvalue(net, x[b : b + 1])[0] for b in range(4)])
    torch.testing.assert_close(objective.parts["eig_max"], per_example.mean(), rtol=1e-6, atol=0)


def test_unknown_route_is_refused():
    with pytest.raises(ValueError, match="route"):
        top_hessian_eigenvalue(relu_net(10), images(1), route="arnoldi")


def test_inference_mode_is_refused_with_a_clear_error():
    with torch.inference_mode():
        x = images(1)
    with pytest.raises(RuntimeError, match="inference_mode=False"):
        top_hessian_eigenvalue(relu_net(10), x)


def test_cifar_config_is_the_authors_loss_on_0_255_images():
    """configs/cifar10/ssr.yaml on [0, 1] images equals the authors' (1 - a) CE + a 1e6 lambda written out on 0-255 images."""
    from pathlib import Path

    import yaml

    config = yaml.safe_load((Path(__file__).parents[1] / "configs" / "cifar10" / "ssr.yaml").read_text())["model"]["init_args"]
    settings = {name: config[name] for name in ("beta", "scale", "form", "channel_reduce")}
    net, x, y = relu_net(10), images(3), torch.tensor([0, 4, 7])
    loss = ssr_loss(net, x, y, route="exact", **settings).loss

    def on_0_255(z: torch.Tensor) -> torch.Tensor:  # the same net as the authors feed it: 0-255 pixels
        return net(z / 255)

    x255, eigenvalues = x * 255, []
    for b in range(len(x)):
        jacobian = torch.autograd.functional.jacobian(on_0_255, x255[b : b + 1]).reshape(10, 3, 64).mean(dim=1)  # channel mean
        p = F.softmax(on_0_255(x255[b : b + 1]), dim=1)[0]
        eigenvalues.append(torch.linalg.eigvalsh(jacobian.T @ (torch.diag(p) - torch.outer(p, p)) @ jacobian)[-1])
    alpha = 0.3
    reference = (1 - alpha) * F.cross_entropy(on_0_255(x255), y) + alpha * 1e6 * torch.stack(eigenvalues).mean()
    torch.testing.assert_close(loss, reference, rtol=1e-4, atol=0)

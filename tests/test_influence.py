"""Influence functions on the last layer: the ranking agrees with leave-one-out retraining of a logistic regression."""

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn

from lightning_robattr.attributions._influence import LastLayerInfluence


class LogisticRegression(nn.Module):
    """Softmax regression on the 3 pixels of (1, 1, 3) images, the head named ``classifier`` (float64)."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Linear(3, 2).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.flatten(1))


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, damping: float) -> None:
    """Minimise mean CE + damping / 2 ||theta||^2 (the loss whose Hessian the influence uses) to convergence."""
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y) + damping / 2 * sum((p**2).sum() for p in model.parameters())
        loss.backward()
        return loss

    optimizer.step(closure)


def test_influence_ranking_agrees_with_leave_one_out_retraining():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(60, 1, 1, 3, generator=generator, dtype=torch.float64)
    y = ((x.flatten(1) @ torch.tensor([3.0, -2.0, 1.0], dtype=torch.float64) - 0.8
          + 0.5 * torch.randn(60, generator=generator, dtype=torch.float64)) > 0).long()
    x_test, y_test = torch.rand(1, 1, 1, 3, generator=generator, dtype=torch.float64), torch.tensor([1])
    damping = 0.01
    model = LogisticRegression()
    fit(model, x, y, damping)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        base = F.cross_entropy(model(x_test), y_test).item()
    predicted = LastLayerInfluence(model, x, y, damping=damping).scores(x_test, y_test)[0].detach() / len(x)
    actual = []
    for i in range(len(x)):
        keep = torch.arange(len(x)) != i
        model.load_state_dict(state)
        fit(model, x[keep], y[keep], damping * len(x) / len(x[keep]))  # (1/n) sum_{j != i}: the same objective rescaled
        with torch.no_grad():
            actual.append(F.cross_entropy(model(x_test), y_test).item() - base)
    model.load_state_dict(state)
    rho = spearmanr(predicted.numpy(), actual).statistic
    assert rho >= 0.95, rho


def test_most_influential_are_the_largest_scores_and_a_net_without_a_head_is_refused():
    generator = torch.Generator().manual_seed(1)
    x, y = torch.rand(20, 1, 1, 3, generator=generator, dtype=torch.float64), torch.randint(0, 2, (20,), generator=generator)
    model = LogisticRegression()
    influence = LastLayerInfluence(model, x, y)
    scores = influence.scores(x[:2], y[:2]).detach()
    assert torch.equal(influence.most_influential(x[:2], y[:2], k=3), scores.topk(3, dim=1).indices)
    with pytest.raises(TypeError, match="classifier"):
        LastLayerInfluence(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)).double(), x, y)


def test_the_influence_attack_moves_the_top_images_far_more_than_random_signs(trained_small, mnist5k):
    from lightning_robattr.attacks._explanation.influence_attack import influence_attack

    x_train, y_train = mnist5k["train"][0][:1000], mnist5k["train"][1][:1000]
    influence = LastLayerInfluence(trained_small, x_train, y_train, damping=0.01)
    x, y = mnist5k["test"][0][:40], mnist5k["test"][1][:40]
    y = trained_small(x).argmax(1)  # the clean predictions, as Ghorbani et al.
    _, attacked = influence_attack(trained_small, x, y, influence=influence, eps=0.05)
    _, random = influence_attack(trained_small, x, y, influence=influence, eps=0.05, random=True, generator=torch.Generator().manual_seed(0))
    kept = attacked.label_kept & random.label_kept
    assert kept.sum() >= 20
    assert attacked.top_overlap[kept].mean() < random.top_overlap[kept].mean() - 0.1  # measured 0.74 against 0.95
    assert attacked.rank_correlation[kept].mean() < random.rank_correlation[kept].mean() - 0.08  # measured 0.80 against 0.96

"""The reference-strength attribution attack: never weaker than the library's single attacks, its record checked
against scipy's rank correlations, degenerate maps flagged, and its callback tags and warning."""

import pytest
import scipy.stats
import torch
from torch import nn

from lightning_robattr.attacks import AttributionAttackConfig, attribution_attack, attribution_reference
from lightning_robattr.attributions import saliency
from lightning_robattr.callbacks import SIMILARITY_METRICS, AttributionAttackEval, EvaluationSchedule, MapScoring, ProtocolGapWarning
from lightning_robattr.metrics.functional import cosine_distance, mass_center_dislocation, topk_intersection

EPS = 0.1
K = 78  # 10 % of 784 pixels
LOWER_IS_WORSE = {"topk_intersection", "spearman", "kendall_tau"}


def correct_digits(net: nn.Module, mnist5k, count: int) -> torch.Tensor:
    x, y = mnist5k["test"]
    x, y = x[:100].float(), y[:100]
    with torch.no_grad():
        keep = net(x).argmax(dim=1) == y
    return x[keep][:count]


def saliency_maps(net: nn.Module, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Normalised saliency maps ``(B, 28, 28)`` computed here: |gradient|, summed to 1."""
    maps = saliency(net, x, label).abs().sum(dim=1)
    return maps / maps.flatten(1).sum(dim=1).view(-1, 1, 1)


def scores_of(clean: torch.Tensor, adv: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric of one clean/attacked map pair per image: scipy for the rank correlations."""
    a, b = clean.flatten(1).double().numpy(), adv.flatten(1).double().numpy()
    return {
        "topk_intersection": topk_intersection(clean, adv, k=K),
        "spearman": torch.tensor([scipy.stats.spearmanr(u, v).statistic for u, v in zip(a, b)]),
        "kendall_tau": torch.tensor([scipy.stats.kendalltau(u, v).statistic for u, v in zip(a, b)]),
        "mass_center_dislocation": mass_center_dislocation(clean, adv),
        "cosine_distance": cosine_distance(clean, adv),
    }


def library_worst(net: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image and metric, the worst score of the library's single attacks (label kept, else the clean map's score)."""
    label = net(x).argmax(dim=1)
    clean = saliency_maps(net, x, label)
    settings = [
        dict(objective="random_sign"),
        dict(objective="topk", steps=50, beta=1.0),
        dict(objective="topk", steps=50, beta=10.0),
        dict(objective="topk", steps=50, beta=30.0),
        dict(objective="mass_center", steps=50, beta=10.0),
    ]
    worst: dict[str, torch.Tensor] = {}
    for options in settings:
        x_adv, record = attribution_attack(net, x, eps=EPS, method="saliency", k=K, generator=torch.Generator().manual_seed(0), **options)
        for metric, value in scores_of(clean, saliency_maps(net, x_adv, label)).items():
            value = value.float().where(record.success, torch.tensor(1.0 if metric in LOWER_IS_WORSE else 0.0))
            pick = torch.minimum if metric in LOWER_IS_WORSE else torch.maximum
            worst[metric] = value if metric not in worst else pick(worst[metric], value)
    return worst


@pytest.mark.parametrize("net_name", ["trained_small", "madry_small"])
def test_the_reference_is_never_weaker_than_the_library_attacks(net_name, mnist5k, request):
    net = request.getfixturevalue(net_name)
    x = correct_digits(net, mnist5k, 24)
    worst = library_worst(net, x)
    record = attribution_reference(net, x, method="saliency", eps=EPS, k=K, generator=torch.Generator().manual_seed(0))
    margins = {"mass_center_dislocation": 0.3}
    for metric in SIMILARITY_METRICS:
        ours, theirs = record.scores[metric].double(), worst[metric].double()
        margin = margins.get(metric, 0.03)
        if metric in LOWER_IS_WORSE:
            assert ours.mean() <= theirs.mean() + margin, (metric, ours.mean(), theirs.mean())
            assert (ours <= theirs + 0.2).float().mean() >= 0.9, metric
        else:
            assert ours.mean() >= theirs.mean() - margin, (metric, ours.mean(), theirs.mean())


def test_the_record_holds_label_keeping_images_in_the_ball_whose_scores_scipy_confirms(trained_small, mnist5k):
    x = correct_digits(trained_small, mnist5k, 6)
    label = trained_small(x).argmax(dim=1)
    record = attribution_reference(trained_small, x, method="saliency", eps=EPS, k=K, budget="fast", generator=torch.Generator().manual_seed(1))
    clean = saliency_maps(trained_small, x, label)
    for metric in SIMILARITY_METRICS:
        x_adv = record.x_adv[metric]
        assert (x_adv - x).abs().max() <= EPS + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
        assert torch.equal(trained_small(x_adv).argmax(dim=1), label)
        recomputed = scores_of(clean, saliency_maps(trained_small, x_adv, label))[metric].float()
        torch.testing.assert_close(record.scores[metric], recomputed, atol=1e-4, rtol=1e-4)
        assert set(record.found_by[metric]) <= {"clean", *record.components}
    assert record.components == ("topk/beta30", "rank/beta30")
    assert record.label_kept.all() and not record.degenerate.any()
    # the attack did something: the top-k intersection moved off 1 for every image
    assert (record.scores["topk_intersection"] < 0.9).all()


def test_first_order_maps_are_attacked_on_the_net_itself(trained_small, mnist5k):
    x = correct_digits(trained_small, mnist5k, 4)
    record = attribution_reference(trained_small, x, method="cam", eps=EPS, k=0.2, metrics=["topk_intersection"], budget="fast")
    assert record.components == ("topk/net", "rank/net")
    assert record.scores["topk_intersection"].shape == (4,)


def test_constant_maps_are_flagged_and_never_scored():
    flat = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.zeros_(flat[1].weight)  # the saliency of every class is exactly zero
    x = torch.rand(3, 1, 28, 28)
    record = attribution_reference(flat, x, method="saliency", eps=EPS, budget="fast")
    assert record.degenerate.all()
    for metric in SIMILARITY_METRICS:
        assert record.scores[metric].isnan().all(), metric
        assert record.found_by[metric] == ("clean",) * 3


def test_bad_options_name_the_choices(trained_small):
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="budget"):
        attribution_reference(trained_small, x, method="saliency", eps=EPS, budget="huge")
    with pytest.raises(ValueError, match="metrics must be a non-empty subset"):
        attribution_reference(trained_small, x, method="saliency", eps=EPS, metrics=["iou"])
    with pytest.raises(ValueError, match="reference budget"):
        AttributionAttackEval(reference="huge")
    with pytest.raises(ValueError, match="objectives"):
        AttributionAttackEval(objectives=[])


def test_the_callback_logs_the_reference_beside_the_protocol_and_warns_when_the_protocol_is_weak(trained_small, mnist5k):
    x, y = mnist5k["test"]
    callback = AttributionAttackEval(
        eps=[EPS], metrics=["topk_intersection", "spearman"], attack=AttributionAttackConfig(steps=2), reference="fast",
        scoring=MapScoring(), schedule=EvaluationSchedule(num_samples=8, batch_size=8, progress=False),
    )
    with pytest.warns(ProtocolGapWarning, match="overstate attribution robustness"):
        values = callback.evaluate(trained_small, x[:8].float(), y[:8])
    for metric in ("topk_intersection", "spearman"):
        protocol, reference = values[f"attr/saliency/topk/eps=0.1/{metric}"], values[f"attr/reference/saliency/{metric}/eps=0.1"]
        assert reference < protocol
        torch.testing.assert_close(values[f"attr/reference/saliency/{metric}/eps=0.1/protocol_gap"], protocol - reference)
    assert values["attr/reference/saliency/eps=0.1/label_kept_rate"] == 1.0
    assert values["attr/reference/saliency/eps=0.1/degenerate_rate"] == 0.0
    assert values["attr/saliency/topk/eps=0.1/degenerate_rate"] == 0.0


def test_a_reference_only_callback_logs_no_protocol_tags(trained_small, mnist5k):
    x, y = mnist5k["test"]
    callback = AttributionAttackEval(
        objectives=[], eps=[EPS], metrics=["topk_intersection"], reference="fast",
        schedule=EvaluationSchedule(num_samples=4, batch_size=4, progress=False),
    )
    values = callback.evaluate(trained_small, x[:4].float(), y[:4])
    assert sorted(values) == [
        "attr/reference/saliency/eps=0.1/degenerate_rate",
        "attr/reference/saliency/eps=0.1/label_kept_rate",
        "attr/reference/saliency/topk_intersection/eps=0.1",
    ]

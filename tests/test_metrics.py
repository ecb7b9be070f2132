"""Attribution-similarity metrics against scipy and written-out definitions; Metric classes against their functional twins."""

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch
from torchmetrics.utilities.data import dim_zero_sum

from lightning_robattr.metrics import (
    CosineDistance,
    InterpretationDiscrepancy,
    KendallTau,
    LpDistance,
    MassCenterDislocation,
    NormalizedDiscrepancy,
    SpearmanCorrelation,
    TopKIntersection,
)
from lightning_robattr.metrics.functional import (
    cosine_distance,
    eps_auc,
    interpretation_discrepancy,
    iou,
    kendall_tau,
    lp_distance,
    mass_center_dislocation,
    normalized_discrepancy,
    reduce_channels,
    spearman,
    topk_intersection,
)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def random_maps(seed: int, *, batch: int = 6, size: int = 9, levels: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two batches of (batch, size, size) maps; ``levels`` quantises them to create many ties."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(batch, size, size, generator=g, dtype=torch.float64)
    b = a + 0.5 * torch.rand(batch, size, size, generator=g, dtype=torch.float64)
    if levels is not None:
        a, b = (a * levels).floor(), (b * levels).floor()
    return a, b


# ---------------------------------------------------------------- rank correlations vs scipy


RANK_PAIRS = [(spearman, scipy.stats.spearmanr), (kendall_tau, scipy.stats.kendalltau)]


@pytest.mark.parametrize("levels", [None, 3, 8], ids=["distinct", "heavy-ties", "ties"])
@pytest.mark.parametrize(("ours", "scipys"), RANK_PAIRS, ids=["spearman", "kendall"])
def test_rank_correlation_matches_scipy(ours, scipys, levels):
    a, b = random_maps(levels or 0, levels=levels, size=13)
    expected = torch.tensor([scipys(a[i].flatten().numpy(), b[i].flatten().numpy()).statistic for i in range(len(a))])
    assert torch.allclose(ours(a, b), expected, atol=1e-10)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 17, 64])
def test_kendall_tau_matches_scipy_for_every_length(size):
    g = torch.Generator().manual_seed(size)
    a, b = torch.randint(0, 4, (3, size), generator=g).double(), torch.randint(0, 4, (3, size), generator=g).double()
    expected = np.array([scipy.stats.kendalltau(a[i].numpy(), b[i].numpy()).statistic for i in range(3)])
    np.testing.assert_allclose(kendall_tau(a, b, channel_rule=None).numpy(), expected, atol=1e-12)


def test_rank_correlations_of_a_mnist_sized_batch_match_scipy():
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(4, 1, 28, 28, generator=g) * 20).floor()  # many exact ties, like zero-baseline IG on MNIST
    b = a + (torch.rand(4, 1, 28, 28, generator=g) * 4).floor()
    flat_a, flat_b = a.flatten(1).numpy(), b.flatten(1).numpy()
    for ours, theirs in RANK_PAIRS:
        expected = np.array([theirs(flat_a[i], flat_b[i]).statistic for i in range(4)])
        np.testing.assert_allclose(ours(a, b).numpy(), expected, rtol=1e-5)


def test_rank_correlation_of_a_map_with_itself_is_one_and_with_its_reverse_minus_one():
    a, _ = random_maps(1)
    for fn in (spearman, kendall_tau):
        assert torch.allclose(fn(a, a), torch.ones(len(a), dtype=a.dtype))
        assert torch.allclose(fn(a, -a, channel_rule=None), -torch.ones(len(a), dtype=a.dtype))


# ---------------------------------------------------------------- top-k


def test_topk_set_mode_counts_shared_top_features():
    a = torch.tensor([[[5.0, 4.0, 3.0], [2.0, 1.0, 0.0]]])
    b = torch.tensor([[[0.0, 4.0, 5.0], [1.0, 2.0, 3.0]]])  # top-3 of a: {0, 1, 2}; of b: {2, 5, 1}
    assert topk_intersection(a, b, k=3).item() == pytest.approx(2 / 3)
    assert topk_intersection(a, b, k=1).item() == 0.0


def test_topk_set_mode_is_symmetric_and_one_for_identical_maps():
    a, b = random_maps(2)
    assert torch.equal(topk_intersection(a, b, k=10), topk_intersection(b, a, k=10))
    assert torch.equal(topk_intersection(a, a, k=10), torch.ones(len(a), dtype=a.dtype))


def test_topk_mass_mode_is_perturbed_mass_on_original_top_k():
    a, b = random_maps(3)
    k = 7
    expected = []
    for i in range(len(a)):
        top = np.argsort(-a[i].flatten().numpy(), kind="stable")[:k]
        weights = np.abs(b[i].flatten().numpy())
        expected.append(weights[top].sum() / weights.sum())
    assert torch.allclose(topk_intersection(a, b, k=k, mode="mass"), torch.tensor(expected, dtype=a.dtype))


def test_topk_ties_go_to_the_lower_index():
    tied = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])
    first_two = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    assert topk_intersection(tied, first_two, k=2).item() == 1.0


# ---------------------------------------------------------------- distances


def test_mass_center_dislocation_in_pixels():
    a = torch.zeros(2, 4, 5)
    b = torch.zeros(2, 4, 5)
    a[0, 0, 0], b[0, 3, 4] = 1.0, 1.0  # (0, 0) -> (3, 4): distance 5
    a[1, 1, 1] = a[1, 1, 2] = 1.0  # centre (1, 1.5); int-cast (1, 1)
    b[1, 1, 1] = 1.0
    assert torch.allclose(mass_center_dislocation(a, b), torch.tensor([5.0, 0.5]))
    assert torch.allclose(mass_center_dislocation(a, b, int_cast=True), torch.tensor([5.0, 0.0]))
    assert torch.equal(mass_center_dislocation(a, a), torch.zeros(2))


def test_cosine_and_lp_distances_match_scipy():
    a, b = random_maps(4)
    flat_a, flat_b = a.flatten(1).numpy(), b.flatten(1).numpy()
    cos = [scipy.spatial.distance.cosine(flat_a[i], flat_b[i]) for i in range(len(a))]
    assert torch.allclose(cosine_distance(a, b), torch.tensor(cos, dtype=a.dtype))
    for p in (1, 2):
        expected = [scipy.spatial.distance.minkowski(flat_a[i], flat_b[i], p) for i in range(len(a))]
        assert torch.allclose(lp_distance(a, b, p=p), torch.tensor(expected, dtype=a.dtype))


def test_reduce_channels_rules():
    maps = torch.tensor([[[[3.0]], [[-4.0]]]])
    assert reduce_channels(maps).item() == 7.0
    assert reduce_channels(maps, "signed_sum").item() == -1.0
    assert reduce_channels(maps, "l2").item() == 5.0
    with pytest.raises(ValueError, match="abs_sum"):
        reduce_channels(maps, "max")


def test_multi_channel_maps_are_reduced_by_abs_sum_before_comparison():
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(3, 3, 6, 6, generator=g), torch.randn(3, 3, 6, 6, generator=g)
    ra, rb = a.abs().sum(dim=1), b.abs().sum(dim=1)
    assert torch.equal(topk_intersection(a, b, k=5), topk_intersection(ra, rb, k=5))
    assert torch.allclose(cosine_distance(a, b), cosine_distance(ra, rb))


# ---------------------------------------------------------------- AUC, NDS, Int discrepancy


def test_eps_auc_of_constant_one_over_ssr_budgets_is_three():
    eps = [2 / 255, 4 / 255, 8 / 255, 16 / 255]
    assert eps_auc(eps, torch.ones(4)).item() == pytest.approx(3.0)
    values = torch.tensor([[0.9, 0.7, 0.5, 0.2]])
    assert eps_auc(eps, values).item() == pytest.approx(0.5 * 0.9 + 0.7 + 0.5 + 0.5 * 0.2)


def test_normalized_discrepancy_divides_by_clean_range():
    clean = torch.tensor([[[[0.0, 4.0], [1.0, 2.0]], [[1.0, 1.0], [3.0, 1.0]]]])  # ranges 4 and 2
    adv = clean + torch.tensor([[[[2.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, -1.0]]]])
    assert normalized_discrepancy(clean, adv, p=1).item() == pytest.approx((2 / 4 + 2 / 2) / 2)
    assert normalized_discrepancy(clean, adv, p=2).item() == pytest.approx((2 / 4 + 2**0.5 / 2) / 2)
    assert normalized_discrepancy(clean, clean).item() == 0.0


def test_interpretation_discrepancy_class_sets():
    g = torch.Generator().manual_seed(6)
    clean, adv = torch.randn(3, 4, 2, 2, generator=g), torch.randn(3, 4, 2, 2, generator=g)
    logits = torch.randn(3, 4, generator=g)
    t, t2 = torch.tensor([0, 1, 3]), torch.tensor([2, 0, 1])
    d = (clean - adv).abs().sum(dim=(2, 3))  # (B, n_c) per-class L1
    rows = torch.arange(3)
    assert torch.allclose(interpretation_discrepancy(clean, adv, target=t), d[rows, t])
    two = interpretation_discrepancy(clean, adv, classes="two", target=t, adv_target=t2)
    assert torch.allclose(two, (d[rows, t] + d[rows, t2]) / 2)
    assert torch.allclose(interpretation_discrepancy(clean, adv, classes="all"), d.mean(dim=1))
    p = logits.softmax(dim=1)
    others = p.clone()
    others[rows, t] = 0
    code = d[rows, t] + (others * d).sum(dim=1) / others.sum(dim=1)
    paper = d[rows, t] / 2 + (others * d).sum(dim=1) / 2
    assert torch.allclose(interpretation_discrepancy(clean, adv, classes="weighted", target=t, adv_logits=logits), code)
    assert torch.allclose(
        interpretation_discrepancy(clean, adv, classes="weighted", target=t, adv_logits=logits, weighting="paper"), paper
    )
    squares = (clean - adv).pow(2).sum(dim=(2, 3))
    assert torch.allclose(interpretation_discrepancy(clean, adv, target=t, p=2, squared=True), squares[rows, t])
    assert torch.allclose(interpretation_discrepancy(clean, adv, target=t, p=2), squares[rows, t].sqrt())


def test_interpretation_discrepancy_is_zero_on_identical_maps_and_asks_for_missing_labels():
    maps = torch.randn(2, 3, 2, 2)
    assert torch.equal(interpretation_discrepancy(maps, maps, classes="all"), torch.zeros(2))
    with pytest.raises(ValueError, match="adv_target"):
        interpretation_discrepancy(maps, maps, classes="two", target=torch.tensor([0, 1]))


def test_weighted_discrepancy_passes_gradients_through_the_weights():
    clean = torch.randn(2, 3, 2, 2)
    adv = torch.randn(2, 3, 2, 2)
    logits = torch.randn(2, 3, requires_grad=True)
    interpretation_discrepancy(clean, adv, classes="weighted", target=torch.tensor([0, 1]), adv_logits=logits).sum().backward()
    assert logits.grad.abs().sum() > 0


# ---------------------------------------------------------------- Metric classes


METRIC_CASES = [
    (TopKIntersection(k=10), lambda a, b: topk_intersection(a, b, k=10)),
    (TopKIntersection(k=10, mode="mass"), lambda a, b: topk_intersection(a, b, k=10, mode="mass")),
    (SpearmanCorrelation(), spearman),
    (KendallTau(), kendall_tau),
    (MassCenterDislocation(int_cast=True), lambda a, b: mass_center_dislocation(a, b, int_cast=True)),
    (CosineDistance(), cosine_distance),
    (LpDistance(p=2), lambda a, b: lp_distance(a, b, p=2)),
    (NormalizedDiscrepancy(), normalized_discrepancy),
]


@pytest.mark.parametrize(("metric", "functional"), METRIC_CASES, ids=lambda v: type(v).__name__)
def test_metric_class_is_mean_of_functional_over_batches(metric, functional):
    metric.reset()
    a, b = random_maps(7, batch=10)
    metric.update(a[:4], b[:4])
    metric.update(a[4:], b[4:])
    assert metric.compute().item() == pytest.approx(functional(a, b).mean().item(), rel=1e-6)


@pytest.mark.parametrize(("metric", "_"), METRIC_CASES, ids=lambda v: type(v).__name__)
def test_metric_states_reduce_by_sum_without_full_state_update(metric, _):
    assert metric.full_state_update is False
    assert all(metric._reductions[name] is dim_zero_sum for name in ("total", "count", "skipped"))
    # two "ranks" merged by summing their states report the one-process mean (what DDP's sum-reduction does)
    a, b = random_maps(8, batch=6)
    rank0, rank1 = type(metric)(**_init_args(metric)), type(metric)(**_init_args(metric))
    rank0.update(a[:2], b[:2])
    rank1.update(a[2:], b[2:])
    rank0.merge_state(rank1)
    single = type(metric)(**_init_args(metric))
    single.update(a, b)
    assert rank0.compute().item() == pytest.approx(single.compute().item(), rel=1e-6)


def _init_args(metric) -> dict:
    names = ("k", "mode", "int_cast", "p", "channel_rule", "cell_mean")
    return {name: getattr(metric, name) for name in names if hasattr(metric, name)}


def test_undefined_scores_are_skipped_and_counted():
    metric = SpearmanCorrelation()
    a, b = random_maps(9, batch=3)
    a[0] = 1.0  # a constant map has no ranking
    metric.update(a, b)
    assert metric.skipped.item() == 1
    assert metric.compute().item() == pytest.approx(spearman(a[1:], b[1:]).mean().item(), rel=1e-6)


def test_interpretation_discrepancy_metric_takes_labels():
    metric = InterpretationDiscrepancy(classes="two", p=1)
    clean, adv = torch.zeros(2, 4, 2, 2), torch.ones(2, 4, 2, 2)
    metric.update(clean, adv, target=torch.tensor([0, 1]), adv_target=torch.tensor([2, 3]))
    assert metric.compute().item() == 4.0


def test_iou_equals_t_over_2_minus_t_of_the_topk_intersection():
    from lightning_robattr.metrics import IoU
    from lightning_robattr.metrics.functional import iou, topk_intersection

    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(6, 7, 7, generator=generator), torch.rand(6, 7, 7, generator=generator)
    grid = (0.1, 0.2, 0.3, 0.4, 0.5)
    counts = [max(1, round(k * 49)) for k in grid]
    expected = torch.stack([(t := topk_intersection(a, b, k=n)) / (2 - t) for n in counts]).mean(dim=0)
    torch.testing.assert_close(iou(a, b), expected)
    assert torch.equal(iou(a, a), torch.ones(6))
    disjoint_a = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]]); disjoint_b = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    assert iou(disjoint_a, disjoint_b, k=2).item() == 0.0
    metric = IoU(k=[0.2])
    metric.update(a, b)
    assert metric.compute().item() == pytest.approx(iou(a, b, k=[0.2]).mean().item())
    with pytest.raises(ValueError, match="each k must be a fraction"):
        iou(a, b, k=[1.5])


MAP_METRICS = {
    "spearman": spearman,
    "kendall_tau": kendall_tau,
    "topk_intersection": lambda a, b: topk_intersection(a, b, k=3),
    "iou": iou,
    "mass_center_dislocation": mass_center_dislocation,
    "cosine_distance": cosine_distance,
    "lp_distance": lambda a, b: lp_distance(a, b, p=2),
    "normalized_discrepancy": normalized_discrepancy,
    "interpretation_discrepancy": lambda a, b: interpretation_discrepancy(a, b, classes="all"),
}


@pytest.mark.parametrize("name", sorted(MAP_METRICS))
@pytest.mark.parametrize("shape", [(4, 1, 7, 7), (1, 9, 9), (4, 7, 8)], ids=["more_dims", "one_image", "other_grid"])
def test_maps_of_different_shapes_are_refused_naming_both_shapes(name, shape):
    a, b = torch.rand(4, 9, 9), torch.rand(shape)  # a single map b would broadcast over the batch without the check
    with pytest.raises(ValueError, match="must be maps of the same shape") as raised:
        MAP_METRICS[name](a, b)
    assert "(4, 9, 9)" in str(raised.value) and str(shape) in str(raised.value)


def test_maps_of_one_grid_compare_whatever_their_channels():
    a = torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(spearman(a, a.abs().sum(dim=1)), torch.ones(2))  # (B, C, H, W) vs its abs_sum (B, H, W)

"""Degenerate (constant) attribution maps: the similarity metrics give NaN, the metric classes leave them out and count them."""

import math

import pytest
import torch

from lightning_robattr.detection import defined_scores, threshold_at_fpr
from lightning_robattr.metrics import IoU, KendallTau, TopKIntersection
from lightning_robattr.metrics.functional import (
    constant_maps,
    cosine_distance,
    iou,
    kendall_tau,
    mass_center_dislocation,
    spearman,
    topk_intersection,
)

A = torch.tensor([[[3.0, 2.0], [1.0, 0.0]]])  # (1, 2, 2)
B = torch.tensor([[[0.0, 2.0], [3.0, 1.0]]])
FLAT = torch.full((1, 2, 2), 0.5)
ZERO = torch.zeros(1, 2, 2)


@pytest.mark.parametrize("flat", [FLAT, ZERO], ids=["constant", "zero"])
@pytest.mark.parametrize(
    "metric",
    [
        lambda a, b: topk_intersection(a, b, k=2),
        lambda a, b: topk_intersection(a, b, k=2, mode="mass"),
        lambda a, b: iou(a, b, k=2),
        lambda a, b: iou(a, b),
        spearman,
        kendall_tau,
    ],
    ids=["topk_set", "topk_mass", "iou_k2", "iou_grid", "spearman", "kendall_tau"],
)
def test_ranking_metrics_are_nan_on_constant_maps(metric, flat):
    assert torch.isnan(metric(flat, flat.clone())).all()  # both constant: was 1.0 by tie order
    assert torch.isnan(metric(flat, B)).all()  # only the clean map constant
    assert torch.isnan(metric(A, flat)).all()  # only the perturbed map constant


def test_nan_only_for_the_constant_example_of_a_batch():
    a, b = torch.cat([A, FLAT]), torch.cat([B, FLAT])
    for values in (topk_intersection(a, b, k=2), topk_intersection(a, b, k=2, mode="mass"), iou(a, b, k=2)):
        assert not torch.isnan(values[0]) and torch.isnan(values[1])


def test_non_constant_pair_keeps_its_value():
    # top-2 of A: cells {0, 1}; of B: {2, 1}; one shared
    assert topk_intersection(A, B, k=2).item() == pytest.approx(1 / 2)
    # mass mode: B's |mass| on A's top-2 cells {0, 1}: (0 + 2) / (0 + 2 + 3 + 1)
    assert topk_intersection(A, B, k=2, mode="mass").item() == pytest.approx(2 / 6)
    # iou: 1 shared of 3 in the union
    assert iou(A, B, k=2).item() == pytest.approx(1 / 3)
    assert cosine_distance(A, B).item() == pytest.approx(1 - (0 + 4 + 3 + 0) / (math.sqrt(14) * math.sqrt(14)))


def test_all_zero_map_gives_nan_in_cosine_and_dislocation():
    for a, b in ((ZERO, B), (A, ZERO), (ZERO, ZERO)):
        assert torch.isnan(cosine_distance(a, b)).all()
        assert torch.isnan(mass_center_dislocation(a, b)).all()
        assert torch.isnan(mass_center_dislocation(a, b, int_cast=True)).all()


def test_constant_non_zero_map_keeps_cosine_and_centre():
    # cos(flat, A) = sum(A) * 0.5 / (|flat| |A|) = 3 / (1 * sqrt(14))
    assert cosine_distance(FLAT, A).item() == pytest.approx(1 - 3 / math.sqrt(14))
    # flat centre (0.5, 0.5); A's mass centre: rows (0*5 + 1*1)/6, cols (0*4 + 1*2)/6
    expected = math.hypot(0.5 - 1 / 6, 0.5 - 2 / 6)
    assert mass_center_dislocation(FLAT, A).item() == pytest.approx(expected)


def test_constant_maps_shapes_and_channel_rule():
    four = torch.stack([torch.full((3, 2, 2), -1.0), torch.rand(3, 2, 2) + torch.eye(2)])  # (2, 3, 2, 2)
    assert constant_maps(four).tolist() == [True, False]
    assert constant_maps(torch.cat([FLAT, A, ZERO])).tolist() == [True, False, True]  # (3, 2, 2)
    assert constant_maps(torch.cat([FLAT, A]).flatten(1)).tolist() == [True, False]  # (B, P)
    # channels that cancel: constant under signed_sum, not under abs_sum or as separate features
    cancel = torch.stack([torch.tensor([[1.0, 2.0], [3.0, 4.0]]), -torch.tensor([[1.0, 2.0], [3.0, 4.0]])])[None]
    assert constant_maps(cancel, channel_rule="signed_sum").tolist() == [True]
    assert constant_maps(cancel, channel_rule="abs_sum").tolist() == [False]
    assert constant_maps(cancel, channel_rule=None).tolist() == [False]
    assert constant_maps(four).dtype == torch.bool and constant_maps(four).shape == (2,)
    with pytest.raises(ValueError, match="maps must be"):
        constant_maps(torch.zeros(4))


def test_metric_class_excludes_and_counts_degenerate_examples():
    metric = TopKIntersection(k=2)
    clean = torch.cat([A, FLAT, A, ZERO])
    adv = torch.cat([B, B, FLAT, ZERO])
    metric.update(clean, adv)
    assert metric.compute().item() == pytest.approx(0.5)  # only the first example is defined
    assert metric.count.item() == 1
    assert metric.skipped.item() == 3
    assert metric.degenerate.item() == 3
    assert metric.degenerate_share().item() == pytest.approx(3 / 4)
    metric.update(A, B)
    assert metric.degenerate.item() == 3 and metric.count.item() == 2
    assert metric.degenerate_share().item() == pytest.approx(3 / 5)
    metric.reset()
    assert metric.degenerate.item() == 0
    assert math.isnan(metric.degenerate_share().item())


def test_degenerate_count_uses_the_metric_channel_rule():
    cancel = torch.stack([torch.tensor([[1.0, 2.0], [3.0, 4.0]]), -torch.tensor([[1.0, 2.0], [3.0, 4.0]])])[None]
    other = torch.rand(1, 2, 2, 2) + torch.eye(2)
    signed, absolute = IoU(k=2, channel_rule="signed_sum"), IoU(k=2)
    signed.update(cancel, other)
    absolute.update(cancel, other)
    assert signed.degenerate.item() == 1 and signed.skipped.item() == 1
    assert absolute.degenerate.item() == 0 and absolute.skipped.item() == 0


def test_rank_metric_class_counts_constant_maps():
    metric = KendallTau()
    metric.update(torch.cat([A, FLAT]), torch.cat([B, B]))
    assert metric.count.item() == 1 and metric.skipped.item() == 1 and metric.degenerate.item() == 1
    assert metric.degenerate_share().item() == pytest.approx(0.5)


def test_detection_scores_of_constant_maps_are_left_out_and_counted():
    """A NaN score (the ensemble check on constant maps) is dropped by ``defined_scores``, which says the share dropped;
    the ROC metrics themselves refuse it rather than rank it."""
    scores = torch.tensor([0.3, math.nan, 0.1, math.nan])
    kept, share = defined_scores(scores)
    torch.testing.assert_close(kept, torch.tensor([0.3, 0.1]))
    assert share == 0.5 and math.isnan(defined_scores(torch.zeros(0))[1])
    with pytest.raises(ValueError, match="NaN"):
        threshold_at_fpr(scores, 0.1)

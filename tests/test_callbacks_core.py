"""Evaluation callbacks without a Trainer: subsets, sharding, isolation, and each callback against an oracle."""

import random

import numpy as np
import pytest
import torch
import torchattacks
from torch import nn
from torch.utils.data import TensorDataset

from lightning_robattr._random_state import isolated_random_state, seed_batch
from lightning_robattr.attacks import AAIConfig, AttributionAttackConfig, ISAConfig, JPEGConfig, PGDConfig, jpeg, random_targets
from lightning_robattr.attacks._explanation.attribution_attack import attribution_attack
from lightning_robattr.attacks._explanation.isa import isa
from lightning_robattr.attacks._explanation.maps import normalized_map
from lightning_robattr.attributions import cam, saliency
from lightning_robattr.callbacks import (
    AAIEval,
    AttributionAttackEval,
    AttributionMapLogger,
    EvaluationSchedule,
    GradientMaskingCheck,
    ISAEval,
    PGDEval,
    UnforeseenAttacks,
    UnforeseenEval,
    masking_flags,
)
from lightning_robattr.callbacks._subset import evaluation_subset, rank_batches
from lightning_robattr.metrics.functional import eps_auc, kendall_tau, topk_intersection


@pytest.fixture(scope="module")
def val32(mnist5k):
    x, y = mnist5k["val"]
    return x[:32], y[:32]


def test_subset_is_a_fixed_seeded_permutation_prefix():
    dataset = TensorDataset(torch.arange(50.0).view(50, 1, 1, 1), torch.arange(50))
    x, y = evaluation_subset(dataset, 10, seed=3)
    expected = torch.randperm(50, generator=torch.Generator().manual_seed(3))[:10]
    assert torch.equal(y, expected) and torch.equal(x.flatten(), expected.float())
    assert torch.equal(evaluation_subset(dataset, 10, seed=3)[1], y)
    assert not torch.equal(evaluation_subset(dataset, 10, seed=4)[1], y)
    assert len(evaluation_subset(dataset, None, seed=3)[1]) == 50


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_ranks_share_the_same_batches_whatever_their_number(world_size):
    reference = [s for _, s in rank_batches(23, 5, 0, 1)]
    shards = [rank_batches(23, 5, rank, world_size) for rank in range(world_size)]
    assert sorted((i, s.start, s.stop) for shard in shards for i, s in shard) == [
        (i, s.start, s.stop) for i, s in enumerate(reference)
    ]
    assert [s.stop - s.start for s in reference] == [5, 5, 5, 5, 3]


def test_int_repo_protocol_matches_torchattacks_pgd_without_random_start(trained_small, val32):
    x, y = val32
    results = PGDEval(eps=[0.1, 0.3], steps=[1, 10], name='pgd_linf_int_repo', attack=PGDConfig(random_start=False, step_size=0.01), schedule=EvaluationSchedule(batch_size=16)).evaluate(trained_small, x, y)
    clean = (trained_small(x).argmax(1) == y).float().mean().item()
    assert results["robust/pgd_linf_int_repo/clean_acc"] == pytest.approx(clean)
    for eps in (0.1, 0.3):
        for steps in (1, 10):
            attack = torchattacks.PGD(trained_small, eps=eps, alpha=0.01, steps=steps, random_start=False)
            expected = (trained_small(attack(x, y)).argmax(1) == y).float().mean().item()
            assert results[f"robust/pgd_linf_int_repo/eps={eps:g}/steps={steps}/acc"] == pytest.approx(expected)
    # Int paper, Table 4: one step of 0.01 barely moves a natural MNIST net even at eps 0.3
    assert results["robust/pgd_linf_int_repo/eps=0.3/steps=1/acc"] >= clean - 0.1


def test_reference_evaluation_is_never_above_pgd(trained_small, val32):
    x, y = val32
    callback = PGDEval(eps=[0.05], steps=[3], reference=True, reference_steps=5, schedule=EvaluationSchedule(batch_size=32))
    results = callback.evaluate(trained_small, x[:16], y[:16])
    assert results["robust/pgd_linf/eps=0.05/reference_acc"] <= results["robust/pgd_linf/eps=0.05/steps=3/acc"]


def test_attribution_scores_match_the_functional_metrics_and_auc(trained_small, val32):
    x, y = val32[0][:8], val32[1][:8]
    callback = AttributionAttackEval(eps=['4/255', '16/255'], metrics=['topk_intersection', 'kendall_tau'], transfer=['saliency', 'cam'], attack=AttributionAttackConfig(steps=3, k=0.1), schedule=EvaluationSchedule(batch_size=8))
    results = callback.evaluate(trained_small, x, y)
    correct = trained_small(x).argmax(1) == y
    xc, label = x[correct], y[correct]
    curves = {"topk_intersection": [], "kendall_tau": []}
    for eps in (4, 16):
        x_adv, record = attribution_attack(trained_small, xc, method="saliency", objective="topk", eps=eps / 255, steps=3, k=0.1)
        kept = record.success
        clean = normalized_map(saliency(trained_small, xc[kept], label[kept]), "sum1")
        adv = normalized_map(saliency(trained_small, x_adv[kept], label[kept]), "sum1")
        expected = {
            "topk_intersection": topk_intersection(clean, adv, k=78).mean(),  # 10% of 784 pixels
            "kendall_tau": kendall_tau(clean, adv).mean(),
        }
        assert results[f"attr/saliency/topk/eps={eps}_255/label_kept_rate"] == pytest.approx(kept.float().mean().item())
        for name, value in expected.items():
            assert results[f"attr/saliency/topk/eps={eps}_255/{name}"] == pytest.approx(value.item(), abs=1e-5)
            curves[name].append(value.item())
        # the transfer matrix scores the same attacked images under CAM's maps (the attacked method is not repeated)
        cam_tau = kendall_tau(cam(trained_small, xc[kept], label[kept]).abs(), cam(trained_small, x_adv[kept], label[kept]).abs())
        assert results[f"attr/saliency/topk/transfer/cam/eps={eps}_255/kendall_tau"] == pytest.approx(cam_tau.mean().item(), abs=1e-5)
    assert not any("transfer/saliency" in tag for tag in results)
    for name, curve in curves.items():
        auc = eps_auc([4 / 255, 16 / 255], torch.tensor(curve)).item()
        assert results[f"attr/saliency/topk/{name}_auc"] == pytest.approx(auc, abs=1e-5)
        assert auc == pytest.approx(2 * (curve[0] + curve[1]) / 2, abs=1e-5)  # trapezoid over log2: 2 units wide


def test_evaluation_leaves_random_state_mode_and_gradients_alone(trained_small, val32):
    net = trained_small.train()
    torch_state, python_state, numpy_state = torch.get_rng_state(), random.getstate(), np.random.get_state()
    try:
        PGDEval(eps=[0.1], steps=[2], schedule=EvaluationSchedule(num_samples=8)).evaluate(net, *val32)
        attribution = AttributionAttackEval(eps=['4/255', '8/255'], attack=AttributionAttackConfig(steps=1, random_start=True), schedule=EvaluationSchedule(batch_size=8))
        attribution.evaluate(net, val32[0][:8], val32[1][:8])
        assert net.training
        assert all(p.grad is None for p in net.parameters())
    finally:
        net.eval()
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert random.getstate() == python_state and np.array_equal(np.random.get_state()[1], numpy_state[1])


def test_repeated_evaluations_give_identical_numbers(trained_small, val32):
    callback = PGDEval(eps=[0.1], steps=[3], schedule=EvaluationSchedule(batch_size=8))
    first = dict(callback.evaluate(trained_small, *val32))
    torch.rand(5)  # the global random state differs between the two evaluations
    assert callback.evaluate(trained_small, *val32) == first


def test_without_autograd_the_error_names_inference_mode(trained_small, val32):
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode=False"):
        PGDEval(eps=[0.1], steps=[1]).evaluate(trained_small, *val32)


class QuantizedInput(nn.Module):
    """A classifier behind a non-differentiable input quantisation (zero input gradient everywhere)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * 4) / 4)


def test_masking_flags_fire_on_a_masked_model_and_not_on_a_normal_one(trained_small, val32):
    # tolerance 3 of the 32 images, as the default 0.03 is 3 of 100: on the normal net 10 steps leave 1-2
    # images fewer correct than 5 (over four training seeds), so one image of sampling noise must not flag
    check = GradientMaskingCheck(eps=[0.1, 0.3], steps=[5, 10], tolerance=0.1, warn=True,
                                 schedule=EvaluationSchedule(num_samples=32, batch_size=32))
    normal = check.evaluate(trained_small, *val32)
    assert normal["robust/gradient_masking/any"] == 0.0, {k: v for k, v in normal.items() if "acc" in k}
    with pytest.warns(UserWarning, match="above_chance_at_huge_eps"):
        masked = check.evaluate(QuantizedInput(trained_small), *val32)
    assert masked["robust/gradient_masking/above_chance_at_huge_eps"] == 1.0
    assert masked["robust/gradient_masking/any"] == 1.0 and masked["robust/gradient_masking/huge_eps/acc"] > 0.5
    assert check.flag_counts["above_chance_at_huge_eps"] == 1
    restored = GradientMaskingCheck(eps=[0.1, 0.3], steps=[5, 10])
    restored.load_state_dict(check.state_dict())
    assert restored.flag_counts == check.flag_counts


def test_each_masking_sign_is_flagged_from_its_own_numbers():
    grid = {(0.1, 10): 0.5, (0.1, 40): 0.4, (0.3, 10): 0.2, (0.3, 40): 0.1}
    fine = masking_flags(grid, {0.1: 0.6, 0.3: 0.3}, 0.0, chance=0.1, tolerance=0.02)
    assert not any(fine.values())
    assert masking_flags({**grid, (0.1, 40): 0.6}, {0.1: 0.6, 0.3: 0.3}, 0.0, chance=0.1, tolerance=0.02)["acc_rises_with_steps"]
    assert masking_flags({**grid, (0.3, 10): 0.6}, {0.1: 0.6, 0.3: 0.3}, 0.0, chance=0.1, tolerance=0.02)["acc_rises_with_eps"]
    assert masking_flags(grid, {0.1: 0.2, 0.3: 0.3}, 0.0, chance=0.1, tolerance=0.02)["one_step_stronger"]
    assert masking_flags(grid, {0.1: 0.6, 0.3: 0.3}, 0.5, chance=0.1, tolerance=0.02)["above_chance_at_huge_eps"]
    assert not masking_flags(grid, {0.1: 0.6, 0.3: 0.3}, float("nan"), chance=0.1, tolerance=0.02)["above_chance_at_huge_eps"]


def test_map_grid_has_four_tiles_per_image_row(trained_small, val32):
    grids = AttributionMapLogger(methods=['saliency', 'cam'], attack=AttributionAttackConfig(steps=2), schedule=EvaluationSchedule(num_samples=3)).grids(trained_small, val32[0][:3])
    tile = 3 * 28 + 2  # 28-pixel images upscaled to at least 64 (x3), plus 2 pixels of padding
    for grid in grids.values():
        assert grid.shape == (3, 3 * tile + 2, 4 * tile + 2)
        assert 0 <= grid.min() and grid.max() <= 1


def test_aai_kendall_tau_is_one_without_budget_and_falls_with_it(trained_small, val32):
    callback = AAIEval(eps=[0.0, 0.1, 0.3], attack=AAIConfig(steps=10), schedule=EvaluationSchedule(batch_size=32))
    results = callback.evaluate(trained_small, *val32)
    taus = [results[f"attr/cam/aai/eps={eps}/kendall_tau"] for eps in ("0", "0.1", "0.3")]
    assert taus[0] == pytest.approx(1.0) and results["attr/cam/aai/eps=0/label_kept_rate"] == 1.0
    assert taus[0] > taus[1] > taus[2]  # the Int paper's Table 2 trend for a natural net


def test_isa_and_unforeseen_log_the_aggregates_of_their_attacks(trained_small, val32):
    x, y = val32[0][:6], val32[1][:6]
    isa_eval = ISAEval(attack=ISAConfig(steps=2, search_rounds=2, budget_factors=(1.0, 1.6)), schedule=EvaluationSchedule(batch_size=6))
    unforeseen = UnforeseenEval(attacks=UnforeseenAttacks(jpeg_linf=JPEGConfig(steps=3, targeted=True)),
                                schedule=EvaluationSchedule(num_samples=200, batch_size=6))
    isa_results, unforeseen_results = isa_eval.evaluate(trained_small, x, y), unforeseen.evaluate(trained_small, x, y)
    correct = trained_small(x).argmax(1) == y
    with isolated_random_state(torch.device("cpu")):  # replay the callbacks' seeding of their only batch
        seed_batch(0, 0, torch.device("cpu"))
        _, result = isa(trained_small, x[correct], y[correct], method="cam", classes="two", p=1, steps=2, search_rounds=2,
                        budget_factors=[1.0, 1.6], target=random_targets(y[correct], 10))
        seed_batch(0, 0, torch.device("cpu"))
        targets = random_targets(y, 10)
        x_adv, _ = jpeg(trained_small, x[correct], targets[correct], norm="linf", eps=0.25, steps=3, targeted=True)
    assert isa_results["attr/cam/isa/two/l1/nds"] == pytest.approx(result.nds[result.success].mean().item(), rel=1e-5)
    assert isa_results["attr/cam/isa/two/l1/success_rate"] == pytest.approx(result.success.all(0).float().mean().item())
    # Table 1's NSL: the slopes summed over the images, divided by the number of successful (image, budget) points
    slopes = result.nsl[~result.nsl.isnan()]
    table_scale = slopes.sum().item() / result.success.sum().item()
    assert isa_results["attr/cam/isa/two/l1/nsl"] == pytest.approx(table_scale, rel=1e-5, abs=1e-7)
    robust = (trained_small(x_adv).argmax(1) == y[correct]).sum().item() / len(x)
    assert unforeseen_results["robust/jpeg_linf/eps=0.25/steps=3/acc"] == pytest.approx(robust)
    assert unforeseen_results["robust/unforeseen/clean_acc"] == pytest.approx(correct.float().mean().item())


def test_stochastic_maps_are_compared_under_common_noise(trained_small, val32):
    # SmoothGrad with 4 noise samples: independent draws for the clean and the perturbed image would
    # alone push Spearman to ~0.7; with the same draws a 1/255 random-sign perturbation barely moves it
    callback = AttributionAttackEval(methods=['smoothgrad'], objectives=['random_sign'], eps=['1/255', '2/255'], metrics=['spearman'], method_options={'smoothgrad': {'samples': 4}}, schedule=EvaluationSchedule(batch_size=8))
    assert callback.evaluate(trained_small, val32[0][:8], val32[1][:8])["attr/smoothgrad/random_sign/eps=1_255/spearman"] > 0.95

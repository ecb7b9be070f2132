"""The ensemble-interpretation check: agreement of identical interpreters, the detector, the check and the ADV2Eval callback."""

import copy
import math

import pytest
import torch

from lightning_robattr.callbacks import ADV2Eval, EvaluationSchedule
from lightning_robattr.detection import EnsembleDetector, ensemble_agreement, ensemble_check, threshold_at_fpr
from lightning_robattr.detection._ensemble import screening_rates

NAN = float("nan")


def with_blanks(x: torch.Tensor, blanks: int) -> torch.Tensor:
    """``x`` followed by ``blanks`` all-black images."""
    return torch.cat([x, torch.zeros(blanks, *x.shape[1:])])


@pytest.fixture(scope="module")
def dead_on_blank(trained_small):
    """The natural Small with its first biases lowered below 0: on a black image every ReLU is off, so its GRAD
    and CAM maps are constant (no agreement), while digits keep their maps and labels."""
    net = copy.deepcopy(trained_small)
    net.conv1.bias.data -= net.conv1.bias.data.max() + 0.01
    return net


def test_identical_interpreters_agree_completely(trained_small, mnist5k):
    x = mnist5k["test"][0][:8]
    torch.testing.assert_close(ensemble_agreement(trained_small, x, ["cam", "cam"]), torch.ones(8))
    torch.testing.assert_close(ensemble_agreement(trained_small, x, ["grad", "grad", "grad"]), torch.ones(8))
    different = ensemble_agreement(trained_small, x, ["grad", "cam"])
    assert (different < 1).any() and ((0 <= different) & (different <= 1)).all()


def test_the_detector_flags_at_most_the_target_rate_of_its_benign_images(trained_small, mnist5k):
    x = mnist5k["test"][0][:40]
    detector = EnsembleDetector(trained_small, ["grad", "cam"], target_fpr=0.1).fit(x)
    assert detector.predict(x).float().mean() <= 0.1


def test_screening_leaves_nan_scores_out_and_counts_them():
    calibration = torch.tensor([0.1, 0.2, 0.3, 0.4, NAN])
    benign = torch.tensor([0.15, NAN, 0.35, 0.45])
    adversarial = torch.tensor([0.5, NAN, NAN, 0.05])
    rates = screening_rates(calibration, benign, adversarial, 0.25)
    assert rates["threshold"] == pytest.approx(0.4)  # fitted on the four defined calibration scores
    assert rates["tpr"] == 0.5 and rates["fpr"] == pytest.approx(1 / 3) and rates["degenerate_rate"] == 0.5
    assert rates["auc"] == 0.5  # 0.5 beats the three defined benign scores, 0.05 none
    nothing = screening_rates(calibration, benign, torch.tensor([NAN]), 0.25)
    assert math.isnan(nothing["tpr"]) and math.isnan(nothing["auc"]) and nothing["degenerate_rate"] == 1


def test_blank_images_have_no_agreement(dead_on_blank, mnist5k):
    agreement = ensemble_agreement(dead_on_blank, with_blanks(mnist5k["test"][0][:3], 2), ["grad", "cam"])
    assert not agreement[:3].isnan().any() and agreement[3:].isnan().all()


def test_the_detector_fits_without_and_never_flags_images_with_constant_maps(dead_on_blank, mnist5k):
    digits = mnist5k["test"][0][:20]
    detector = EnsembleDetector(dead_on_blank, ["grad", "cam"], target_fpr=0.1).fit(with_blanks(digits, 4))
    assert detector.undefined_rate == pytest.approx(4 / 24)
    assert detector.threshold == threshold_at_fpr(detector.score(digits), 0.1)
    assert not detector.predict(with_blanks(digits[:0], 3)).any()
    with pytest.raises(ValueError, match="undefined"):
        detector.fit(with_blanks(digits[:0], 3))


def test_ensemble_check_excludes_degenerate_images_and_reports_a_held_out_fpr(dead_on_blank, mnist5k):
    x, y = mnist5k["test"]
    scored, labels, calibration = with_blanks(x[:6], 2), torch.cat([y[:6], torch.tensor([0, 1])]), x[100:120]
    result = ensemble_check(dead_on_blank, scored, labels, methods=["grad", "cam"], benign=calibration, eps=0.2, step_size=0.02,
                            schedule_scale=0.05, target_fpr=0.1, generator=torch.Generator().manual_seed(0))
    benign = 1 - ensemble_agreement(dead_on_blank, scored, ["grad", "cam"])
    threshold = threshold_at_fpr(1 - ensemble_agreement(dead_on_blank, calibration, ["grad", "cam"]), 0.1)
    assert result.threshold == threshold and result.benign_degenerate_rate == 0.25
    assert result.benign_fpr == pytest.approx((benign[:6] >= threshold).double().mean().item())
    assert result.degenerate_rate.shape == (4,) and all(math.isnan(v) or 0 <= v <= 1 for v in result.degenerate_rate.tolist())


def test_ensemble_check_reports_every_attack(trained_small, mnist5k):
    x, y = mnist5k["test"]
    result = ensemble_check(trained_small, x[:8], y[:8], methods=["grad", "cam"], eps=0.2, step_size=0.02, schedule_scale=0.05,
                            target_fpr=0.25, generator=torch.Generator().manual_seed(0))
    assert result.attacks == ["adv2:grad", "adv2:cam", "pgd", "adv2:adaptive"]
    assert result.success_rate.shape == result.tpr.shape == result.auc.shape == (4,)
    assert all(math.isnan(v) or 0 <= v <= 1 for v in result.auc.tolist())


def test_adv2_eval_logs_attacks_transfer_and_the_ensemble(dead_on_blank, mnist5k):
    x, y = mnist5k["test"]
    scored, labels, calibration = with_blanks(x[:6], 2), torch.cat([y[:6], torch.tensor([0, 1])]), x[100:120]
    callback = ADV2Eval(methods=['grad', 'cam'], eps=[0.2], schedule_scale=0.05, step_size=0.02, transfer=True, ensemble=True, schedule=EvaluationSchedule(num_samples=8, batch_size=4, progress=False))
    values = callback.evaluate(dead_on_blank, scored, labels, calibration=calibration)
    for g in ("grad", "cam"):
        for measure in ("success_rate", "iou", "l1", "l2", "confidence", "interpretation_loss"):
            assert f"adv2/{g}/eps=0.2/{measure}" in values and f"adv2/{g}/eps=0.2/pgd/{measure}" in values
        for row in ("grad", "cam", "pgd"):
            assert f"adv2/{row}/eps=0.2/transfer/{g}/iou" in values and f"adv2/{row}/eps=0.2/transfer/{g}/l1" in values
    for attack in ("grad", "cam", "pgd", "adaptive"):
        for measure in ("auc", "tpr@fpr=0.05", "degenerate_rate"):
            assert f"adv2/ensemble/eps=0.2/{attack}/{measure}" in values
    assert not any(tag.endswith("scores") for tag in values)
    # the transfer diagonal is the attack's own measure
    for measure in ("iou", "l1"):
        assert values[f"adv2/cam/eps=0.2/transfer/cam/{measure}"] == pytest.approx(float(values[f"adv2/cam/eps=0.2/{measure}"]))
    # the blank images are left out and counted; the threshold comes from the calibration images
    assert values["adv2/ensemble/eps=0.2/benign/degenerate_rate"] == 0.25
    benign = 1 - ensemble_agreement(dead_on_blank, scored[:6], ["grad", "cam"])
    threshold = threshold_at_fpr(1 - ensemble_agreement(dead_on_blank, calibration, ["grad", "cam"]), 0.05)
    assert values["adv2/ensemble/eps=0.2/benign/fpr@fpr=0.05"] == pytest.approx((benign >= threshold).double().mean().item())


@pytest.mark.parametrize(
    "kwargs, message",
    [({"methods": ["cam"], "ensemble": True}, "at least two"), ({"methods": ["rts"]}, "saliency_net"), ({"schedule_scale": 0}, "positive")],
)
def test_adv2_eval_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ADV2Eval(**kwargs)

"""The ensemble-interpretation check: agreement of identical interpreters, the detector, the check and the ADV2Eval callback."""

import math

import pytest
import torch

from lightning_robattr.callbacks import ADV2Eval, EvaluationSchedule
from lightning_robattr.detection import EnsembleDetector, ensemble_agreement, ensemble_check


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


def test_ensemble_check_reports_every_attack(trained_small, mnist5k):
    x, y = mnist5k["test"]
    result = ensemble_check(trained_small, x[:8], y[:8], methods=["grad", "cam"], eps=0.2, step_size=0.02, schedule_scale=0.05,
                            target_fpr=0.25, generator=torch.Generator().manual_seed(0))
    assert result.attacks == ["adv2:grad", "adv2:cam", "pgd", "adv2:adaptive"]
    assert result.success_rate.shape == result.tpr.shape == result.auc.shape == (4,)
    assert all(math.isnan(v) or 0 <= v <= 1 for v in result.auc.tolist())


def test_adv2_eval_logs_attacks_transfer_and_the_ensemble(trained_small, mnist5k):
    x, y = mnist5k["test"]
    callback = ADV2Eval(methods=['grad', 'cam'], eps=[0.2], schedule_scale=0.05, step_size=0.02, transfer=True, ensemble=True, schedule=EvaluationSchedule(num_samples=8, batch_size=4, progress=False))
    values = callback.evaluate(trained_small, x[:8], y[:8])
    for g in ("grad", "cam"):
        for measure in ("success_rate", "iou", "l1", "l2", "confidence", "interpretation_loss"):
            assert f"adv2/{g}/eps=0.2/{measure}" in values and f"adv2/{g}/eps=0.2/pgd/{measure}" in values
        for row in ("grad", "cam", "pgd"):
            assert f"adv2/{row}/eps=0.2/transfer/{g}/iou" in values
    for attack in ("grad", "cam", "pgd", "adaptive"):
        assert f"adv2/ensemble/eps=0.2/{attack}/auc" in values and f"adv2/ensemble/eps=0.2/{attack}/tpr@fpr=0.05" in values
    assert not any(tag.endswith("scores") for tag in values)
    # the transfer diagonal is the attack's own IoU
    assert values["adv2/cam/eps=0.2/transfer/cam/iou"] == pytest.approx(float(values["adv2/cam/eps=0.2/iou"]))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"methods": ["cam"], "ensemble": True}, "at least two"), ({"methods": ["rts"]}, "saliency_net"), ({"schedule_scale": 0}, "positive")],
)
def test_adv2_eval_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ADV2Eval(**kwargs)

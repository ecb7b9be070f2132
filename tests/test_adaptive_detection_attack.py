"""The adaptive attack on the causal detector: it fools the classifier and pushes rho up, so the detector's AUC falls
below the one it has against plain PGD of the same budget."""

import pytest
import torch

from lightning_robattr.attacks import pgd
from lightning_robattr.detection import AdaptiveConfig, CausalConfig, adaptive_attack, causal_robustness, roc_auc

EPS = 0.2
DETECTOR = CausalConfig(ig_steps=10)


def test_the_adaptive_attack_survives_masking_where_plain_pgd_does_not(trained_small, mnist5k):
    x, y = mnist5k["test"]
    x, y = x[:60].float(), y[:60]
    with torch.no_grad():
        keep = trained_small(x).argmax(dim=1) == y
    x, y = x[keep][:24], y[keep][:24]
    benign, _ = causal_robustness(trained_small, x, config=DETECTOR)
    x_pgd, record = pgd(trained_small, x, y, eps=EPS, steps=40, generator=torch.Generator().manual_seed(0))
    plain, _ = causal_robustness(trained_small, x_pgd[record.success], config=DETECTOR)
    x_adv, adaptive = adaptive_attack(
        trained_small, x, y, eps=EPS, steps=60, detector=DETECTOR, generator=torch.Generator().manual_seed(0)
    )
    assert adaptive.success.float().mean() >= 0.9
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    # the record's rho is the detector's own measurement of the returned images
    rho, _ = causal_robustness(trained_small, x_adv, config=DETECTOR)
    torch.testing.assert_close(rho, adaptive.rho)
    with torch.no_grad():
        assert torch.equal(trained_small(x_adv).argmax(dim=1) != y, adaptive.success)
    # small rho is suspicious: score = -rho
    auc_plain = roc_auc(-benign, -plain)
    auc_adaptive = roc_auc(-benign, -adaptive.rho[adaptive.success])
    assert auc_adaptive <= auc_plain - 0.1, (auc_adaptive, auc_plain)
    assert adaptive.rho[adaptive.success].median() > plain.median()


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="levels"):
        AdaptiveConfig(levels=())
    with pytest.raises(ValueError, match="granularity"):
        AdaptiveConfig(levels=(0.1, 1.5))
    with pytest.raises(TypeError, match="CausalConfig"):
        AdaptiveConfig(detector={"ig_steps": 5})


def test_detection_eval_scores_the_adaptive_attack_beside_the_plain_ones(trained_small, mnist5k):
    from lightning_robattr.attacks import PGDConfig
    from lightning_robattr.callbacks import DetectionAttacks, DetectionEval, EvaluationSchedule

    x, y = mnist5k["test"]
    callback = DetectionEval(
        attacks=DetectionAttacks(pgd=PGDConfig(steps=20), adaptive=AdaptiveConfig(steps=30)), eps=EPS, detector=DETECTOR,
        schedule=EvaluationSchedule(num_samples=16, batch_size=16, progress=False),
    )
    values = callback.evaluate(trained_small, x[:16].float(), y[:16])
    assert values["detect/adaptive/success_rate"] >= 0.9
    assert values["detect/adaptive/auc"] <= values["detect/pgd/auc"] - 0.1

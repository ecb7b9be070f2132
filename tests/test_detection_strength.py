"""DetectionEval as defences are evaluated: rows over attack strength, success and confidence beside every score,
a flag on rows too weak to mean anything, thresholds fitted on held-out benign images, patches fitted on training images."""

import copy
import warnings

import pytest
import torch

from lightning_robattr.attacks import CWConfig, PatchConfig, PGDConfig
from lightning_robattr.callbacks import DetectionAttacks, DetectionEval, EvaluationSchedule
from lightning_robattr.detection import CausalConfig
from lightning_robattr.models import Small

DETECTOR = CausalConfig(ig_steps=10, granularity=0.02)


def schedule(count: int, batch: int | None = None) -> EvaluationSchedule:
    return EvaluationSchedule(num_samples=count, batch_size=batch or count, every_n_epochs=0, progress=False)


def brute_force_threshold(benign: torch.Tensor, fpr: float) -> float:
    """The smallest candidate ``t`` (a benign score or inf) whose benign rate ``mean(benign >= t)`` is at most ``fpr``."""
    candidates = sorted({*benign.tolist(), float("inf")})
    return next(t for t in candidates if sum(b >= t for b in benign.tolist()) <= fpr * len(benign))


def test_a_grid_of_budgets_and_confidence_margins_gives_one_row_each_and_one_budget_keeps_the_plain_tags():
    attacks = DetectionAttacks(pgd=PGDConfig(steps=2), cw=CWConfig(steps=2, binary_search_steps=1), adaptive=None)
    grid = DetectionEval(attacks=attacks, eps=["2/255", 0.1, 0.3], cw_kappas=[0, 20], schedule=schedule(4))
    assert list(grid.runs) == ["pgd/eps=2_255", "pgd/eps=0.1", "pgd/eps=0.3", "cw/kappa=0", "cw/kappa=20"]
    assert [grid.runs[name].eps for name in list(grid.runs)[:3]] == pytest.approx([2 / 255, 0.1, 0.3])
    assert grid.runs["cw/kappa=20"].config.kappa == 20 and grid.runs["cw/kappa=20"].config.steps == 2
    assert grid.runs["cw/kappa=0"].eps is None
    single = DetectionEval(attacks=attacks, eps=0.1, schedule=schedule(4))
    assert list(single.runs) == ["pgd", "cw"] and single.eps == 0.1
    net = Small().eval()
    x = torch.rand(4, 1, 28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = grid.evaluate(net, x, net(x).argmax(1))
    for row in grid.runs:
        for metric in ("success_rate", "confidence", "low_success", "auc", "tpr@fpr=0.05", "unchanged@0.1"):
            assert f"detect/{row}/{metric}" in values, (row, metric)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"eps": [0.3, 0.1]}, "strictly increasing"),
        ({"eps": 1.5}, "eps"),
        ({"cw_kappas": [5, 5]}, "cw_kappas must be distinct"),
        ({"cw_kappas": [-1]}, "cw_kappas"),
        ({"calibration": 1.0}, "calibration must be a share in \\[0, 1\\)"),
        ({"min_success": -0.1}, "min_success must be a share"),
    ],
)
def test_bad_strength_options_are_refused_with_the_fix(options, message):
    with pytest.raises(ValueError, match=message):
        DetectionEval(attacks=DetectionAttacks(pgd=PGDConfig(steps=2)), **options)


@pytest.mark.statistical
def test_a_stronger_plain_pgd_gives_more_confident_inputs_that_the_detector_misses(trained_small, mnist5k):
    # the detector's AUC falls with PGD's budget while success and confidence rise (measured on the seed-0 / seed-1
    # nets: AUC 0.98 / 1.00 -> 0.69 / 0.68, confidence 0.64 / 0.68 -> 0.97 / 0.99); a report at one budget hides this
    x, y = mnist5k["test"][0][:80], mnist5k["test"][1][:80]
    callback = DetectionEval(attacks=DetectionAttacks(pgd=PGDConfig(steps=40)), eps=[0.05, 0.3], detector=DETECTOR, schedule=schedule(80, 40))
    values = callback.evaluate(trained_small, x, y)
    weak, strong = "detect/pgd/eps=0.05", "detect/pgd/eps=0.3"
    assert values[f"{strong}/success_rate"] >= 0.95 and values[f"{strong}/low_success"] == 0
    assert values[f"{strong}/confidence"] > values[f"{weak}/confidence"] + 0.15
    assert values[f"{strong}/auc"] < values[f"{weak}/auc"] - 0.15


def test_a_row_whose_attack_rarely_succeeds_is_flagged_and_named(trained_small, mnist5k):
    x, y = mnist5k["test"][0][:24], mnist5k["test"][1][:24]
    weak = CWConfig(steps=1, binary_search_steps=1, c=1e-4)  # one tiny Adam step fools no confident digit
    callback = DetectionEval(attacks=DetectionAttacks(pgd=PGDConfig(steps=20), cw=weak), eps=0.3, min_success=0.5,
                             detector=CausalConfig(ig_steps=4, granularity=0.1), schedule=schedule(24))
    with pytest.warns(UserWarning, match=r"cw \(0\.\d\d\) fooled fewer than min_success=0.5") as caught:
        values = callback.evaluate(trained_small, x, y)
    assert values["detect/cw/success_rate"] < 0.5 and values["detect/cw/low_success"] == 1
    assert values["detect/pgd/low_success"] == 0
    assert not any("pgd" in str(w.message) for w in caught if "min_success" in str(w.message))


@pytest.mark.parametrize("calibration", [0.5, 0.0])
def test_thresholds_are_fitted_on_held_out_benign_images(trained_small, mnist5k, calibration):
    x, y = mnist5k["test"][0][:40], mnist5k["test"][1][:40]
    callback = DetectionEval(attacks=DetectionAttacks(pgd=PGDConfig(steps=10)), eps=0.1, calibration=calibration,
                             target_fprs=[0.1, 0.3], detector=CausalConfig(ig_steps=4, granularity=0.05), schedule=schedule(40, 20))
    values = callback.evaluate(trained_small, x, y)
    with torch.no_grad():
        correct = int((trained_small(x).argmax(1) == y).sum())
    benign, calibrating, adversarial = callback.rho["benign"], callback.rho["calibration"], callback.rho["pgd"]
    # the split is per batch of 20: round(calibration * correct images of the batch) calibrate, the rest are scored
    assert len(calibrating) + len(benign) == correct
    assert len(calibrating) == pytest.approx(calibration * correct, abs=1)
    fitted_on = calibrating if calibration else benign
    for fpr in (0.1, 0.3):
        threshold = brute_force_threshold(-fitted_on, fpr)
        assert values[f"detect/pgd/tpr@fpr={fpr:g}"] == pytest.approx(float((-adversarial >= threshold).double().mean()))
        if calibration:
            assert values[f"detect/benign/fpr@fpr={fpr:g}"] == pytest.approx(float((-benign >= threshold).double().mean()))
        else:
            assert f"detect/benign/fpr@fpr={fpr:g}" not in values


def test_patches_are_fitted_on_the_images_given_and_a_warning_says_when_those_are_the_scored_ones(trained_small, mnist5k):
    x, y = mnist5k["test"][0][:16], mnist5k["test"][1][:16]
    train = mnist5k["train"][0][:64], mnist5k["train"][1][:64]
    attacks = DetectionAttacks(patch=PatchConfig(size=0.25, steps=5, step_size=0.05, batch_size=16))
    callback = DetectionEval(attacks=attacks, detector=CausalConfig(ig_steps=2, granularity=0.1), schedule=schedule(16))
    with pytest.warns(UserWarning, match="optimised on the images they are scored on"):
        callback.evaluate(trained_small, x, y)
    on_scored = callback.patches["patch"].clone()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*optimised on the images they are scored on")
        callback.evaluate(trained_small, x, y, patch_images=train)
    assert not torch.equal(callback.patches["patch"], on_scored)


def test_in_a_trainer_run_the_patches_are_fitted_on_the_training_set(trained_small):
    from pytorch_lightning import Trainer

    from lightning_robattr.data import MNIST5k
    from lightning_robattr.regimes import NaturalModule

    data = MNIST5k(batch_size=50)
    callback = DetectionEval(attacks=DetectionAttacks(patch=PatchConfig(size=0.25, steps=2, batch_size=8)),
                             detector=CausalConfig(ig_steps=2, granularity=0.1), schedule=schedule(8))
    trainer = Trainer(accelerator="cpu", logger=False, callbacks=[callback], inference_mode=False, limit_test_batches=1,
                      enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*optimised on the images they are scored on")
        trainer.test(NaturalModule(copy.deepcopy(trained_small)), data)
    images, _ = callback.patch_images
    training = data.train_set.tensors[0]
    flat = training.flatten(1)
    assert all(bool((flat == image.flatten()).all(1).any()) for image in images)  # every patch image is a training image
    test = data.test_set.tensors[0].flatten(1)
    assert not any(bool((test == image.flatten()).all(1).any()) for image in images)

"""A 2-process CPU DDP run (gloo) reports the same evaluation numbers as a 1-process run."""

import copy

import pytest
import torch
from pytorch_lightning import Trainer

from lightning_robattr.attacks import AttributionAttackConfig, PatchConfig, PGDConfig
from lightning_robattr.callbacks import AttributionAttackEval, DetectionAttacks, DetectionEval, EvaluationSchedule, PGDEval
from lightning_robattr.data import MNIST5k
from lightning_robattr.detection import CausalConfig
from lightning_robattr.regimes import NaturalModule


def evaluation_callbacks() -> list:
    # 12 and 10 images in batches of 4: 3 batches, two on rank 0 and one on rank 1 (uneven shards)
    return [
        PGDEval(eps=[0.1, 0.3], steps=[3], schedule=EvaluationSchedule(num_samples=12, batch_size=4)),  # random starts: per-batch seeds matter
        AttributionAttackEval(eps=['4/255', '16/255'], metrics=['topk_intersection', 'spearman'], attack=AttributionAttackConfig(steps=2), schedule=EvaluationSchedule(num_samples=10, batch_size=4)),
        DetectionEval(
            attacks=DetectionAttacks(pgd=PGDConfig(steps=3), patch=PatchConfig(size=0.25, steps=3, step_size=0.02)),
            detector=CausalConfig(ig_steps=4), schedule=EvaluationSchedule(num_samples=12, batch_size=4, every_n_epochs=0),
        ),
    ]


def validate(module: NaturalModule, devices: int, strategy: str) -> dict[str, float]:
    trainer = Trainer(
        accelerator="cpu", devices=devices, strategy=strategy, inference_mode=False, logger=False, limit_val_batches=1,
        callbacks=evaluation_callbacks(), enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
    )
    return trainer.validate(module, MNIST5k(batch_size=50))[0]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each DDP process runs (Lightning gives each cpu_count // processes threads)
    yield
    torch.set_num_threads(threads)


def test_two_processes_report_the_numbers_of_one(trained_small, one_thread):
    module = NaturalModule(copy.deepcopy(trained_small))
    single = validate(module, 1, "auto")
    double = validate(module, 2, "ddp_fork")
    tags = sorted(tag for tag in single if tag.startswith(("robust/", "attr/")))
    assert len(tags) == 2 + 2 + 2 * (2 + 2) + 2  # clean and its subset size, PGD grid, per-eps metrics, label-kept and degenerate rates, AUCs
    assert tags == sorted(tag for tag in double if tag.startswith(("robust/", "attr/")))
    detection = sorted(tag for tag in single if tag.startswith("detect/"))
    # benign curve points and held-out FPRs; per attack success, confidence, low-success flag, curve, AUC, TPRs; in-patch
    assert len(detection) == 2 + 3 + 2 * (3 + 2 + 1 + 3) + 1
    tags += detection
    assert single["detect/pgd/auc"] == single["detect/pgd/auc"] and single["detect/benign/unchanged@0.1"] >= 0  # measured, not NaN
    assert detection == sorted(tag for tag in double if tag.startswith("detect/"))
    for tag in tags:
        assert double[tag] == pytest.approx(single[tag], abs=1e-6, nan_ok=True), tag

"""Evaluation callbacks inside a Trainer: TensorBoard output, schedule, inference mode, no effect on training."""

import copy

import pytest
import torch
from pytorch_lightning import Callback, Trainer, seed_everything
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_robattr.attacks import AttributionAttackConfig
from lightning_robattr.callbacks import AttributionAttackEval, AttributionMapLogger, EvaluationSchedule, PGDEval
from lightning_robattr.data import MNIST5k
from lightning_robattr.models import Small
from lightning_robattr.regimes import MadryModule, NaturalModule

QUIET = dict(enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)


class ScalarsAndImagesLogger(TensorBoardLogger):
    """TensorBoard without the hyperparameter dump (the regimes keep the whole net there: seconds of YAML)."""

    def log_hyperparams(self, params, metrics=None) -> None:
        pass


def trainer(tmp_path, callbacks, **options) -> Trainer:
    logger = ScalarsAndImagesLogger(str(tmp_path), name="", version=0)
    return Trainer(inference_mode=False, logger=logger, callbacks=callbacks, accelerator="cpu", devices=1, **{**QUIET, **options})


def events(tmp_path) -> EventAccumulator:
    accumulator = EventAccumulator(str(tmp_path / "version_0"), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def test_validate_and_test_write_hierarchical_scalars_and_map_images_to_tensorboard(tmp_path, trained_small):
    callbacks = [
        PGDEval(eps=[0.3], steps=[2], schedule=EvaluationSchedule(num_samples=16)),
        AttributionAttackEval(eps=['4/255', '16/255'], attack=AttributionAttackConfig(steps=2), schedule=EvaluationSchedule(num_samples=8)),
        AttributionMapLogger(methods=['saliency', 'cam'], eps='16/255', attack=AttributionAttackConfig(steps=2), schedule=EvaluationSchedule(num_samples=2)),
    ]
    run = trainer(tmp_path, callbacks, limit_val_batches=1, limit_test_batches=1)
    module = NaturalModule(copy.deepcopy(trained_small))
    validated = run.validate(module, MNIST5k(batch_size=50))[0]
    tested = run.test(module, MNIST5k(batch_size=50))[0]
    expected = {
        "robust/pgd_linf/clean_acc",
        "robust/pgd_linf/eps=0.3/steps=2/acc",
        "attr/saliency/topk/eps=16_255/label_kept_rate",
        "attr/saliency/topk/eps=16_255/topk_intersection",
        "attr/saliency/topk/eps=4_255/kendall_tau",
        "attr/saliency/topk/topk_intersection_auc",
        "attr/saliency/topk/cosine_distance_auc",
    }
    assert expected <= set(validated) and expected <= set(tested)
    assert validated["robust/pgd_linf/eps=0.3/steps=2/acc"] <= validated["robust/pgd_linf/clean_acc"]
    tags = events(tmp_path).Tags()
    assert expected <= set(tags["scalars"])
    assert {"attr/saliency/topk/eps=16_255/maps", "attr/cam/topk/eps=16_255/maps"} <= set(tags["images"])
    images = events(tmp_path).Images("attr/saliency/topk/eps=16_255/maps")
    assert len(images) == 2  # validate and test, each one matplotlib figure of two rows
    assert all(image.encoded_image_string.startswith(b"\x89PNG") and image.width > image.height > 300 for image in images)


def test_evaluation_runs_every_n_epochs_of_fit_and_always_in_validate(tmp_path):
    seed_everything(0)
    run = trainer(tmp_path, [PGDEval(eps=[0.1], steps=[1], schedule=EvaluationSchedule(num_samples=4, every_n_epochs=2))],
                  max_epochs=5, limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=1)
    module, data = NaturalModule(Small()), MNIST5k(split=(64, 64, 64))
    run.fit(module, data)
    run.validate(module, data)
    steps = [event.step for event in events(tmp_path).Scalars("robust/pgd_linf/eps=0.1/steps=1/acc")]
    # Lightning logs epoch-end values at the index of the epoch's last batch (one batch per epoch here):
    # after the 2nd and 4th epochs (indices 1 and 3) but not the 1st, 3rd and 5th; then validate (step 5)
    assert steps == [1, 3, 5]


class RandomDraw(Callback):
    """A careless callback: draws from the global random state at validation end."""

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        torch.rand(1)


def train_weights(tmp_path, callbacks) -> dict[str, torch.Tensor]:
    seed_everything(0)
    # Madry's inner loop draws its random starts from the global generator (the data order does not:
    # training loaders have their own), so a stray draw anywhere shows in the weights
    module = MadryModule(Small(), eps=0.1, steps=1, step_size=0.1)
    run = trainer(tmp_path, callbacks, max_epochs=2, limit_val_batches=1, log_every_n_steps=1)
    run.fit(module, MNIST5k(batch_size=32, split=(160, 64, 64)))
    return module.state_dict()


def test_training_is_identical_with_and_without_the_callbacks(tmp_path):
    callbacks = [
        PGDEval(eps=[0.1], steps=[2], schedule=EvaluationSchedule(num_samples=8)),
        AttributionAttackEval(eps=['4/255', '8/255'], attack=AttributionAttackConfig(steps=1, random_start=True), schedule=EvaluationSchedule(num_samples=4)),
        AttributionMapLogger(objective='random_sign', attack=AttributionAttackConfig(steps=1), schedule=EvaluationSchedule(num_samples=2)),
    ]
    plain = train_weights(tmp_path / "plain", [])
    evaluated = train_weights(tmp_path / "evaluated", callbacks)
    careless = train_weights(tmp_path / "careless", [RandomDraw()])
    assert plain.keys() == evaluated.keys()
    assert all(torch.equal(plain[name], evaluated[name]) for name in plain)
    # the comparison is sensitive: one stray random draw between epochs changes the random starts, hence the weights
    assert not all(torch.equal(plain[name], careless[name]) for name in plain)
    assert len(events(tmp_path / "evaluated").Tags()["images"]) == 1


def test_validation_under_inference_mode_fails_naming_the_trainer_setting(tmp_path, trained_small):
    callbacks = [PGDEval(eps=[0.1], steps=[1], schedule=EvaluationSchedule(num_samples=4))]
    run = Trainer(inference_mode=True, logger=False, callbacks=callbacks, limit_val_batches=1, **QUIET)
    with pytest.raises(RuntimeError, match=r"PGDEval .*inference_mode=False"):
        run.validate(NaturalModule(copy.deepcopy(trained_small)), MNIST5k())


def test_evaluation_runs_in_fp32_under_mixed_precision_training(trained_small):
    def validate(precision: str) -> dict[str, float]:
        callbacks = [
            PGDEval(eps=[0.1], steps=[3], schedule=EvaluationSchedule(num_samples=16)),
            AttributionAttackEval(eps=['4/255', '8/255'], metrics=['spearman'], attack=AttributionAttackConfig(steps=2), schedule=EvaluationSchedule(num_samples=8)),
        ]
        run = Trainer(precision=precision, inference_mode=False, logger=False, callbacks=callbacks, limit_val_batches=1, **QUIET)
        results = run.validate(NaturalModule(copy.deepcopy(trained_small)), MNIST5k())[0]
        return {tag: value for tag, value in results.items() if tag.startswith(("robust/", "attr/"))}

    assert validate("bf16-mixed") == validate("32-true")

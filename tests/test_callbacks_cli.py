"""The ready-made callback sets in callbacks/*.yaml compose with a regime config through a second --config."""

import os
from pathlib import Path

import pytest
import yaml
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_robattr.callbacks import AttributionAttackEval, PGDEval, ScheduledEvaluation
from lightning_robattr.cli import main

ROOT = Path(__file__).resolve().parents[1]
NATURAL = str(ROOT / "configs" / "natural.yaml")
FRAGMENTS = sorted((ROOT / "callbacks").glob("*.yaml"))
FAMILIES = ("pgd", "attribution_ssr", "attribution_fragile", "interpretability", "unforeseen", "detection", "adv2")


def listed(fragment: Path) -> list[dict]:
    return yaml.safe_load(fragment.read_text())["trainer"]["callbacks"]


def evaluation_callbacks(*configs: str | Path) -> list[ScheduledEvaluation]:
    args = [arg for config in configs for arg in ("-c", str(config))]
    trainer = main(args, run=False).trainer
    assert not trainer.validate_loop.inference_mode and not trainer.test_loop.inference_mode
    assert any(isinstance(c, ModelCheckpoint) for c in trainer.callbacks)
    assert any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    return [c for c in trainer.callbacks if isinstance(c, ScheduledEvaluation)]


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=lambda path: path.stem)
def test_each_fragment_composes_with_a_regime_config(fragment):
    callbacks = evaluation_callbacks(NATURAL, fragment)
    assert [f"{type(c).__module__.rsplit('.', 1)[0]}.{type(c).__name__}" for c in callbacks] == [
        entry["class_path"] for entry in listed(fragment)
    ]
    for callback, entry in zip(callbacks, listed(fragment)):
        for name in ("num_samples", "every_n_epochs", "seed"):
            if name in entry.get("init_args", {}).get("schedule", {}):
                assert getattr(callback.schedule, name) == entry["init_args"]["schedule"][name]


REPORTING = [f for f in FRAGMENTS if any(entry["class_path"].endswith(".PGDEval") for entry in listed(f))]


@pytest.mark.parametrize("fragment", REPORTING, ids=lambda path: path.stem)
def test_every_set_that_reports_robust_accuracy_runs_autoattack_in_test_for_each_of_its_norms(fragment):
    pgd_evals = [c for c in evaluation_callbacks(NATURAL, fragment) if isinstance(c, PGDEval)]
    reference = [c for c in pgd_evals if c.reference == "autoattack"]
    assert {c.attack.norm for c in reference} == {c.attack.norm for c in pgd_evals}
    madry = [c for c in pgd_evals if c.attack.random_start and c.attack.step_size is None]  # not the int_repo protocol
    madry_budgets = {(c.attack.norm, eps) for c in madry for _, eps in c.budgets}
    assert {(c.attack.norm, eps) for c in reference for _, eps in c.budgets} == madry_budgets


ATTRIBUTION_REPORTING = [f for f in FRAGMENTS if any(entry["class_path"].endswith(".AttributionAttackEval") for entry in listed(f))]


@pytest.mark.parametrize("fragment", ATTRIBUTION_REPORTING, ids=lambda path: path.stem)
def test_every_set_that_reports_attribution_robustness_runs_the_reference_on_each_of_its_methods_and_budgets(fragment):
    evals = [c for c in evaluation_callbacks(NATURAL, fragment) if isinstance(c, AttributionAttackEval)]
    reference = [c for c in evals if c.reference is not None]
    assert reference and all(c.reference == "standard" for c in reference)
    protocol = {(m, eps) for c in evals if c.objectives for m in c.methods for _, eps in c.budgets}
    assert protocol <= {(m, eps) for c in reference for m in c.methods for _, eps in c.budgets}


def test_a_later_fragment_replaces_the_set_of_an_earlier_one():
    replaced = evaluation_callbacks(NATURAL, ROOT / "callbacks" / "default.yaml", ROOT / "callbacks" / "pgd.yaml")
    pgd = [entry["class_path"].rsplit(".", 1)[1] for entry in listed(ROOT / "callbacks" / "pgd.yaml")]
    assert [type(c).__name__ for c in replaced] == pgd
    assert evaluation_callbacks(NATURAL, ROOT / "callbacks" / "default.yaml", ROOT / "callbacks" / "none.yaml") == []


@pytest.mark.parametrize("config", sorted((ROOT / "configs" / "cifar10").glob("*.yaml")), ids=lambda path: path.stem)
def test_each_cifar_config_carries_the_cifar_default_set(config):
    assert yaml.safe_load(config.read_text())["trainer"]["callbacks"] == listed(ROOT / "callbacks" / "default_cifar.yaml")


def test_the_paper_suite_is_exactly_the_families_together():
    families = [entry for family in FAMILIES for entry in listed(ROOT / "callbacks" / f"{family}.yaml")]
    assert listed(ROOT / "callbacks" / "paper.yaml") == families


def test_fit_then_test_of_the_checkpoint_log_the_fragment_through_the_cli(tmp_path):
    fragment = tmp_path / "tiny.yaml"
    fragment.write_text(
        "trainer:\n  callbacks:\n"
        "    - class_path: lightning_robattr.callbacks.PGDEval\n"
        "      init_args: {eps: [0.3], steps: [1], schedule: {num_samples: 8}}\n"
        "    - class_path: lightning_robattr.callbacks.AttributionMapLogger\n"
        "      init_args: {attack: {steps: 1}, schedule: {num_samples: 2}}\n"
    )
    short = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
             "--trainer.limit_test_batches", "1", "--trainer.enable_progress_bar", "false"]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        main(["fit", "-c", NATURAL, "-c", str(fragment), *short])
        checkpoint = "lightning_logs/natural/version_0/checkpoints/last.ckpt"
        tested = main(["test", "-c", NATURAL, "-c", str(fragment), *short, "--ckpt_path", checkpoint])
    finally:
        os.chdir(cwd)
    assert "robust/pgd_linf/eps=0.3/steps=1/acc" in tested.trainer.callback_metrics
    # test logged into the run it tested: one folder, the fit's and the test's values side by side
    assert [p.name for p in (tmp_path / "lightning_logs" / "natural").iterdir()] == ["version_0"]
    events = EventAccumulator(str(tmp_path / "lightning_logs" / "natural" / "version_0"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    assert {"robust/pgd_linf/eps=0.3/steps=1/acc", "val/acc", "test/acc"} <= set(events.Tags()["scalars"])
    assert len(events.Scalars("robust/pgd_linf/eps=0.3/steps=1/acc")) == 2  # after the epoch, and in test
    assert len(events.Images("attr/saliency/topk/eps=8_255/maps")) == 2

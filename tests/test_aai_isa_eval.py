"""AAIEval and ISAEval: the nested ``attack:`` and ``schedule:`` options, from Python and from YAML."""

import re
from pathlib import Path

import pytest
import torch

from lightning_robattr._random_state import isolated_random_state, seed_batch
from lightning_robattr.attacks import AAIConfig, ISAConfig, aai
from lightning_robattr.callbacks import AAIEval, EvaluationSchedule, ISAEval
from lightning_robattr.cli import main

NATURAL = str(Path(__file__).resolve().parents[1] / "lightning_robattr" / "configs" / "natural.yaml")

FRAGMENT = """\
trainer:
  callbacks:
    - class_path: lightning_robattr.callbacks.AAIEval
      init_args:
        eps: [2/255, "8/255", 0.1]
        method: gradcampp_int_repo
        attack: {steps: 7, k: 4, mode: hinge, beta: null}
        schedule: {num_samples: 12, batch_size: 6, seed: 99, every_n_epochs: 0}
    - class_path: lightning_robattr.callbacks.ISAEval
      init_args:
        method: ig
        class_sets: [one, all]
        norms: [2]
        method_options: {steps: 3}
        attack: {steps: 3, search_rounds: 2, budget_factors: [1.0, 1.5], first_point: isa}
        schedule: {num_samples: 4, batch_size: 4}
"""


def callbacks_of(fragment: Path) -> list:
    trainer = main(["-c", NATURAL, "-c", str(fragment)], run=False).trainer
    return [c for c in trainer.callbacks if isinstance(c, (AAIEval, ISAEval))]


def test_the_nested_yaml_form_builds_the_callbacks_it_writes(tmp_path, capsys):
    fragment = tmp_path / "aai_isa.yaml"
    fragment.write_text(FRAGMENT)
    with pytest.raises(SystemExit) as done:
        main(["fit", "-c", NATURAL, "-c", str(fragment), "--print_config"])
    assert done.value.code in (0, None), capsys.readouterr().err[-2000:]
    printed = capsys.readouterr().out
    assert "mode: hinge" in printed and "first_point: isa" in printed and "2/255" in printed
    aai_eval, isa_eval = callbacks_of(fragment)
    assert aai_eval.attack == AAIConfig(steps=7, k=4, mode="hinge", beta=None)
    assert aai_eval.schedule == EvaluationSchedule(num_samples=12, batch_size=6, seed=99, every_n_epochs=0)
    assert aai_eval.budgets == [("eps=2_255", 2 / 255), ("eps=8_255", 8 / 255), ("eps=0.1", 0.1)]
    assert isa_eval.attack == ISAConfig(steps=3, search_rounds=2, budget_factors=(1.0, 1.5), first_point="isa")
    assert isa_eval.variants == [("one", 2), ("all", 2)] and isa_eval.method_options == {"steps": 3}
    assert isa_eval.schedule == EvaluationSchedule(num_samples=4, batch_size=4)


@pytest.mark.parametrize(
    "init_args, message",
    [
        ("{attack: {k: 0}}", "k must be an integer >= 1, got 0"),
        ("{attack: {mode: soft}}", r"Literal\['filter', 'hinge'\]. Got value: soft"),
        ("{eps: [8/0]}", "'8/0' is not a budget"),
    ],
)
def test_a_bad_aai_value_fails_when_the_config_is_read(tmp_path, capsys, init_args, message):
    fragment = tmp_path / "bad.yaml"
    fragment.write_text(
        f"trainer:\n  callbacks:\n    - class_path: lightning_robattr.callbacks.AAIEval\n      init_args: {init_args}\n"
    )
    with pytest.raises((SystemExit, ValueError)) as raised:  # a parse error exits 2, a failed check raises
        callbacks_of(fragment)
    assert re.search(message, f"{raised.value} {capsys.readouterr().err}")


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: AAIEval(attack={"steps": 3}), TypeError, "attack must be an AAIConfig, got dict"),
        (lambda: AAIEval(eps=[1.5]), ValueError, "L-inf eps must lie in"),
        (lambda: AAIEval(method_options={"bogus": 1}), ValueError, "unknown option"),
        (lambda: ISAEval(attack=AAIConfig()), TypeError, "attack must be an ISAConfig, got AAIConfig"),
        (lambda: ISAEval(norms=[3]), ValueError, "norms must be a non-empty subset"),
        (lambda: ISAEval(method="lime"), ValueError, "unknown method 'lime'"),
    ],
)
def test_the_callbacks_check_their_options_when_built(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_the_default_schedules_keep_the_old_defaults():
    assert AAIEval().schedule == EvaluationSchedule(num_samples=200, batch_size=100)
    assert ISAEval().schedule == EvaluationSchedule(num_samples=20, every_n_epochs=0, batch_size=20)
    assert AAIEval().attack == AAIConfig() and ISAEval().attack == ISAConfig()


def test_aai_eval_logs_the_mean_of_the_attack_it_configures(trained_small, mnist5k):
    x, y = mnist5k["val"][0][:8], mnist5k["val"][1][:8]
    attack = AAIConfig(steps=3, k=4)
    results = AAIEval(eps=["8/255"], attack=attack, schedule=EvaluationSchedule(batch_size=8)).evaluate(trained_small, x, y)
    correct = trained_small(x).argmax(1) == y
    with isolated_random_state(torch.device("cpu")):  # replay the callback's seeding of its only batch
        seed_batch(0, 0, torch.device("cpu"))
        _, record = aai(trained_small, x[correct], y[correct], eps=8 / 255, steps=3, k=4)
    kept = record.kendall_tau[record.label_kept]
    assert results["attr/cam/aai/eps=8_255/kendall_tau"] == pytest.approx(kept[~kept.isnan()].mean().item(), rel=1e-6)
    assert results["attr/cam/aai/eps=8_255/label_kept_rate"] == pytest.approx(record.label_kept.float().mean().item())

"""Every packaged config, and the documented option values, parse through the command line (``--print_config``)."""

from pathlib import Path

import pytest

from lightning_robattr.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "lightning_robattr" / "configs"
REGIME_CONFIGS = sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name != "callbacks")
CALLBACK_SETS = sorted((CONFIGS / "callbacks").glob("*.yaml"))


def printed(capsys, *args: str) -> str:
    """What ``fit <args> --print_config`` prints (it exits 0 after printing)."""
    with pytest.raises(SystemExit) as done:
        main(["fit", *args, "--print_config"])
    assert done.value.code in (0, None), capsys.readouterr().err[-2000:]
    return capsys.readouterr().out


@pytest.mark.parametrize("config", REGIME_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_regime_config_parses(config, capsys):
    out = printed(capsys, "-c", str(config))
    assert "class_path: lightning_robattr.regimes." in out


@pytest.mark.parametrize("callback_set", CALLBACK_SETS, ids=lambda p: p.name)
def test_every_callback_set_parses_with_a_regime(callback_set, capsys):
    printed(capsys, "-c", str(CONFIGS / "natural.yaml"), "-c", str(callback_set))


@pytest.mark.parametrize("reference", ["apgd", "autoattack", "autoattack_rand", "false"])
def test_every_documented_reference_value_parses_from_yaml(reference, tmp_path, capsys):
    fragment = tmp_path / "reference.yaml"
    fragment.write_text(
        "trainer:\n  callbacks:\n    - class_path: lightning_robattr.callbacks.PGDEval\n"
        f"      init_args: {{eps: [0.1], steps: [10], reference: {reference}}}\n"
    )
    out = printed(capsys, "-c", str(CONFIGS / "natural.yaml"), "-c", str(fragment))
    assert f"reference: {reference}" in out


def test_nested_attack_and_schedule_mappings_parse_from_yaml(tmp_path, capsys):
    """``attack:`` and ``schedule:`` are nested mappings; a fraction budget is read unquoted; the values arrive."""
    fragment = tmp_path / "nested.yaml"
    fragment.write_text(
        "trainer:\n  callbacks:\n    - class_path: lightning_robattr.callbacks.AttributionAttackEval\n"
        "      init_args:\n        eps: [2/255, 8/255]\n        attack: {steps: 7, beta: 10.0, constraint: rescale}\n"
        "        schedule: {num_samples: 12, every_n_epochs: 3}\n"
    )
    out = printed(capsys, "-c", str(CONFIGS / "natural.yaml"), "-c", str(fragment))
    assert "steps: 7" in out and "beta: 10.0" in out and "constraint: rescale" in out
    assert "num_samples: 12" in out and "every_n_epochs: 3" in out and "2/255" in out


def test_a_bad_nested_attack_value_fails_when_the_config_is_read(tmp_path, capsys):
    """The config's own check runs while the command line is parsed, before anything is built or trained."""
    fragment = tmp_path / "bad.yaml"
    fragment.write_text(
        "trainer:\n  callbacks:\n    - class_path: lightning_robattr.callbacks.PGDEval\n"
        "      init_args: {eps: [0.1], steps: [10], attack: {restarts: 0}}\n"
    )
    with pytest.raises((SystemExit, ValueError)) as done:
        main(["fit", "-c", str(CONFIGS / "natural.yaml"), "-c", str(fragment), "--trainer.fast_dev_run", "true"])
    assert not isinstance(done.value, SystemExit) or done.value.code not in (0, None)
    assert "restarts must be an integer >= 1, got 0" in str(done.value) + capsys.readouterr().err

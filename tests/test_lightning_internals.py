"""The private Lightning names the package relies on, pinned in both namespaces (Lightning offers no public API for them).

* ``LightningCLI._parse_ckpt_path``: ``RobAttrCLI`` replaces it by its check of ``--ckpt_path`` against the configured regime
  (before anything is seeded or built), so ``--ckpt_path`` keeps the command line's model options.
* ``LightningCLI._run_subcommand``: ``RobAttrCLI`` wraps it to remove the run folder of a failed start.
* ``FitLoop._combined_loader``, ``FitLoop._combined_loader_states_to_load``, ``CombinedLoader._load_state_dicts``:
  ``RobustClassifier.on_train_start`` applies a resumed run's loader states with them.
* ``LightningModule._trainer``: ``AdversarialRegime.scheduled_eps`` asks whether a Trainer is attached.
* ``TensorBoardLogger._version``: ``_run_folder.remove_unstarted_run`` asks whether a run folder was claimed.

A failure here names what changed; the fix is to move that code to what Lightning now offers.
"""

import importlib
import inspect
from collections.abc import Iterator

import pytest

from lightning_robattr._lightning import LightningCLI
from lightning_robattr.cli import RobAttrCLI

NAMESPACES = ["pytorch_lightning", "lightning.pytorch"]
# the private LightningCLI methods RobAttrCLI overrides: their parameters, and the call LightningCLI.__init__ makes
CLI_METHODS = {
    "_parse_ckpt_path": (["self"], "self._parse_ckpt_path()"),
    "_run_subcommand": (["self", "subcommand"], "self._run_subcommand(self.subcommand)"),
}


def namespace_module(namespace: str, submodule: str = "") -> object:
    """``namespace`` (plus ``.submodule``), skipping the test when that Lightning package is not installed."""
    pytest.importorskip(namespace)
    return importlib.import_module(f"{namespace}{submodule}")


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)


class StatefulLoader:
    """An iterable with ``state_dict``/``load_state_dict``, as Lightning checkpoints it."""

    loaded: dict | None = None

    def __iter__(self) -> Iterator:
        return iter([])

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        self.loaded = state


def test_robattr_cli_overrides_no_other_private_lightning_cli_method():
    private = {name for name in vars(RobAttrCLI) if name.startswith("_") and not name.startswith("__") and hasattr(LightningCLI, name)}
    assert private == set(CLI_METHODS), f"RobAttrCLI overrides the private LightningCLI methods {sorted(private)}: pin each here"


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("name", sorted(CLI_METHODS))
def test_the_private_lightning_cli_methods_robattr_cli_overrides_keep_their_signature_and_call(namespace, name):
    cli = namespace_module(namespace, ".cli").LightningCLI
    expected, call = CLI_METHODS[name]
    method = getattr(cli, name, None)
    assert callable(method), f"{namespace}.cli.LightningCLI.{name} is gone, so RobAttrCLI.{name} never runs: move it to its replacement"
    assert parameters(method) == expected, (
        f"{namespace}.cli.LightningCLI.{name} now takes {parameters(method)}, not {expected}: adapt RobAttrCLI.{name}"
    )
    assert call in inspect.getsource(cli.__init__), (
        f"{namespace}.cli.LightningCLI.__init__ no longer calls {call}, so RobAttrCLI.{name} never runs: move it to what runs instead"
    )


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_the_fit_loop_holds_the_checkpoints_loader_states_and_its_combined_loader_applies_them(namespace):
    pl = namespace_module(namespace)
    combined_loader = namespace_module(namespace, ".utilities").CombinedLoader
    loop = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit_loop
    fix = "RobustClassifier.on_train_start no longer resumes the data order exactly: adapt it"
    assert hasattr(loop, "_combined_loader"), f"{namespace}'s FitLoop has no _combined_loader; {fix}"
    loop.on_load_checkpoint({"combined_loader": [{"served": 3}]})
    assert getattr(loop, "_combined_loader_states_to_load", None) == [{"served": 3}], (
        f"{namespace}'s FitLoop.on_load_checkpoint no longer keeps the loader states in _combined_loader_states_to_load; {fix}"
    )
    load = getattr(combined_loader, "_load_state_dicts", None)
    assert callable(load), f"{namespace}'s CombinedLoader has no _load_state_dicts; {fix}"
    assert parameters(load) == ["self", "states"], f"{namespace}'s CombinedLoader._load_state_dicts now takes {parameters(load)}; {fix}"
    loader = StatefulLoader()
    combined_loader([loader])._load_state_dicts([{"served": 3}])
    assert loader.loaded == {"served": 3}, f"{namespace}'s CombinedLoader._load_state_dicts no longer loads each state; {fix}"


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_a_lightning_module_keeps_its_trainer_in_trainer_underscore(namespace):
    pl = namespace_module(namespace)
    module, trainer = pl.LightningModule(), pl.Trainer(logger=False, enable_checkpointing=False)
    fix = "AdversarialRegime.scheduled_eps can no longer tell whether a Trainer is attached: adapt it"
    assert module._trainer is None, f"{namespace}'s LightningModule has no _trainer of None before a Trainer; {fix}"
    module.trainer = trainer
    assert module._trainer is trainer, f"{namespace}'s LightningModule no longer keeps its Trainer in _trainer; {fix}"


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_a_tensorboard_logger_claims_its_version_when_first_asked(namespace, tmp_path):
    logger = namespace_module(namespace, ".loggers").TensorBoardLogger(save_dir=str(tmp_path))
    fix = "_run_folder.remove_unstarted_run can no longer tell whether a run folder was claimed: adapt it"
    assert logger._version is None, f"{namespace}'s TensorBoardLogger has no _version of None before .version is asked; {fix}"
    assert logger.version == 0 and logger._version == 0, f"{namespace}'s TensorBoardLogger no longer keeps .version in _version; {fix}"

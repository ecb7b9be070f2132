"""Every regime's ``__init__`` names all its options, so Python, ``inspect`` and the command line's ``--help`` see them."""

import inspect

import pytest
import yaml

from lightning_robattr import regimes
from lightning_robattr.cli import main
from lightning_robattr.configs import REGIME_CONFIGS, config_names
from lightning_robattr.regimes import RobustClassifier

HIDDEN = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def package_regimes() -> list[type]:
    """``RobustClassifier`` and its subclasses defined in the package (not those tests define)."""
    found, pending = [], [RobustClassifier]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += [sub for sub in cls.__subclasses__() if sub.__module__.startswith("lightning_robattr.")]
    return sorted(found, key=lambda cls: cls.__name__)


REGIMES = package_regimes()


def options(cls: type) -> dict[str, inspect.Parameter]:
    """The parameters of ``cls.__init__`` without ``self``."""
    return dict(list(inspect.signature(cls.__init__).parameters.items())[1:])


def test_every_exported_regime_is_checked():
    exported = {getattr(regimes, name) for name in regimes.__all__}
    assert {cls for cls in exported if isinstance(cls, type) and issubclass(cls, RobustClassifier)} <= set(REGIMES)
    assert {"MadryModule", "TRADESModule", "SSRModule", "IGNormModule", "IntModule"} <= {cls.__name__ for cls in REGIMES}


@pytest.mark.parametrize("cls", REGIMES, ids=lambda cls: cls.__name__)
def test_the_signature_names_every_option_of_every_base_with_its_type_and_default(cls):
    own = options(cls)
    hidden = [name for name, parameter in own.items() if parameter.kind in HIDDEN]
    assert not hidden, f"{cls.__name__}.__init__ takes {hidden}: write out the options it passes on to its base instead"
    for base in cls.__mro__[1 : cls.__mro__.index(RobustClassifier) + 1]:
        for name, inherited in options(base).items():
            assert name in own, f"{cls.__name__}.__init__ lacks {base.__name__}'s option {name!r}: add it and pass it on"
            mine = own[name]
            assert (mine.annotation, mine.default) == (inherited.annotation, inherited.default), (
                f"{cls.__name__}'s option {name!r} is {mine.annotation} = {mine.default!r}, {base.__name__}'s "
                f"{inherited.annotation} = {inherited.default!r}: give it the base's type and default"
            )


def test_inspect_shows_the_options_a_regime_inherits():
    assert {"net", "optimizer", "eps", "steps", "clean_weight"} <= set(inspect.signature(regimes.MadryModule).parameters)


@pytest.mark.parametrize("config", config_names(REGIME_CONFIGS))
def test_print_config_of_every_packaged_regime_config_lists_all_the_regime_options(config, capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "-c", str(REGIME_CONFIGS / config), "-c", "callbacks/none.yaml", "--print_config"])
    assert done.value.code in (0, None), capsys.readouterr().err[-2000:]
    model = yaml.safe_load(capsys.readouterr().out)["model"]
    module, _, name = model["class_path"].rpartition(".")
    assert module == "lightning_robattr.regimes"
    missing = set(options(getattr(regimes, name))) - set(model["init_args"])
    assert not missing, f"--print_config of configs/{config} does not list {sorted(missing)}"

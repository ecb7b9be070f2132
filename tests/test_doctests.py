"""Every runnable example in the package's docstrings runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import lightning_robattr

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(lightning_robattr.__path__, prefix="lightning_robattr.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    # the finder keeps the objects defined in this module: a re-exported one is tested where it is defined
    for test in finder.find(module, name, globs=vars(module).copy()):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} docstring example(s) of {name} failed (output above)"


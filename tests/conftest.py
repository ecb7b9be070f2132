"""Shared fixtures: the MNIST5k tensors and the small trained networks every machine tests identically."""

import os
from pathlib import Path

import pytest
import torch

from lightning_robattr.data._mnist5k import balanced_split, load_mnist5k
from lightning_robattr.models import Small

SEED = int(os.environ.get("ROBATTR_TEST_SEED", "0"))  # training seed of the shared nets; rerun under another to test margins
THREADS = os.environ.get("ROBATTR_TEST_THREADS")  # torch threads per process; default 1 under xdist, torch's own otherwise

if THREADS:
    torch.set_num_threads(int(THREADS))
elif os.environ.get("PYTEST_XDIST_WORKER"):
    # two worker processes on two cores: with two threads each, OpenMP spinning slows both down many times
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def suite_seed() -> int:
    """The suite's training seed, ``ROBATTR_TEST_SEED`` (default 0)."""
    return SEED


@pytest.fixture(scope="session")
def mnist5k() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """MNIST5k's class-balanced train/val/test parts as ``(images, labels)`` tensors."""
    x, y = load_mnist5k()
    parts = balanced_split(y, (4000, 500, 500), seed=0)
    return {name: (x[idx], y[idx]) for name, idx in zip(("train", "val", "test"), parts)}


@pytest.fixture(autouse=True)
def _fresh_trained_small(request) -> None:
    """Hand every test the shared ``trained_small`` in eval mode and without parameter gradients
    (some oracles, e.g. torchattacks' CW, call ``backward`` on the model they attack)."""
    if "trained_small" in request.fixturenames:
        net = request.getfixturevalue("trained_small")
        net.zero_grad(set_to_none=True)
        net.eval()


NETS = Path(__file__).resolve().parent / "nets"
SEEDED = ("trained_small", "madry_small", "suite_seed")  # tests using them are marked "statistical" and rerun under a second seed


def load_test_net(name: str) -> Small:
    """The committed weights ``tests/nets/<name>_small_seed<SEED>.pt`` in a ``Small`` (eval mode), the same on every machine."""
    path = NETS / f"{name}_small_seed{SEED}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: train it with `python scripts/train_test_nets.py --seeds {SEED}` and commit it")
    net = Small()
    net.load_state_dict(torch.load(path, weights_only=True))
    return net.eval()


@pytest.fixture(scope="session")
def trained_small() -> Small:
    """Small trained naturally on MNIST5k's train part for 6 epochs from seed ``SEED`` (see scripts/train_test_nets.py)."""
    return load_test_net("natural")


@pytest.fixture(scope="session")
def madry_small() -> Small:
    """``trained_small`` fine-tuned for one epoch of PGD training, eps 0.1 (see scripts/train_test_nets.py)."""
    return load_test_net("madry")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a shared trained net or the suite seed ``statistical``: its margins must hold for every seed."""
    for item in items:
        if set(SEEDED) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.statistical)

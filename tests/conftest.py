"""Shared fixtures: the MNIST5k tensors and a small naturally trained network."""

import os

import pytest
import torch
import torch.nn.functional as F

from lightning_robattr.data.mnist5k import balanced_split, load_mnist5k
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


def train_small(x: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int = 0) -> Small:
    """Small trained with Adam under a one-cycle schedule peaking at 1e-2, batch 32 (plain PyTorch)."""
    torch.manual_seed(seed)
    net = Small()
    steps_per_epoch = len(x) // 32
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=epochs * steps_per_epoch)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for i in range(steps_per_epoch):
            batch = order[i * 32 : (i + 1) * 32]
            loss = F.cross_entropy(net(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return net.eval()


@pytest.fixture(autouse=True)
def _fresh_trained_small(request) -> None:
    """Hand every test the shared ``trained_small`` in eval mode and without parameter gradients
    (some oracles, e.g. torchattacks' CW, call ``backward`` on the model they attack)."""
    if "trained_small" in request.fixturenames:
        net = request.getfixturevalue("trained_small")
        net.zero_grad(set_to_none=True)
        net.eval()


@pytest.fixture(scope="session")
def trained_small(mnist5k, request) -> Small:
    """Small trained naturally on MNIST5k's train part for 6 epochs from seed ``SEED`` (cached across runs in .pytest_cache)."""
    cache = request.config.cache.mkdir("trained_small") / f"natural_6ep_seed{SEED}.pt"
    net = Small().eval()
    if cache.exists():
        net.load_state_dict(torch.load(cache))
        return net
    net = train_small(*mnist5k["train"], epochs=6, seed=SEED)
    torch.save(net.state_dict(), cache)
    return net

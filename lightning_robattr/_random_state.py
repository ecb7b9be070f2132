"""Keeping an evaluation from touching training: the global random state, saved, seeded and restored."""

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def isolated_random_state(device: torch.device) -> Iterator[None]:
    """Restore the global torch (CPU and ``device``), Python and NumPy random states on exit.

    Whatever the evaluation draws (random starts, noise, seeds set by ``seed_global``), the
    training that follows sees exactly the random stream it would have seen without it.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def seed_global(seed: int, device: torch.device) -> None:
    """Seed the global torch (CPU and ``device`` only), Python and NumPy generators with ``seed``."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def seed_batch(seed: int, batch_index: int, device: torch.device) -> None:
    """Seed the global random sources for batch ``batch_index`` of an evaluation seeded with ``seed``."""
    seed_global((seed * 1_000_003 + batch_index) % 2**32, device)

"""``RNGStateCheckpoint``: stores the random-number generators in checkpoints so a resumed run continues exactly."""

import random
from typing import Any

import numpy as np
import torch

from .._lightning import Callback


class RNGStateCheckpoint(Callback):
    """Save the Python, NumPy and torch (CPU and CUDA) RNG states with every checkpoint and restore them on resume.

    Lightning restores weights, optimiser, schedulers and loop counters but not the global
    generators, so after ``--ckpt_path`` the data order of the next epoch (and every random
    start drawn from the global generator) would differ from the uninterrupted run. With this
    callback, which the CLI always adds, a run resumed from ``last.ckpt`` reproduces the
    uninterrupted run bit for bit on the same hardware.
    """

    def state_dict(self) -> dict[str, Any]:
        # plain types and tensors only, so the checkpoint still loads with torch.load(weights_only=True)
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss, "cached": cached}
        state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        numpy_state = state_dict["numpy"]
        np.random.set_state(
            (numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached"])
        )
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])

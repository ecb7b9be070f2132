"""``ResumableLoader``: a shuffling training DataLoader whose place in the epoch is saved in checkpoints."""

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader


class ResumableLoader(DataLoader):
    """A ``DataLoader`` that Lightning checkpoints (``state_dict``/``load_state_dict``), so a mid-epoch resume continues exactly.

    The order of each epoch comes from the loader's own ``generator`` (give it one; the
    package's DataModules seed it from ``torch.initial_seed()``, which ``seed_everything``
    sets), not from the global generator, so it can be replayed. The state holds the
    generator at the start of the epoch in progress and how many batches of it were served.
    Resuming replays that order and skips the served batches; the skipped batches are loaded
    but the global torch generator is put back afterwards, so random augmentation of the
    remaining batches draws what it drew in the uninterrupted run (exact with
    ``num_workers=0``; with workers the order is exact, the workers' augmentation draws are not).

    Args:
        *args: positional arguments of ``DataLoader``.
        **kwargs: keyword arguments of ``DataLoader`` (``generator`` is required).
        epoch_finished: tells, when a checkpoint is written, whether the epoch has ended (the
            Trainer may stop an epoch early, e.g. ``limit_train_batches``); default: when all
            batches were served.
    """

    def __init__(self, *args: Any, epoch_finished: Callable[[], bool] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.generator is None:
            raise ValueError("ResumableLoader needs generator=torch.Generator().manual_seed(seed) to replay an epoch's order")
        self.epoch_finished = epoch_finished
        self._epoch_start = self.generator.get_state()
        self._served = 0
        self._skip = 0

    def __iter__(self) -> Iterator[Any]:
        self._epoch_start = self.generator.get_state()
        skip, self._skip = self._skip, 0
        batches = super().__iter__()
        global_state = torch.get_rng_state()
        for _ in range(skip):
            next(batches)
        torch.set_rng_state(global_state)
        self._served = skip
        for batch in batches:
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        finished = self.epoch_finished() if self.epoch_finished is not None else self._served >= len(self)
        if finished:
            return {"generator": self.generator.get_state(), "served": 0}
        return {"generator": self._epoch_start, "served": self._served}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self._skip = int(state["served"])

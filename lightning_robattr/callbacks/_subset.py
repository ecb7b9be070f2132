"""The fixed evaluation subset of an evaluation callback and its split into batches across DDP ranks."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor


def evaluation_subset(dataset: Any, num_samples: int | None, seed: int) -> tuple[Tensor, Tensor]:
    """The first ``num_samples`` examples of a ``seed``-ed permutation of ``dataset``, stacked.

    The same ``(dataset, num_samples, seed)`` always gives the same examples in the same order,
    so numbers from different epochs (and different runs) are comparable. ``num_samples=None``
    (or more than the dataset holds) takes the whole dataset.

    Args:
        dataset: map-style dataset whose items are ``(image (C, H, W), label)`` pairs.
        num_samples: subset size.
        seed: seed of the permutation.

    Returns:
        Images ``(N, C, H, W)`` float32 and labels ``(N,)`` int64, on the CPU.
    """
    size = len(dataset)
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    if num_samples is not None:
        order = order[:num_samples]
    items = [dataset[int(i)] for i in order]
    if not items or not isinstance(items[0], (tuple, list)) or len(items[0]) < 2:
        raise ValueError(
            f"the evaluation dataset must hold (image, label) pairs; got {type(items[0]).__name__ if items else 'no items'}"
        )
    images = torch.stack([torch.as_tensor(item[0]) for item in items]).float()
    labels = torch.as_tensor([int(item[1]) for item in items], dtype=torch.long)
    return images, labels


def rank_batches(count: int, batch_size: int, rank: int, world_size: int) -> list[tuple[int, slice]]:
    """``(batch index, slice)`` of the batches of a ``count``-example subset that run on ``rank``.

    The subset is cut into consecutive batches of ``batch_size`` whatever the number of
    processes, and batch ``j`` runs on rank ``j mod world_size``; each batch draws its random
    numbers from a seed of its own, so a run on any number of processes evaluates exactly the
    same attacks as a run on one.
    """
    starts = range(0, count, batch_size)
    return [(j, slice(start, min(start + batch_size, count))) for j, start in enumerate(starts) if j % world_size == rank]


def stage_dataset(loaders: Any, stage: str) -> Any:
    """The dataset behind the (first) dataloader a Trainer holds for ``stage``."""
    if isinstance(loaders, Mapping):
        loaders = next(iter(loaders.values()), None)
    elif isinstance(loaders, Sequence):
        loaders = loaders[0] if loaders else None
    dataset = getattr(loaders, "dataset", None)
    if dataset is None:
        raise RuntimeError(f"no {stage} dataloader with a map-style dataset to draw the evaluation subset from")
    return dataset

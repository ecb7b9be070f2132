"""``MNISTData``: the full MNIST (60,000 training and 10,000 test digits) read from a local folder."""

from torchvision.datasets import MNIST

from ._idx_files import check_idx_pair, gunzip
from ._torchvision_data import TorchvisionData


class MNISTData(TorchvisionData):
    """MNIST from ``root/MNIST/raw`` in torchvision's layout; nothing is downloaded unless ``download=True``.

    Expected files (as published, gzipped, or already un-gzipped without the ``.gz``)::

        root/MNIST/raw/train-images-idx3-ubyte.gz
        root/MNIST/raw/train-labels-idx1-ubyte.gz
        root/MNIST/raw/t10k-images-idx3-ubyte.gz
        root/MNIST/raw/t10k-labels-idx1-ubyte.gz

    torchvision reads the un-gzipped files; a ``.gz`` without its un-gzipped twin is
    un-gzipped next to it on first use. A broken file (not gzip, cut short, an idx header that
    does not match its size, images and labels of different counts) raises a ``ValueError``
    naming it. Images are ``(1, 28, 28)`` float32 in [0, 1]; labels int64 in 0..9. The
    validation part is a seeded, class-stratified sample of the training set; no augmentation
    by default.

    Args:
        root: folder that contains ``MNIST/``.
        download: let torchvision download missing files into ``root``.
        val_size: validation examples taken from the training set (count, or fraction in [0, 1));
            0 validates on the test set.
        random_crop_padding: zero padding in pixels before a random 28x28 training crop (0: none).
        horizontal_flip: flip training images left-right with probability 1/2.
        batch_size: examples per batch.
        num_workers: DataLoader workers.
        seed: seed of the validation split.

    Example:
        >>> data = MNISTData("data", val_size=5000)  # reads data/MNIST/raw/*
    """

    dataset_class = MNIST
    folder = "MNIST/raw"
    files = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    image_size = 28
    source = "the four MNIST idx .gz files (e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/; un-gzipped copies do too)"

    def __init__(
        self,
        root: str = "data",
        *,
        download: bool = False,
        val_size: int | float = 5000,
        random_crop_padding: int = 0,
        horizontal_flip: bool = False,
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

    def missing_files(self) -> list[str]:
        """The ``.gz`` names in ``files`` present neither gzipped nor un-gzipped."""
        return [name for name in self.files if not any((self.data_dir / n).is_file() for n in (name, name.removesuffix(".gz")))]

    def ensure_files(self) -> None:
        """Raise if files are missing or broken; un-gzip each ``.gz`` whose un-gzipped twin is absent."""
        super().ensure_files()
        for name in self.files:
            unpacked = self.data_dir / name.removesuffix(".gz")
            if not unpacked.is_file():
                gunzip(self.data_dir / name, unpacked)
        for part in ("train", "t10k"):
            check_idx_pair(self.data_dir / f"{part}-images-idx3-ubyte", self.data_dir / f"{part}-labels-idx1-ubyte")

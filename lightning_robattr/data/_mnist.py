"""``MNISTData``: the full MNIST (60,000 training and 10,000 test digits) read from a local folder."""

from pathlib import Path

from torch.utils.data import TensorDataset
from torchvision.datasets import MNIST

from ._idx_files import read_idx_pair
from ._torchvision_data import TorchvisionData


class MNISTData(TorchvisionData):
    """MNIST from the four idx files, in torchvision's layout or flat in ``root``; nothing is downloaded unless ``download=True``.

    The files (as published, gzipped, or un-gzipped without the ``.gz``) are read from the
    first of these two folders that holds all four::

        root/MNIST/raw/train-images-idx3-ubyte.gz    # torchvision's layout
        root/train-images-idx3-ubyte.gz              # flat: the files directly in root
        (and train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)

    If neither holds them, a ``FileNotFoundError`` names both folders and the missing files.
    A file is read into memory (an un-gzipped copy is preferred over its ``.gz``); nothing is
    written next to it, so a read-only folder works. A broken file (not gzip, cut short, an idx
    header that does not match its size, images and labels of different counts) raises a
    ``ValueError`` naming it. Images are ``(1, 28, 28)`` float32 in [0, 1]; labels int64 in
    0..9. The validation part is a seeded, class-stratified sample of the training set; no
    augmentation by default.

    Args:
        root: folder that contains ``MNIST/raw/`` or the four files themselves; ``None``: ``system_root``
            if the class has one and that folder exists, else ``"data"``.
        download: let torchvision download missing files into ``root/MNIST/raw``.
        val_size: validation examples taken from the training set (count, or fraction in [0, 1));
            0 validates on the test set.
        random_crop_padding: zero padding in pixels before a random 28x28 training crop (0: none).
        horizontal_flip: flip training images left-right with probability 1/2.
        batch_size: examples per batch.
        num_workers: DataLoader workers.
        seed: seed of the validation split.

    Example:
        >>> data = MNISTData("data", val_size=5000)  # reads data/MNIST/raw/* or data/*
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
    system_root: str | None = None
    """Folder where an OS package installs the four files flat; the default ``root`` when it exists."""

    def __init__(
        self,
        root: str | None = None,
        *,
        download: bool = False,
        val_size: int | float = 5000,
        random_crop_padding: int = 0,
        horizontal_flip: bool = False,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        if root is None:
            root = self.system_root if self.system_root and Path(self.system_root).is_dir() else "data"
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

    def layouts(self) -> dict[str, Path]:
        """torchvision's ``root / folder``, then the flat layout: the files directly in ``root``."""
        return {**super().layouts(), "flat: the files directly in root": self.root_dir}

    def _file(self, folder: Path, name: str) -> Path | None:
        """The un-gzipped copy of the ``.gz`` file ``name`` in ``folder`` if present, else the ``.gz``, else ``None``."""
        return next((path for path in (folder / name.removesuffix(".gz"), folder / name) if path.is_file()), None)

    def missing_files(self, folder: Path) -> list[str]:
        """The ``.gz`` names in ``files`` that ``folder`` holds neither gzipped nor un-gzipped."""
        return [name for name in self.files if self._file(folder, name) is None]

    def load(self, train: bool) -> TensorDataset:
        """The training (``train``) or test set as uint8 images ``(N, 1, 28, 28)`` and int64 labels ``(N,)``."""
        part = "train" if train else "t10k"
        images, labels = (self._file(self.data_dir, f"{part}-{kind}-ubyte.gz") for kind in ("images-idx3", "labels-idx1"))
        return TensorDataset(*read_idx_pair(images, labels))

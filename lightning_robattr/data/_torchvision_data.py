"""``TorchvisionData``: a DataModule over a torchvision dataset kept in a local folder, never fetched unasked."""

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from torch.utils.data import Dataset
from torchvision.datasets import VisionDataset
from torchvision.transforms import v2

from ._image_data_module import ImageDataModule, dataset_labels
from ._splits import balanced_split, resolve_size
from ._transformed_subset import TransformedSubset
from ._transforms import to_pixels

DOWNLOAD_SOCKET_TIMEOUT_S = 60.0
"""With ``download=True``, a network read that stalls this long fails instead of hanging."""


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


class TorchvisionData(ImageDataModule):
    """Train/val parts split from a torchvision dataset's training set, test part from its test set.

    The files are read from the first of :meth:`layouts` that holds them all; here that is
    torchvision's layout (``root / folder / files``) only. With ``download=False`` (the default)
    nothing touches the network: missing files raise at once a ``FileNotFoundError`` that names
    every accepted folder, the files and how to obtain them. With
    ``download=True``, ``prepare_data`` lets torchvision fetch them (rank 0 only, under Lightning).

    The validation part is a seeded, class-stratified sample of the training set
    (:func:`balanced_split`); ``val_size=0`` keeps the whole training set and validates on the
    test set. Augmentation (random crop after zero padding, horizontal flip) applies to the
    training part only.

    Subclasses set ``dataset_class`` (built as ``dataset_class(root, train=..., download=...)``),
    ``folder`` (under ``root``), ``files`` (names needed in that folder), ``image_size`` (side
    of the square images) and ``source`` (where to get the files).

    Args:
        root: folder that contains ``folder`` (torchvision's convention).
        download: let torchvision download missing files into ``root``.
        val_size: validation examples taken from the training set, as a count or a fraction in [0, 1).
        random_crop_padding: zero padding in pixels before a random crop back to full size (0: no crop).
        horizontal_flip: flip training images left-right with probability 1/2.
        batch_size: examples per batch.
        num_workers: DataLoader workers.
        seed: seed of the validation split.
    """

    dataset_class: type[VisionDataset]
    folder: str
    files: tuple[str, ...]
    image_size: int
    source: str

    def __init__(
        self,
        root: str,
        *,
        download: bool,
        val_size: int | float,
        random_crop_padding: int,
        horizontal_flip: bool,
        batch_size: int,
        num_workers: int,
        seed: int,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if random_crop_padding < 0:
            raise ValueError(f"random_crop_padding must be >= 0 pixels, got {random_crop_padding}")
        self.root, self.download, self.val_size, self.seed = root, download, val_size, seed
        self.random_crop_padding, self.horizontal_flip = random_crop_padding, horizontal_flip

    @property
    def root_dir(self) -> Path:
        """``root`` as an absolute path, ``~`` expanded."""
        return Path(self.root).expanduser().absolute()

    def layouts(self) -> dict[str, Path]:
        """The folders that may hold ``files``, by the name of their layout, in the order they are tried."""
        return {"torchvision's layout": self.root_dir / self.folder}

    @property
    def data_dir(self) -> Path:
        """The first folder of :meth:`layouts` that holds every file; the first one if none does."""
        folders = list(self.layouts().values())
        return next((folder for folder in folders if not self.missing_files(folder)), folders[0])

    def missing_files(self, folder: Path) -> list[str]:
        """The names in ``files`` that ``folder`` lacks."""
        return [name for name in self.files if not (folder / name).is_file()]

    def prepare_data(self) -> None:
        """Download missing files if ``download``; then check that every file is in place."""
        if self.download and self.missing_files(self.data_dir):
            with _socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S):
                for train in (True, False):
                    self.dataset_class(str(self.root_dir), train=train, download=True)
        self.ensure_files()

    def ensure_files(self) -> None:
        """Make sure the files can be read; raise a ``FileNotFoundError`` that says where they belong if any is missing."""
        layouts = self.layouts()
        missing = min((self.missing_files(folder) for folder in layouts.values()), key=len)
        if not missing:
            return
        places = " or ".join(f"{folder} ({layout})" for layout, folder in layouts.items())
        lines = [f"{type(self).__name__}: dataset files not found in {places}", f"missing: {', '.join(missing)}"]
        if all((self.root_dir / name).is_file() for name in missing):
            lines.append(f"these files are directly in {self.root_dir}: set root to the folder that contains {self.folder!r}")
        lines += [
            (
                f"to obtain them: on a machine with network access get {self.source}, and copy the files to "
                f"{' or '.join(map(str, layouts.values()))};"
            ),
            "or set download: true (data.init_args.download) to let torchvision fetch them into root",
        ]
        raise FileNotFoundError("\n".join(lines))

    def train_transform(self) -> v2.Compose:
        """Transform of training images: the configured augmentation, then float pixels."""
        augmentations = []
        if self.random_crop_padding:
            augmentations.append(v2.RandomCrop(self.image_size, padding=self.random_crop_padding))
        if self.horizontal_flip:
            augmentations.append(v2.RandomHorizontalFlip())
        return to_pixels(augmentations)

    def load(self, train: bool) -> Dataset:
        """The training (``train``) or test set, yielding ``(image, label)``, from files ``ensure_files`` found."""
        return self.dataset_class(str(self.root_dir), train=train)

    def setup(self, stage: str | None = None) -> None:
        self.ensure_files()
        train_full, test = self.load(train=True), self.load(train=False)
        val_size = resolve_size(self.val_size, len(train_full), name="val_size")
        train_part, val_part = balanced_split(dataset_labels(train_full), (len(train_full) - val_size, val_size), self.seed)
        self.train_set = TransformedSubset(train_full, train_part, self.train_transform())
        self.test_set = TransformedSubset(test, range(len(test)), to_pixels())
        self.val_set = TransformedSubset(train_full, val_part, to_pixels()) if val_size else self.test_set

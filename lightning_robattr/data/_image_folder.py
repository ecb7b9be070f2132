"""``ImageFolderData``: images stored one folder per class (Flower, restricted ImageNet, your own)."""

from pathlib import Path
from typing import Literal

from PIL import Image
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import default_loader
from torchvision.transforms import v2

from ._image_data_module import ImageDataModule
from ._splits import balanced_split, part_sizes
from ._transformed_subset import TransformedSubset
from ._transforms import to_pixels

LAYOUTS = (
    "expected either root/train/<class>/<image> together with root/val/<class>/<image> and/or "
    "root/test/<class>/<image>, or root/<class>/<image> (then split by seed into train/val/test)"
)


def _read_image(path: str) -> Image.Image:
    """The RGB image at ``path`` (torchvision's loader); an unreadable file raises one short ``OSError`` naming it."""
    try:
        return default_loader(path)
    except (OSError, SyntaxError, ValueError) as error:  # PIL's decoders raise all three for broken files
        raise OSError(
            f"ImageFolderData: cannot read the image file {path} ({type(error).__name__}: {error}); "
            "remove or replace that file (e.g. re-export it as PNG or JPEG)"
        ) from None


def _image_folder(path: Path) -> ImageFolder:
    try:
        return ImageFolder(str(path), loader=_read_image)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"ImageFolderData: cannot read images from {path}: {error}\n{LAYOUTS}") from error


class ImageFolderData(ImageDataModule):
    """Square RGB crops ``(3, image_size, image_size)`` float32 in [0, 1] from folders of class folders.

    Layouts (class folders are sorted by name to give labels 0, 1, ...; files may be PNG, JPEG
    and the other formats torchvision's ``ImageFolder`` reads; grey images become RGB):

    =======================================  ==========  ==================  ==================
    layout under ``root``                    train       val                 test
    =======================================  ==========  ==================  ==================
    ``train/``, ``val/``, ``test/``          ``train/``  ``val/``            ``test/``
    ``train/``, ``val/`` (ImageNet style)    ``train/``  ``val/``            ``val/``
    ``train/``, ``test/``                    ``train/``  ``test/``           ``test/``
    ``<class>/`` only (e.g. Flower-17)       the rest    ``val_size``        ``test_size``
    =======================================  ==========  ==================  ==================

    The single-folder split is seeded and class-stratified.

    Evaluation images are resized (shorter side to ``resize_size``) and centre-cropped to
    ``image_size``. Training images get ``train_crop``: ``"random_resized"`` (a random area and
    aspect ratio, resized to ``image_size``), ``"random"`` (resize, then a random crop) or
    ``"center"`` (as evaluation), then a random horizontal flip if ``horizontal_flip``.

    Args:
        root: the dataset folder.
        image_size: side of the square crops, in pixels.
        resize_size: shorter side after resizing, before cropping (default ``image_size / 0.875``,
            e.g. 256 for 224).
        train_crop: crop of training images, see above.
        horizontal_flip: flip training images left-right with probability 1/2.
        val_size: validation part of a single-folder layout (count, or fraction in [0, 1)).
        test_size: test part of a single-folder layout (count, or fraction in [0, 1)).
        batch_size: examples per batch.
        num_workers: DataLoader workers.
        seed: seed of the single-folder split.

    After ``setup``, ``classes`` lists the class folder names in label order.

    Example:
        >>> data = ImageFolderData("data/restricted_imagenet", image_size=224)  # train/ and val/ inside
    """

    def __init__(
        self,
        root: str,
        *,
        image_size: int = 224,
        resize_size: int | None = None,
        train_crop: Literal["random_resized", "random", "center"] = "random_resized",
        horizontal_flip: bool = True,
        val_size: int | float = 0.1,
        test_size: int | float = 0.1,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.save_hyperparameters()
        resize_size = round(image_size / 0.875) if resize_size is None else resize_size
        if not 1 <= image_size <= resize_size:
            raise ValueError(f"need 1 <= image_size <= resize_size, got image_size={image_size}, resize_size={resize_size}")
        if train_crop not in ("random_resized", "random", "center"):
            raise ValueError(f"train_crop must be 'random_resized', 'random' or 'center', got {train_crop!r}")
        self.root, self.image_size, self.resize_size, self.train_crop = root, image_size, resize_size, train_crop
        self.horizontal_flip, self.val_size, self.test_size, self.seed = horizontal_flip, val_size, test_size, seed

    def eval_transform(self) -> v2.Compose:
        """Resize, centre crop, float pixels."""
        return to_pixels([v2.Resize(self.resize_size), v2.CenterCrop(self.image_size)])

    def train_transform(self) -> v2.Compose:
        """The configured training crop and flip, then float pixels."""
        crops = {
            "random_resized": [v2.RandomResizedCrop(self.image_size)],
            "random": [v2.Resize(self.resize_size), v2.RandomCrop(self.image_size)],
            "center": [v2.Resize(self.resize_size), v2.CenterCrop(self.image_size)],
        }[self.train_crop]
        return to_pixels(crops + ([v2.RandomHorizontalFlip()] if self.horizontal_flip else []))

    def setup(self, stage: str | None = None) -> None:
        root = Path(self.root).expanduser().absolute()
        if not root.is_dir():
            raise FileNotFoundError(f"ImageFolderData: folder {root} does not exist\n{LAYOUTS}")
        if (root / "train").is_dir():
            self._setup_split_folders(root)
        else:
            self._setup_single_folder(root)

    def _setup_split_folders(self, root: Path) -> None:
        held_out = [root / name for name in ("val", "test") if (root / name).is_dir()]
        if not held_out:
            raise FileNotFoundError(
                f"ImageFolderData: {root / 'train'} exists but neither {root / 'val'} nor {root / 'test'}\n{LAYOUTS}"
            )
        train = _image_folder(root / "train")
        val = _image_folder(held_out[0])
        test = _image_folder(held_out[1]) if len(held_out) == 2 else val
        for folder, dataset in zip(held_out, (val, test)):
            if dataset.classes != train.classes:
                raise ValueError(
                    f"ImageFolderData: the class folders of {folder} ({dataset.classes}) differ from those of "
                    f"{root / 'train'} ({train.classes}); every split needs the same class folders"
                )
        self.classes = train.classes
        self.train_set = TransformedSubset(train, range(len(train)), self.train_transform())
        self.val_set = TransformedSubset(val, range(len(val)), self.eval_transform())
        self.test_set = TransformedSubset(test, range(len(test)), self.eval_transform())

    def _setup_single_folder(self, root: Path) -> None:
        full = _image_folder(root)
        sizes = part_sizes(len(full), f"{len(full)} images in {root}", val_size=self.val_size, test_size=self.test_size)
        train, val, test = balanced_split(full.targets, sizes, self.seed)
        self.classes = full.classes
        self.train_set = TransformedSubset(full, train, self.train_transform())
        self.val_set = TransformedSubset(full, val, self.eval_transform())
        self.test_set = TransformedSubset(full, test, self.eval_transform())

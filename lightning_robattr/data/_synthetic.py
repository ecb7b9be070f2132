"""``SyntheticData``: random but learnable images, generated in memory from a seed (for tests and smoke runs)."""

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

from ._image_data_module import ImageDataModule


class SyntheticData(ImageDataModule):
    """Noisy copies of one smooth random prototype image per class.

    Each class ``c`` gets a prototype: uniform noise on a 4x4 grid per channel, bilinearly
    upsampled to the image size. An example of class ``c`` is ``clamp(prototype_c + noise * N(0, 1), 0, 1)``.
    Labels cycle through the classes, so every part is class-balanced up to one example per
    class. The same ``seed`` gives the same prototypes and examples.

    Args:
        num_classes: number of classes.
        image_shape: ``(C, H, W)`` of every image.
        train_size, val_size, test_size: examples in each part.
        noise: standard deviation of the per-pixel Gaussian noise, in pixel units.
        batch_size: examples per batch.
        num_workers: DataLoader workers.
        seed: seed of the prototypes and examples.

    Example:
        >>> data = SyntheticData(num_classes=3, image_shape=(3, 32, 32), train_size=30)
        >>> data.setup()
        >>> data.train_set[0][0].shape
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        train_size: int = 512,
        val_size: int = 128,
        test_size: int = 128,
        noise: float = 0.2,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.save_hyperparameters()
        if num_classes < 2 or min(image_shape) < 1 or min(train_size, val_size, test_size) < 0 or noise < 0:
            raise ValueError(
                "need num_classes >= 2, positive image_shape, non-negative sizes and noise; got "
                f"num_classes={num_classes}, image_shape={image_shape}, sizes={(train_size, val_size, test_size)}, noise={noise}"
            )
        self.num_classes, self.image_shape, self.noise, self.seed = num_classes, tuple(image_shape), noise, seed
        self.sizes = (train_size, val_size, test_size)

    def prototypes(self, generator: torch.Generator) -> Tensor:
        """One smooth image per class, ``(num_classes, C, H, W)`` in [0, 1]."""
        channels, height, width = self.image_shape
        coarse = torch.rand(self.num_classes, channels, 4, 4, generator=generator)
        return F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=True)

    def setup(self, stage: str | None = None) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        prototypes = self.prototypes(generator)
        parts = []
        for size in self.sizes:
            labels = torch.arange(size) % self.num_classes
            labels = labels[torch.randperm(size, generator=generator)]
            noise = torch.randn(size, *self.image_shape, generator=generator)
            parts.append(TensorDataset((prototypes[labels] + self.noise * noise).clamp(0, 1), labels))
        self.train_set, self.val_set, self.test_set = parts

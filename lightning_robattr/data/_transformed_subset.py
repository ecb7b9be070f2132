"""``TransformedSubset``: some examples of a dataset, with a transform applied to their images."""

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset


class TransformedSubset(Dataset):
    """The examples ``indices`` of ``dataset`` (which yields ``(image, label)``), with ``transform`` applied to each image.

    Lets the training and evaluation parts of one loaded dataset use different transforms
    (augmentation on the training part only) without loading the data twice.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | Tensor, transform: Callable[[Any], Tensor]) -> None:
        self.dataset, self.transform = dataset, transform
        self.indices = indices.tolist() if isinstance(indices, Tensor) else list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        image, label = self.dataset[self.indices[i]]
        return self.transform(image), label

"""``ImageDataModule``: the loaders every DataModule of the package shares."""

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .._lightning import LightningDataModule
from ._resumable_loader import ResumableLoader
from ._transformed_subset import TransformedSubset


def dataset_labels(dataset: Dataset) -> Tensor | None:
    """The labels of ``dataset``, read without loading an image; ``None`` where they are not at hand.

    At hand are the labels of a ``TensorDataset`` (its second tensor), of a torchvision
    dataset (its ``targets``) and of a ``TransformedSubset`` of either.
    """
    if isinstance(dataset, TransformedSubset):
        labels = dataset_labels(dataset.dataset)
        return None if labels is None else labels[dataset.indices]
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1]
    targets = getattr(dataset, "targets", None)
    return None if targets is None else torch.as_tensor(targets)


class ImageDataModule(LightningDataModule):
    """Serves ``train_set``, ``val_set`` and ``test_set`` (built by a subclass's ``setup``) as DataLoaders.

    Training batches are reshuffled every epoch by a ``ResumableLoader`` seeded from
    ``torch.initial_seed()`` (so ``seed_everything`` fixes the order, and a run resumed from a
    mid-epoch checkpoint continues the epoch exactly); validation, test and predict batches keep
    their order (predict uses the test part). Every set yields ``(image, label)`` with images
    ``(C, H, W)`` float32 in [0, 1], which batch to ``(B, C, H, W)`` and int64 labels ``(B,)``.
    After ``setup``, :meth:`largest_label` lets a model check the labels against its classes.

    Args:
        batch_size: examples per batch, for training and evaluation alike.
        num_workers: DataLoader worker processes (0 loads in the main process).
    """

    train_set: Dataset
    val_set: Dataset
    test_set: Dataset

    def __init__(self, *, batch_size: int, num_workers: int) -> None:
        super().__init__()
        if batch_size < 1 or num_workers < 0:
            raise ValueError(f"need batch_size >= 1 and num_workers >= 0, got {batch_size} and {num_workers}")
        self.batch_size, self.num_workers = batch_size, num_workers

    def largest_label(self) -> int | None:
        """The largest label of the parts ``setup`` built, read without loading images; ``None`` if none is at hand."""
        parts = (getattr(self, name, None) for name in ("train_set", "val_set", "test_set"))
        labels = [t for t in map(dataset_labels, parts) if t is not None and len(t)]
        return max(int(t.max()) for t in labels) if labels else None

    def _loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return ResumableLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(torch.initial_seed()),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            epoch_finished=self._epoch_finished if self.trainer is not None else None,
        )

    def _epoch_finished(self) -> bool:
        return self.trainer.fit_loop.epoch_loop.batch_progress.is_last_batch

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)

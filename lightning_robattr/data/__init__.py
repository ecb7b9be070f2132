"""LightningDataModules yielding float images ``(B, C, H, W)`` in [0, 1] and int64 labels ``(B,)``."""

from ._cifar10 import CIFAR10Data
from ._fashion_mnist import FashionMNISTData
from ._image_data_module import ImageDataModule
from ._image_folder import ImageFolderData
from ._mnist import MNISTData
from ._mnist5k import MNIST5k, load_mnist5k
from ._resumable_loader import ResumableLoader
from ._splits import balanced_split
from ._synthetic import SyntheticData
from ._torchvision_data import TorchvisionData

__all__ = [
    "CIFAR10Data",
    "FashionMNISTData",
    "ImageDataModule",
    "ImageFolderData",
    "MNIST5k",
    "MNISTData",
    "ResumableLoader",
    "SyntheticData",
    "TorchvisionData",
    "balanced_split",
    "load_mnist5k",
]

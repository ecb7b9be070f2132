"""LightningDataModules yielding float images ``(B, C, H, W)`` in [0, 1] and int64 labels ``(B,)``."""

from .cifar10 import CIFAR10Data
from .fashion_mnist import FashionMNISTData
from .image_data_module import ImageDataModule
from .image_folder import ImageFolderData
from .mnist import MNISTData
from .mnist5k import MNIST5k
from .resumable_loader import ResumableLoader
from .splits import balanced_split
from .synthetic import SyntheticData
from .torchvision_data import TorchvisionData

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
]

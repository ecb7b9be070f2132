"""``FashionMNISTData``: Fashion-MNIST (60,000 training and 10,000 test images) read from a local folder."""

from torchvision.datasets import FashionMNIST

from ._mnist import MNISTData


class FashionMNISTData(MNISTData):
    """Fashion-MNIST from ``root/FashionMNIST/raw``: the same files, format and options as :class:`MNISTData`.

    Expected files (gzipped as published, or un-gzipped without the ``.gz``)::

        root/FashionMNIST/raw/train-images-idx3-ubyte.gz
        root/FashionMNIST/raw/train-labels-idx1-ubyte.gz
        root/FashionMNIST/raw/t10k-images-idx3-ubyte.gz
        root/FashionMNIST/raw/t10k-labels-idx1-ubyte.gz

    Images are ``(1, 28, 28)`` float32 in [0, 1]; labels int64 in 0..9 (T-shirt/top ... ankle boot).
    """

    dataset_class = FashionMNIST
    folder = "FashionMNIST/raw"
    source = "the four Fashion-MNIST idx .gz files (https://github.com/zalandoresearch/fashion-mnist; un-gzipped copies do too)"

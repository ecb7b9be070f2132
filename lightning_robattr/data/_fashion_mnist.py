"""``FashionMNISTData``: Fashion-MNIST (60,000 training and 10,000 test images) read from a local folder."""

from torchvision.datasets import FashionMNIST

from ._mnist import MNISTData


class FashionMNISTData(MNISTData):
    """Fashion-MNIST: the same four file names, layouts, format and options as :class:`MNISTData`.

    The files are read from ``root/FashionMNIST/raw`` (torchvision's layout) or directly from
    ``root`` (flat). With ``root`` left at ``None``, it is ``/usr/share/datasets/fashion-mnist``
    if that folder exists (where ``apt-get install dataset-fashion-mnist`` puts the four ``.gz``
    files, flat), else ``"data"``.

    Images are ``(1, 28, 28)`` float32 in [0, 1]; labels int64 in 0..9 (T-shirt/top ... ankle boot).
    """

    dataset_class = FashionMNIST
    folder = "FashionMNIST/raw"
    source = (
        "the four Fashion-MNIST idx .gz files (`apt-get install dataset-fashion-mnist` puts them in "
        "/usr/share/datasets/fashion-mnist, read when root is left unset; or from "
        "https://github.com/zalandoresearch/fashion-mnist; un-gzipped copies do too)"
    )
    system_root = "/usr/share/datasets/fashion-mnist"

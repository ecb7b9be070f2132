"""MNISTData, FashionMNISTData, CIFAR10Data on tiny files written in the real on-disk formats."""

import gzip
import pickle
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_robattr.data import CIFAR10Data, FashionMNISTData, MNISTData
from lightning_robattr.data._torchvision_data import DOWNLOAD_SOCKET_TIMEOUT_S

MNIST_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def random_split_arrays(shape: tuple[int, ...], sizes: dict[str, int], seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """uint8 images of ``shape`` and labels 0..9 (each class present) per part."""
    rng = np.random.default_rng(seed)
    return {
        part: (rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.permutation(np.arange(n) % 10).astype(np.uint8))
        for part, n in sizes.items()
    }


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx-ubyte format of LeCun's MNIST files: magic (0, 0, 0x08 = ubyte, ndim), big-endian sizes, data."""
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(folder: Path, *, gzipped: bool = True, seed: int = 0, train: int = 60) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write ``train`` training and 20 test digits in torchvision's ``<root>/MNIST/raw`` layout; return the arrays."""
    arrays = random_split_arrays((28, 28), {"train": train, "test": 20}, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for (part, kind), name in MNIST_NAMES.items():
        data = idx_bytes(arrays[part][0 if kind == "images" else 1])
        if gzipped:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(data)
        else:
            (folder / name).write_bytes(data)
    return arrays


def write_cifar10(folder: Path, *, per_batch: int = 10, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write CIFAR-10's python-pickle batches (5 training batches, a test batch, batches.meta); return HWC arrays."""
    arrays = random_split_arrays((32, 32, 3), {"train": 5 * per_batch, "test": 20}, seed)
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, images: np.ndarray, labels: np.ndarray) -> None:
        # Rows hold the red, then green, then blue 32x32 plane, each row-major.
        rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
        filenames = [f"{i}.png" for i in range(len(images))]
        batch = {"batch_label": name, "labels": labels.tolist(), "data": rows, "filenames": filenames}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))

    images, labels = arrays["train"]
    for b in range(5):
        part = slice(b * per_batch, (b + 1) * per_batch)
        dump(f"data_batch_{b + 1}", images[part], labels[part])
    dump("test_batch", *arrays["test"])
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = {"num_cases_per_batch": per_batch, "label_names": names, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return arrays


def as_pixels(image: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W)`` or ``(H, W, C)`` -> float ``(C, H, W)`` in [0, 1]: what the loaders must yield (up to round-off)."""
    tensor = torch.from_numpy(image).float() / 255
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any attempt to open a network connection."""

    def refuse(*args, **kwargs):
        raise AssertionError("a data loader tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


DATASETS = [
    pytest.param(MNISTData, "MNIST/raw", write_mnist, id="mnist"),
    pytest.param(FashionMNISTData, "FashionMNIST/raw", write_mnist, id="fashion_mnist"),
    pytest.param(CIFAR10Data, "cifar-10-batches-py", write_cifar10, id="cifar10"),
]


@pytest.mark.parametrize(("data_class", "folder", "write"), DATASETS)
def test_loads_every_part_with_exact_pixels_and_labels(tmp_path, no_network, data_class, folder, write):
    arrays = write(tmp_path / folder)
    data = data_class(str(tmp_path), val_size=10, random_crop_padding=0, horizontal_flip=False, batch_size=8)
    data.prepare_data()
    data.setup("fit")
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (len(arrays["train"][0]) - 10, 10, 20)
    for part, source in ((data.train_set, "train"), (data.val_set, "train"), (data.test_set, "test")):
        images, labels = arrays[source]
        for i, raw_index in enumerate(part.indices):
            image, label = part[i]
            assert image.dtype == torch.float32
            torch.testing.assert_close(image, as_pixels(images[raw_index]), rtol=0, atol=1e-6)
            assert label == labels[raw_index]


@pytest.mark.parametrize(("data_class", "folder", "write"), DATASETS)
def test_batches_are_float_pixels_and_int64_labels(tmp_path, data_class, folder, write):
    write(tmp_path / folder)
    data = data_class(str(tmp_path), val_size=10, batch_size=8)
    data.setup("fit")
    channels, side = (3, 32) if data_class is CIFAR10Data else (1, 28)
    for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader(), data.predict_dataloader()):
        x, y = next(iter(loader))
        assert x.shape == (8, channels, side, side) and x.dtype == torch.float32 and type(x) is torch.Tensor
        assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.9
        assert y.shape == (8,) and y.dtype == torch.int64


def test_mnist_reads_un_gzipped_files_too(tmp_path):
    arrays = write_mnist(tmp_path / "MNIST/raw", gzipped=False)
    data = MNISTData(str(tmp_path), val_size=0)
    data.setup()
    torch.testing.assert_close(data.test_set[3][0], as_pixels(arrays["test"][0][3]), rtol=0, atol=1e-6)


def test_mnist_reads_published_files_without_writing_next_to_them(tmp_path):
    write_mnist(tmp_path / "MNIST/raw")
    data = MNISTData(str(tmp_path), val_size=0)
    data.prepare_data()
    data.setup()
    assert sorted(p.name for p in (tmp_path / "MNIST/raw").iterdir()) == sorted(f"{name}.gz" for name in MNIST_NAMES.values())


@pytest.mark.parametrize(("data_class", "folder", "write"), DATASETS)
@pytest.mark.parametrize("hook", ["prepare_data", "setup"])
def test_missing_files_raise_at_once_naming_the_folder_without_network(tmp_path, no_network, data_class, folder, write, hook):
    data = data_class(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as error:
        getattr(data, hook)()
    message = str(error.value)
    assert str(tmp_path / "nowhere" / folder) in message
    assert all(name in message for name in data.files)
    assert "download: true" in message and "copy the files" in message


def test_missing_file_error_lists_only_the_missing_files(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing: data_batch_3\n"):
        CIFAR10Data(str(tmp_path)).setup()


def test_root_pointing_at_the_data_folder_itself_gets_a_hint(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    with pytest.raises(FileNotFoundError, match="set root to the folder that contains 'cifar-10-batches-py'"):
        CIFAR10Data(str(tmp_path / "cifar-10-batches-py")).setup()


def test_download_bounds_every_network_wait_and_restores_the_timeout(tmp_path, monkeypatch):
    seen = []

    def fake_download(dataset) -> None:
        seen.append(socket.getdefaulttimeout())
        write_mnist(tmp_path / "MNIST/raw", gzipped=False)

    monkeypatch.setattr(MNISTData.dataset_class, "download", fake_download)
    MNISTData(str(tmp_path), download=True).prepare_data()
    assert seen == [DOWNLOAD_SOCKET_TIMEOUT_S, DOWNLOAD_SOCKET_TIMEOUT_S]  # training and test set
    assert socket.getdefaulttimeout() is None


def test_download_is_skipped_when_files_are_present(tmp_path, monkeypatch):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10Data.dataset_class, "download", lambda self: pytest.fail("downloaded although the files exist"))
    CIFAR10Data(str(tmp_path), download=True).prepare_data()


def test_validation_split_is_class_stratified_disjoint_and_seeded(tmp_path):
    arrays = write_cifar10(tmp_path / "cifar-10-batches-py")
    labels = arrays["train"][1]

    def split(seed: int, val_size: int | float = 20) -> tuple[list[int], list[int]]:
        data = CIFAR10Data(str(tmp_path), val_size=val_size, seed=seed)
        data.setup()
        return data.train_set.indices, data.val_set.indices

    train, val = split(seed=0)
    assert sorted(train + val) == list(range(50))
    assert np.bincount(labels[val], minlength=10).tolist() == [2] * 10
    assert split(seed=0) == (train, val)
    assert split(seed=1)[1] != val
    assert len(split(seed=0, val_size=0.2)[1]) == 10


def test_val_size_zero_trains_on_everything_and_validates_on_test(tmp_path):
    write_mnist(tmp_path / "MNIST/raw")
    data = MNISTData(str(tmp_path), val_size=0)
    data.setup()
    assert len(data.train_set) == 60 and data.val_set is data.test_set


@pytest.mark.parametrize("val_size", [61, -1, 1.5])
def test_impossible_val_size_is_refused(tmp_path, val_size):
    write_mnist(tmp_path / "MNIST/raw")
    with pytest.raises(ValueError, match="val_size"):
        MNISTData(str(tmp_path), val_size=val_size).setup()


def test_cifar_augments_training_images_only(tmp_path):
    arrays = write_cifar10(tmp_path / "cifar-10-batches-py")
    data = CIFAR10Data(str(tmp_path), val_size=10)  # defaults: random 32x32 crop of the 4-pixel zero-padded image, random flip
    data.setup()
    torch.manual_seed(0)
    raw = torch.from_numpy(arrays["train"][0][data.train_set.indices[0]]).permute(2, 0, 1)
    padded = torch.nn.functional.pad(raw, (4, 4, 4, 4))
    crops = [padded[:, i : i + 32, j : j + 32] for i in range(9) for j in range(9)]
    candidates = crops + [crop.flip(-1) for crop in crops]
    draws = [(data.train_set[0][0] * 255).round().to(torch.uint8) for _ in range(20)]
    assert all(any(torch.equal(draw, c) for c in candidates) for draw in draws)
    assert sum(not torch.equal(draw, raw) for draw in draws) >= 15
    for part, source in ((data.val_set, "train"), (data.test_set, "test")):
        first = part[0][0]
        assert all(torch.equal(part[0][0], first) for _ in range(5))
        torch.testing.assert_close(first, as_pixels(arrays[source][0][part.indices[0]]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("regime", ["madry", "trades", "int", "int_adv"])
def test_each_full_mnist_preset_trains_from_mnist_files(tmp_path, no_network, monkeypatch, regime):
    from lightning_robattr.cli import main

    write_mnist(tmp_path / "data" / "MNIST" / "raw")
    monkeypatch.chdir(tmp_path)
    config = Path(__file__).resolve().parents[1] / "configs" / "mnist" / f"{regime}.yaml"
    short = ["--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
             "--data.init_args.val_size", "10", "--data.init_args.batch_size", "5", "--model.init_args.steps", "2",
             "--trainer.callbacks", "[]"]
    cli = main(["fit", "-c", str(config), *short])
    assert cli.trainer.global_step == 2 and type(cli.datamodule).__name__ == "MNISTData"
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])


@pytest.mark.parametrize("regime", ["natural", "madry", "trades", "ssr", "int", "ig_norm"])
def test_each_fashion_mnist_preset_trains_from_the_flat_folder_the_os_package_installs(tmp_path, no_network, regime):
    from lightning_robattr.cli import main

    write_mnist(tmp_path)  # the four idx .gz files, flat, as /usr/share/datasets/fashion-mnist holds them
    config = Path(__file__).resolve().parents[1] / "configs" / "fashion_mnist" / f"{regime}.yaml"
    short = ["--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
             "--data.init_args.root", str(tmp_path), "--data.init_args.val_size", "10", "--data.init_args.batch_size", "5",
             "--trainer.callbacks", "[]", "--trainer.default_root_dir", str(tmp_path / "runs")]
    adversarial = regime in ("madry", "trades", "int", "ig_norm")
    short += ["--model.init_args.steps", "2"] if adversarial else []
    cli = main(["fit", "-c", str(config), *short])
    assert cli.trainer.global_step == 2 and type(cli.datamodule).__name__ == "FashionMNISTData"
    if adversarial:
        assert cli.model.hparams["eps"] == 0.1  # the usual Fashion-MNIST budget
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])


MNIST_FAMILY = [
    pytest.param(MNISTData, "MNIST/raw", id="mnist"),
    pytest.param(FashionMNISTData, "FashionMNIST/raw", id="fashion_mnist"),
]


def every_example(data: MNISTData) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Images ``(N, 1, 28, 28)`` and labels ``(N,)`` of the train, val and test parts, in order."""
    return [
        tuple(torch.stack([torch.as_tensor(v) for v in column]) for column in zip(*part))
        for part in (data.train_set, data.val_set, data.test_set)
    ]


@pytest.mark.parametrize(("data_class", "folder"), MNIST_FAMILY)
@pytest.mark.parametrize("gzipped", [True, False])
def test_flat_folder_reads_the_same_examples_as_torchvision_layout(tmp_path, no_network, data_class, folder, gzipped):
    write_mnist(tmp_path / "nested" / folder, gzipped=gzipped)
    write_mnist(tmp_path / "flat", gzipped=gzipped)
    nested, flat = data_class(str(tmp_path / "nested"), val_size=10), data_class(str(tmp_path / "flat"), val_size=10)
    for data in (nested, flat):
        data.prepare_data()
        data.setup("fit")
    assert flat.data_dir == tmp_path / "flat" and nested.data_dir == tmp_path / "nested" / folder
    for (nested_images, nested_labels), (flat_images, flat_labels) in zip(every_example(nested), every_example(flat)):
        assert torch.equal(nested_images, flat_images) and torch.equal(nested_labels, flat_labels)


def test_flat_folder_is_only_read(tmp_path):
    arrays = write_mnist(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    data = FashionMNISTData(str(tmp_path), val_size=0)
    data.setup()
    torch.testing.assert_close(data.test_set[3][0], as_pixels(arrays["test"][0][3]), rtol=0, atol=1e-6)
    assert data.test_set[3][1] == arrays["test"][1][3]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("data_class", "folder"), MNIST_FAMILY)
def test_missing_files_error_lists_both_layouts(tmp_path, no_network, data_class, folder):
    with pytest.raises(FileNotFoundError) as error:
        data_class(str(tmp_path)).setup()
    first_line = str(error.value).splitlines()[0]
    assert first_line == (
        f"{data_class.__name__}: dataset files not found in {tmp_path / folder} (torchvision's layout) "
        f"or {tmp_path} (flat: the files directly in root)"
    )


def test_missing_files_error_lists_what_the_most_complete_layout_lacks(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"\nmissing: t10k-labels-idx1-ubyte.gz\n"):
        MNISTData(str(tmp_path)).setup()


def test_fashion_mnist_default_root_is_the_os_package_folder_when_present(tmp_path, monkeypatch):
    arrays = write_mnist(tmp_path / "fashion-mnist")
    monkeypatch.setattr(FashionMNISTData, "system_root", str(tmp_path / "fashion-mnist"))
    data = FashionMNISTData(val_size=0)
    data.setup()
    assert data.root == str(tmp_path / "fashion-mnist") and data.hparams.root == data.root
    assert data.test_set[0][1] == arrays["test"][1][0]
    monkeypatch.setattr(FashionMNISTData, "system_root", str(tmp_path / "not-installed"))
    assert FashionMNISTData().root == "data" and MNISTData().root == "data"


@pytest.mark.skipif(
    not Path(FashionMNISTData.system_root).is_dir(), reason="the OS package is absent: apt-get install dataset-fashion-mnist"
)
def test_fashion_mnist_reads_the_os_package_with_root_unset():
    data = FashionMNISTData(val_size=0)
    data.setup()
    assert (len(data.train_set), len(data.test_set)) == (60_000, 10_000)
    assert data.largest_label() == 9

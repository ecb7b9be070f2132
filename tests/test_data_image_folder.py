"""ImageFolderData on folders of PNG files written by the tests."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_robattr.data import ImageFolderData

CLASSES = ("daisy", "rose", "tulip")


def write_pngs(
    folder: Path, per_class: dict[str, int], *, size: tuple[int, int] = (12, 10), seed: int = 0, grey: bool = False
) -> dict[Path, np.ndarray]:
    """Write random RGB (or grey) PNGs ``folder/<class>/<i>.png`` of ``size`` (height, width); return path -> HWC uint8."""
    rng = np.random.default_rng(seed)
    written = {}
    for name, count in per_class.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            if grey:
                pixels = np.repeat(pixels[..., :1], 3, axis=2)
            path = folder / name / f"{i}.png"
            Image.fromarray(pixels[..., 0] if grey else pixels).save(path)
            written[path] = pixels
    return written


def center_crop_pixels(pixels: np.ndarray, side: int) -> torch.Tensor:
    """The oracle for evaluation images when no resize is needed: the central ``side`` x ``side`` crop, in [0, 1]."""
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    return torch.from_numpy(pixels[top : top + side, left : left + side]).permute(2, 0, 1).float() / 255


def labels_of(dataset) -> list[int]:
    return [dataset[i][1] for i in range(len(dataset))]


def test_train_and_val_folders_give_exact_centre_crops_and_folder_labels(tmp_path):
    written = write_pngs(tmp_path / "train", dict.fromkeys(CLASSES, 4))
    written |= write_pngs(tmp_path / "val", dict.fromkeys(CLASSES, 2), seed=1)
    data = ImageFolderData(str(tmp_path), image_size=10, resize_size=10, train_crop="center", horizontal_flip=False, batch_size=4)
    data.setup()
    assert data.classes == list(CLASSES)
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (12, 6, 6)
    for part in (data.train_set, data.val_set, data.test_set):
        for i, raw_index in enumerate(part.indices):
            path = Path(part.dataset.samples[raw_index][0])
            image, label = part[i]
            assert label == CLASSES.index(path.parent.name)
            torch.testing.assert_close(image, center_crop_pixels(written[path], 10), rtol=0, atol=1e-6)
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (4, 3, 10, 10) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_train_val_test_folders_are_used_as_given(tmp_path):
    write_pngs(tmp_path / "train", dict.fromkeys(CLASSES, 3))
    write_pngs(tmp_path / "val", dict.fromkeys(CLASSES, 2))
    write_pngs(tmp_path / "test", dict.fromkeys(CLASSES, 1))
    data = ImageFolderData(str(tmp_path), image_size=8)
    data.setup()
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (9, 6, 3)
    assert Path(data.test_set.dataset.root).name == "test" and Path(data.val_set.dataset.root).name == "val"


def test_train_and_test_folders_validate_on_test(tmp_path):
    write_pngs(tmp_path / "train", dict.fromkeys(CLASSES, 3))
    write_pngs(tmp_path / "test", dict.fromkeys(CLASSES, 1))
    data = ImageFolderData(str(tmp_path), image_size=8)
    data.setup()
    assert data.val_set.dataset is data.test_set.dataset and Path(data.test_set.dataset.root).name == "test"


def test_single_folder_is_split_stratified_disjoint_and_seeded(tmp_path):
    write_pngs(tmp_path, {"a": 20, "b": 10, "c": 10}, size=(8, 8))

    def parts(seed: int) -> list[list[int]]:
        data = ImageFolderData(str(tmp_path), image_size=8, val_size=0.25, test_size=8, seed=seed)
        data.setup()
        return [data.train_set.indices, data.val_set.indices, data.test_set.indices]

    train, val, test = parts(seed=0)
    assert (len(train), len(val), len(test)) == (22, 10, 8)
    assert sorted(train + val + test) == list(range(40))
    targets = np.array([0] * 20 + [1] * 10 + [2] * 10)  # files are listed class by class
    for part in (train, val, test):
        assert np.abs(np.bincount(targets[part], minlength=3) - len(part) * np.array([0.5, 0.25, 0.25])).max() <= 1
    assert parts(seed=0) == [train, val, test]
    assert parts(seed=1) != [train, val, test]


def test_training_crops_and_flips_are_random_evaluation_is_not(tmp_path):
    write_pngs(tmp_path / "train", dict.fromkeys(CLASSES, 1), size=(16, 16))
    write_pngs(tmp_path / "val", dict.fromkeys(CLASSES, 1), size=(16, 16))
    torch.manual_seed(0)
    for crop in ("random_resized", "random"):
        data = ImageFolderData(str(tmp_path), image_size=12, resize_size=16, train_crop=crop)
        data.setup()
        draws = [data.train_set[0][0] for _ in range(10)]
        assert all(d.shape == (3, 12, 12) for d in draws)
        assert len({d.numpy().tobytes() for d in draws}) > 1
        assert len({data.val_set[0][0].numpy().tobytes() for _ in range(10)}) == 1


def test_resize_then_centre_crop_sets_the_image_size(tmp_path):
    write_pngs(tmp_path / "train", dict.fromkeys(CLASSES, 1), size=(40, 60))
    write_pngs(tmp_path / "val", dict.fromkeys(CLASSES, 1), size=(40, 60))
    data = ImageFolderData(str(tmp_path), image_size=16, train_crop="random")
    data.setup()
    assert data.resize_size == 18 and data.val_set[0][0].shape == data.train_set[0][0].shape == (3, 16, 16)


def test_grey_images_become_rgb(tmp_path):
    written = write_pngs(tmp_path / "train", {"a": 1, "b": 1}, size=(8, 8), grey=True)
    write_pngs(tmp_path / "val", {"a": 1, "b": 1}, size=(8, 8), grey=True)
    data = ImageFolderData(str(tmp_path), image_size=8, resize_size=8, train_crop="center", horizontal_flip=False)
    data.setup()
    image, _ = data.train_set[0]
    path = Path(data.train_set.dataset.samples[0][0])
    torch.testing.assert_close(image, center_crop_pixels(written[path], 8), rtol=0, atol=1e-6)


def test_missing_root_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'flowers'} does not exist"):
        ImageFolderData(str(tmp_path / "flowers")).setup()


def test_empty_root_names_the_path_and_the_layouts(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}.*\n.*root/train/<class>/<image>"):
        ImageFolderData(str(tmp_path)).setup()


def test_class_folders_without_images_name_the_path(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    write_pngs(tmp_path / "val", {"a": 1})
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "train")):
        ImageFolderData(str(tmp_path)).setup()


def test_train_folder_without_val_or_test_is_refused(tmp_path):
    write_pngs(tmp_path / "train", {"a": 1})
    with pytest.raises(FileNotFoundError, match="neither"):
        ImageFolderData(str(tmp_path)).setup()


def test_mismatched_class_folders_are_refused(tmp_path):
    write_pngs(tmp_path / "train", {"a": 1, "b": 1})
    write_pngs(tmp_path / "val", {"a": 1, "c": 1})
    with pytest.raises(ValueError, match="class folders"):
        ImageFolderData(str(tmp_path)).setup()


@pytest.mark.parametrize(("options", "message"), [({"image_size": 300}, "resize_size"), ({"train_crop": "corner"}, "train_crop")])
def test_bad_crop_options_are_refused(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        ImageFolderData(str(tmp_path), **{"resize_size": 256, **options})

"""SyntheticData: seeded, shaped as asked, class-balanced and learnable."""

import pytest
import torch

from lightning_robattr.data import SyntheticData


@pytest.mark.parametrize(("num_classes", "shape"), [(10, (1, 28, 28)), (3, (3, 32, 32)), (5, (2, 9, 13))])
def test_parts_have_the_requested_shape_range_and_balance(num_classes, shape):
    data = SyntheticData(num_classes=num_classes, image_shape=shape, train_size=40, val_size=10, test_size=15, batch_size=5)
    data.setup()
    for part, size in ((data.train_set, 40), (data.val_set, 10), (data.test_set, 15)):
        x, y = part.tensors
        assert x.shape == (size, *shape) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        assert y.dtype == torch.int64 and y.bincount(minlength=num_classes).max() - y.bincount(minlength=num_classes).min() <= 1
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (5, *shape) and y.shape == (5,)


def test_same_seed_same_data_other_seed_other_data():
    def train_images(seed: int) -> torch.Tensor:
        data = SyntheticData(train_size=20, seed=seed)
        data.setup()
        return data.train_set.tensors[0]

    assert torch.equal(train_images(0), train_images(0))
    assert not torch.equal(train_images(0), train_images(1))


def test_nearest_class_mean_learns_it_but_examples_are_noisy():
    data = SyntheticData(num_classes=10, image_shape=(1, 28, 28), train_size=200, test_size=200)
    data.setup()
    x, y = data.train_set.tensors
    means = torch.stack([x[y == c].mean(0) for c in range(10)]).flatten(1)
    x_test, y_test = data.test_set.tensors
    predicted = torch.cdist(x_test.flatten(1), means).argmin(1)
    assert (predicted == y_test).float().mean() > 0.95
    assert (x[y == 0] - x[y == 0].mean(0)).std() > 0.1


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="num_classes"):
        SyntheticData(num_classes=1)

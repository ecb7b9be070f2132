"""RTS: the masking network, its loss terms by hand, training from the packaged config, and its use as an interpreter."""

import pytest
import torch

from lightning_robattr.attributions import get_attribution, rts
from lightning_robattr.cli import main
from lightning_robattr.losses._rts import margin, mask_smoothness
from lightning_robattr.models import RTSNet


def test_smoothness_and_margin_by_hand():
    m = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]]])
    rows = 0.5**2 + 0.5**2  # column 1 going down: 1 -> 0.5 -> 0
    cols = 1 + 1 + 0.5**2 + 0.5**2  # rows: 0 -> 1 -> 0 and 0 -> 0.5 -> 0
    border = 1.0  # only the top-middle cell of the outer ring is non-zero
    torch.testing.assert_close(mask_smoothness(m), torch.tensor([(rows + cols + 0.3 * border) / 2]))
    logits = torch.tensor([[2.0, 5.0, 1.0], [0.0, -1.0, 3.0]])
    torch.testing.assert_close(margin(logits, torch.tensor([1, 0])), torch.tensor([3.0, -3.0]))


@pytest.fixture(scope="module")
def rts_checkpoint(trained_small, tmp_path_factory):
    """An RTSModule trained 2 epochs through the CLI from configs/rts.yaml on the naturally trained Small."""
    folder = tmp_path_factory.mktemp("rts")
    classifier = folder / "classifier.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in trained_small.state_dict().items()}}, classifier)
    cli = main(["fit", "-c", "configs/rts.yaml", f"--model.init_args.classifier_checkpoint={classifier}", "--trainer.max_epochs=2",
                f"--trainer.default_root_dir={folder}", "--trainer.enable_progress_bar=false", "--trainer.limit_val_batches=2"])
    assert cli.trainer.callback_metrics["val/acc"] > 0.9  # the frozen classifier, loaded from the checkpoint
    return next(folder.rglob("last.ckpt"))


def test_trained_masks_cover_the_digit_not_the_background(rts_checkpoint, mnist5k):
    net = RTSNet.from_checkpoint(rts_checkpoint)
    x, y = mnist5k["test"]
    x, y = x[:64], y[:64]
    with torch.no_grad():
        masks = torch.nn.functional.interpolate(net(x, y)[:, None], size=(28, 28), mode="bilinear")[:, 0]
    ink = x[:, 0] > 0.5
    on_digit = (masks * ink).sum() / ink.sum()
    off_digit = (masks * ~ink).sum() / (~ink).sum()
    assert on_digit > off_digit + 0.2  # measured 0.72 against 0.28


def test_the_class_head_is_trained_with_the_masks(rts_checkpoint, mnist5k):
    net = RTSNet.from_checkpoint(rts_checkpoint)
    x, y = mnist5k["test"]
    with torch.no_grad():
        accuracy = (net.class_logits(x[:200]).argmax(1) == y[:200]).float().mean()
    assert accuracy > 0.5  # measured 0.71 after these 2 epochs (0.31 with class_coeff 1); chance is 0.1


def test_rts_reads_a_checkpoint_path_as_the_registry_option(rts_checkpoint, trained_small):
    x = torch.rand(3, 1, 28, 28)
    from_path = get_attribution("rts", saliency_net=str(rts_checkpoint))(trained_small, x, torch.tensor([1, 2, 3]))
    direct = rts(trained_small, x, torch.tensor([1, 2, 3]), saliency_net=RTSNet.from_checkpoint(rts_checkpoint))
    torch.testing.assert_close(from_path, direct)
    assert from_path.shape == (3, 14, 14) and ((0 <= from_path) & (from_path <= 1)).all()
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(rts(trained_small, x, None, saliency_net=str(rts_checkpoint), create_graph=True).sum(), x)
    assert grad.abs().sum() > 0


def test_a_checkpoint_without_a_masking_network_is_refused(tmp_path):
    path = tmp_path / "natural.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}}, path)
    with pytest.raises(ValueError, match="not an RTSModule checkpoint"):
        RTSNet.from_checkpoint(path)


def test_a_masking_network_without_its_class_head_is_refused(tmp_path):
    path = tmp_path / "old_rts.ckpt"
    state = {f"saliency_net.{k}": v for k, v in RTSNet(1, 10).state_dict().items() if not k.startswith("class_head")}
    torch.save({"state_dict": state, "hyper_parameters": {"saliency_net": {"in_channels": 1, "num_classes": 10}}}, path)
    with pytest.raises(ValueError, match="class head"):
        RTSNet.from_checkpoint(path)

"""Every bad input of docs/errors.md gets its documented exception, with a message naming the argument and the fix.

Each row of the table in docs/errors.md ends with the id of its case here; a test checks both lists agree.
"""

import gzip
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import torchvision
from pytorch_lightning import LightningDataModule, Trainer
from torch.overrides import TorchFunctionMode

from lightning_robattr.attacks import (
    ISAConfig,
    PGDConfig,
    adv2,
    adversarial_patch,
    attribution_attack,
    autoattack,
    patch_attack,
    pgd,
    transfer_evaluation,
)
from lightning_robattr.attacks._explanation.maps import manipulate_targets
from lightning_robattr.attributions import cam, get_attribution, grad_cam, integrated_gradients, saliency, smooth_grad
from lightning_robattr.callbacks import (
    AAIEval,
    AttributionAttackEval,
    DetectionAttacks,
    EvaluationSchedule,
    ISAEval,
    MapScoring,
    PGDEval,
)
from lightning_robattr.cli import main
from lightning_robattr.data import ImageFolderData, MNISTData
from lightning_robattr.detection import (
    CausalDetector,
    EnsembleDetector,
    causal_robustness,
    ensemble_agreement,
    roc_auc,
    tpr_at_fpr,
)
from lightning_robattr.losses import ssr_loss
from lightning_robattr.losses._hessian import top_hessian_eigenvalue
from lightning_robattr.metrics.functional import spearman
from lightning_robattr.models import CAMAdapter, RTSNet, Small
from lightning_robattr.regimes import IGNormModule, IntModule, NaturalModule
from lightning_robattr.reproduce import reproduce

ROOT = Path(__file__).resolve().parents[1]
NATURAL = str(ROOT / "configs" / "natural.yaml")
torch.manual_seed(0)
NET = Small().eval()  # 1 channel, 10 classes
Y = torch.tensor([1, 2])


def images(value: float | None = None, *, shape: tuple[int, ...] = (2, 1, 28, 28)) -> torch.Tensor:
    """Random [0, 1] images of ``shape``; with ``value``, the first pixel set to it."""
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    if value is not None:
        x.view(-1)[0] = value
    return x


def resnet() -> torch.nn.Module:
    """A torchvision ResNet-18 for 10 classes: a GAP + linear net without the CAM interface."""
    return torchvision.models.resnet18(num_classes=10).eval()


def nan_net() -> Small:
    """A net whose training diverged: every classifier weight nan."""
    net = Small()
    with torch.no_grad():
        net.classifier.weight.fill_(float("nan"))
    return net


class TupleNet(torch.nn.Module):
    """A net returning ``(logits, features)``, as many detection or distillation models do."""

    def __init__(self) -> None:
        super().__init__()
        self.net = NET

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(x), self.net.features(x)


def image_folder_with_a_corrupt_file(tmp: Path) -> None:
    """Load every training image of a folder whose one file is not an image."""
    from PIL import Image

    for name in ("a", "b"):
        (tmp / name).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp / name / f"{i}.png")
    (tmp / "b" / "broken.png").write_bytes(b"this is not a PNG file")
    data = ImageFolderData(str(tmp), image_size=8, resize_size=8, val_size=0, test_size=0, batch_size=2)
    data.setup("fit")
    for _ in data.train_dataloader():
        pass


def image_folder(folder: Path, *, classes: int, per_class: int) -> Path:
    """Write ``per_class`` 8x8 PNGs into each of ``classes`` class folders under ``folder``; return ``folder``."""
    from PIL import Image

    for c in range(classes):
        (folder / f"class{c:02d}").mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (i * 20, c * 20, 0)).save(folder / f"class{c:02d}" / f"{i}.png")
    return folder


def idx_bytes(array: np.ndarray) -> bytes:
    """uint8 ``array`` in LeCun's idx format: magic (0, 0, 0x08 = ubyte, ndim), big-endian sizes, the bytes."""
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def mnist_folder(tmp: Path, train_labels: tuple[int, ...] = tuple(range(10)) * 2) -> Path:
    """Write MNIST's four idx files, un-gzipped, under ``tmp/MNIST/raw`` (random digits, 10 test ones); return that folder."""
    folder = tmp / "MNIST" / "raw"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, labels in (("train", train_labels), ("t10k", range(10))):
        labels = np.array(labels, np.uint8)
        (folder / f"{part}-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 256, (len(labels), 28, 28), np.uint8)))
        (folder / f"{part}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return folder


def setup_mnist(tmp: Path) -> None:
    """Set up ``MNISTData`` on ``tmp``; a ``*.partial`` file left behind fails the test."""
    try:
        MNISTData(str(tmp), val_size=0).setup("fit")
    finally:
        assert not list(tmp.rglob("*.partial"))


def mnist_with_a_truncated_file(tmp: Path) -> None:
    """Set up MNIST whose training images file lost its end."""
    images = mnist_folder(tmp) / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    setup_mnist(tmp)


def mnist_gz_that_is_not_gzip(tmp: Path) -> None:
    """Set up MNIST whose training labels file is named ``.gz`` but was never gzipped."""
    labels = mnist_folder(tmp) / "train-labels-idx1-ubyte"
    labels.rename(labels.with_name(f"{labels.name}.gz"))
    setup_mnist(tmp)


def mnist_gz_cut_short(tmp: Path) -> None:
    """Set up MNIST whose gzipped training images lost their second half (an interrupted download)."""
    images = mnist_folder(tmp) / "train-images-idx3-ubyte"
    packed = gzip.compress(images.read_bytes())
    images.with_name(f"{images.name}.gz").write_bytes(packed[: len(packed) // 2])
    images.unlink()
    setup_mnist(tmp)


def mnist_with_fewer_labels_than_images(tmp: Path) -> None:
    """Set up MNIST with 200 training images but 150 training labels."""
    folder = mnist_folder(tmp, tuple(i % 10 for i in range(200)))
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(150, dtype=np.uint8) % 10))
    setup_mnist(tmp)


def fit_small(tmp: Path, data: LightningDataModule, *, in_channels: int) -> None:
    """Natural training of a 10-class ``Small`` on the data module ``data``, on the CPU, writing only under ``tmp``."""
    trainer = Trainer(
        default_root_dir=tmp, accelerator="cpu", max_epochs=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(NaturalModule(Small(in_channels=in_channels)), datamodule=data)


def fit_on_twelve_class_folders(tmp: Path) -> None:
    """Train the 10-class net on an image folder of 12 class folders."""
    root = image_folder(tmp / "images", classes=12, per_class=2)
    fit_small(tmp, ImageFolderData(str(root), image_size=8, resize_size=8, val_size=0, test_size=0), in_channels=3)


def fit_on_mnist_with_label_12(tmp: Path) -> None:
    """Train the 10-class net on MNIST files whose labels file holds a 12."""
    mnist_folder(tmp, (*range(10), 12))
    fit_small(tmp, MNISTData(str(tmp), val_size=0), in_channels=1)


def reproduce_without_autoattack(tmp: Path) -> None:
    """The Int reproduction as on a machine without ``pyautoattack``: it stops before training anything."""
    with mock.patch.dict(sys.modules, {"pyautoattack": None}):
        reproduce("int", out=tmp, budget="smoke")


def autoattack_without_its_extra(_: Path) -> None:
    """AutoAttack as on a machine where ``pyautoattack`` was never installed."""
    with mock.patch.dict(sys.modules, {"pyautoattack": None}):
        autoattack(NET, images(), Y, eps=0.3)


def cli_with_callback(tmp: Path, init_args: str) -> None:
    """Build (not run) the natural config with an ``AttributionAttackEval`` of these init args."""
    fragment = tmp / "callbacks.yaml"
    fragment.write_text(
        "trainer:\n  callbacks:\n    - class_path: lightning_robattr.callbacks.AttributionAttackEval\n"
        f"      init_args: {init_args}\n"
    )
    main(["-c", NATURAL, "-c", str(fragment)], run=False)


def backbone_and_head() -> torch.nn.Module:
    """A user's LightningModule with a feature extractor in ``self.net`` and its head beside it."""
    from test_callbacks_plugged_in import BackboneAndHead

    return BackboneAndHead(NET).eval()


def written(path: Path, text: str) -> Path:
    """``path`` after writing ``text`` to it."""
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Case:
    call: Callable[[Path], object]  # gets a fresh temporary folder
    error: type[BaseException]
    argument: str  # the message names the argument (or the file) ...
    fix: str  # ... and says what to do


CASES: dict[str, Case] = {
    # images
    "nan_pgd": Case(
        lambda _: pgd(NET, images(float("nan")), Y, eps=0.1, steps=1), ValueError, "x holds 1 non-finite", "drop those images"
    ),
    "inf_ig": Case(
        lambda _: integrated_gradients(NET, images(float("inf")), steps=2), ValueError, "x holds 1 non-finite", "nan_to_num"
    ),
    "nan_cam": Case(lambda _: cam(NET, images(float("nan"))), ValueError, "x holds 1 non-finite", "drop those images"),
    "nan_attribution_attack": Case(
        lambda _: attribution_attack(NET, images(float("nan")), eps=0.1, steps=1), ValueError, "x holds", "drop those images"
    ),
    "nan_x_adv": Case(
        lambda _: transfer_evaluation(NET, images(), images(float("nan")), methods=["saliency"]),
        ValueError, "x_adv holds", "drop those images",
    ),
    "uint8_cam": Case(
        lambda _: cam(NET, (images() * 255).to(torch.uint8)), TypeError, "x must hold float pixels", ".float() / 255"
    ),
    "range_255_saliency": Case(
        lambda _: saliency(NET, images() * 255), ValueError, "x must lie in [0, 1]", "divide 8-bit images by 255"
    ),
    "range_normalised_pgd": Case(
        lambda _: pgd(NET, (images() - 0.5) / 0.25, Y, eps=0.1), ValueError, "x must lie in [0, 1]", "normalise inside the model"
    ),
    "float64_pgd": Case(
        lambda _: pgd(NET, images().double(), Y, eps=0.1), TypeError, "x is torch.float64", "x.to(torch.float32)"
    ),
    "channels_saliency": Case(
        lambda _: saliency(NET, images(shape=(2, 3, 28, 28))),
        ValueError, "x has 3 channels", "RGB to grey: x.mean(1, keepdim=True)",
    ),
    "empty_batch_pgd": Case(
        lambda _: pgd(NET, images(shape=(0, 1, 28, 28)), Y[:0], eps=0.1), ValueError, "x is an empty batch", "at least one image"
    ),
    "single_image_ig": Case(lambda _: integrated_gradients(NET, images()[0]), ValueError, "x must be a batch", "x.unsqueeze(0)"),
    "numpy_saliency": Case(lambda _: saliency(NET, images().numpy()), TypeError, "x must be a tensor", "torch.as_tensor"),
    # labels and targets
    "target_negative_cam": Case(
        lambda _: cam(NET, images(), -1), ValueError, "target holds the class index -1", "the last class is 9"
    ),
    "target_float_saliency": Case(
        lambda _: saliency(NET, images(), 1.7), TypeError, "target must be integer class indices", "long tensor"
    ),
    "target_bool_saliency": Case(
        lambda _: saliency(NET, images(), torch.tensor([True, False])), TypeError, "target must be integer", "long tensor"
    ),
    "target_too_large_gradcam": Case(
        lambda _: grad_cam(NET, images(), torch.tensor([12, 1])), ValueError, "target holds the class index 12", "labels in 0..9"
    ),
    "labels_too_large_pgd": Case(
        lambda _: pgd(NET, images(), torch.tensor([1, 10]), eps=0.1), ValueError, "y holds the class index 10", "labels in 0..9"
    ),
    "labels_float_pgd": Case(lambda _: pgd(NET, images(), Y.float(), eps=0.1), TypeError, "y must be integer", "long tensor"),
    "labels_count_pgd": Case(
        lambda _: pgd(NET, images(), Y[:1], eps=0.1), ValueError, "y must hold one class label", "as many labels"
    ),
    "labels_missing_pgd": Case(lambda _: pgd(NET, images(), None, eps=0.1), TypeError, "y must be integer", "long tensor"),
    # the model
    "cam_without_cam_net": Case(
        lambda _: cam(resnet(), images(shape=(1, 3, 32, 32))), TypeError, "model ResNet has no features", "CAMAdapter"
    ),
    "gradcam_default_layer_without_cam_net": Case(
        lambda _: grad_cam(resnet(), images(shape=(1, 3, 32, 32))), TypeError, "layer=None", "CAMAdapter"
    ),
    "cam_adapter_head_not_linear": Case(
        lambda _: CAMAdapter(resnet(), feature_layer="layer4", classifier="avgpool"),
        TypeError, "classifier 'avgpool'", "nn.Linear",
    ),
    "cam_adapter_layer_unknown": Case(
        lambda _: CAMAdapter(resnet(), feature_layer="layer5", classifier="fc"),
        AttributeError, "feature_layer 'layer5'", "e.g. one of",
    ),
    "nonfinite_logits_saliency": Case(
        lambda _: saliency(nan_net(), images()), ValueError, "holds inf or nan for 2 of the 2 images", "diverged weights"
    ),
    "nonfinite_logits_attribution_attack": Case(
        lambda _: attribution_attack(nan_net(), images(), eps=0.1, steps=1), ValueError, "holds inf or nan", "retrain or fix it"
    ),
    "nonfinite_logits_causal_robustness": Case(
        lambda _: causal_robustness(nan_net(), images(), ig_steps=2), ValueError, "holds inf or nan", "diverged weights"
    ),
    "tuple_output_saliency": Case(
        lambda _: saliency(TupleNet(), images()), TypeError, "the model returned a tuple", "returns model(x)[0]"
    ),
    # attack and attribution hyperparameters
    "eps_negative_pgd": Case(
        lambda _: pgd(NET, images(), Y, eps=-0.1), ValueError, "eps must be", "pixel units of [0, 1] images"
    ),
    "eps_above_one_pgd": Case(lambda _: pgd(NET, images(), Y, eps=8), ValueError, "L-inf eps must lie in [0, 1]", "8/255"),
    "steps_zero_pgd": Case(lambda _: pgd(NET, images(), Y, eps=0.1, steps=0), ValueError, "steps must be", "integer >= 1"),
    "norm_unknown_pgd": Case(lambda _: pgd(NET, images(), Y, eps=0.1, norm="l3"), ValueError, "unknown norm 'l3'", "linf, l2"),
    "loss_unknown_pgd": Case(lambda _: pgd(NET, images(), Y, eps=0.1, loss="hinge"), ValueError, "unknown loss 'hinge'", "must be one of ce, cw"),
    "restarts_without_random_start": Case(
        lambda _: pgd(NET, images(), Y, eps=0.1, restarts=2, random_start=False), ValueError, "restarts > 1", "random_start=True"
    ),
    "objective_unknown": Case(
        lambda _: attribution_attack(NET, images(), eps=0.1, objective="top_k"),
        ValueError, "unknown objective", "topk, mass_center",
    ),
    "attribution_unknown": Case(
        lambda _: get_attribution("lime"), ValueError, "unknown attribution 'lime'", "saliency, grad_x_input"
    ),
    "attribution_option_unknown": Case(
        lambda _: get_attribution("ig", stpes=8), ValueError, "unknown option(s) ['stpes']", "baseline, steps"
    ),
    "score_unknown": Case(lambda _: saliency(NET, images(), score="proba"), ValueError, "unknown score 'proba'", "logit, prob"),
    "samples_zero_smoothgrad": Case(
        lambda _: smooth_grad(NET, images(), samples=0), ValueError, "samples must be an integer >= 1, got 0", "e.g. samples=50"
    ),
    "map_shapes_differ_spearman": Case(
        lambda _: spearman(images(), images(shape=(2, 7, 7))),
        ValueError, "got a (2, 1, 28, 28) and b (2, 7, 7)", "upsample the coarser",
    ),
    "inference_mode": Case(
        lambda _: torch.inference_mode()(saliency)(NET, images()), RuntimeError, "torch.inference_mode", "inference_mode=False"
    ),
    # evaluation callbacks, checked at construction
    "callback_method_unknown": Case(
        lambda _: AttributionAttackEval(methods=["saliencyy"]),
        ValueError, "unknown methods entry 'saliencyy'", "saliency, grad_x_input",
    ),
    "callback_objective_unknown": Case(
        lambda _: AttributionAttackEval(objectives=["top_k"]), ValueError, "unknown objective 'top_k'", "topk, mass_center"
    ),
    "callback_metric_unknown": Case(
        lambda _: AttributionAttackEval(metrics=["spearmann"]), ValueError, "metrics must be", "'spearman'"
    ),
    "callback_method_option_unknown": Case(
        lambda _: AttributionAttackEval(methods=["ig"], method_options={"ig": {"stpes": 8}}), ValueError, "['stpes']", "steps"
    ),
    "attack_option_unknown": Case(
        lambda _: attribution_attack(NET, images(), eps=0.1, contraint="rescale"), TypeError, "no option 'contraint'", "'constraint'"
    ),
    "callback_norm_unknown": Case(lambda _: PGDEval(attack=PGDConfig(norm='l3')), ValueError, "unknown norm 'l3'", "linf, l2"),
    "callback_eps_in_grey_levels": Case(
        lambda _: PGDEval(eps=[8]), ValueError, "L-inf eps must lie in [0, 1]", "8/255"
    ),
    "callback_eps_not_a_budget": Case(
        lambda _: AttributionAttackEval(eps=["8 / 255 px"]), ValueError, "'8 / 255 px' is not a budget", "'8/255'"
    ),
    "callback_reference_unknown": Case(
        lambda _: PGDEval(reference="aa"), ValueError, "unknown reference 'aa'", "apgd, autoattack, autoattack_rand"
    ),
    "callback_steps_empty": Case(
        lambda _: PGDEval(steps=[]), ValueError, "steps must be a list of step counts", "non-empty unless a reference is set"
    ),
    "autoattack_version_unknown": Case(
        lambda _: autoattack(NET, images(), Y, eps=0.3, version="plus"), ValueError, "unknown version 'plus'", "standard, rand"
    ),
    "autoattack_not_installed": Case(
        autoattack_without_its_extra, ImportError, "pyautoattack, which is not installed", 'pip install "lightning_robattr[autoattack]"'
    ),
    "callback_map_noise_unknown": Case(
        lambda _: AttributionAttackEval(scoring=MapScoring(map_noise='fresh')), ValueError, "unknown map_noise 'fresh'", "shared, redrawn"
    ),
    "callback_nsl_scale_unknown": Case(lambda _: ISAEval(nsl_per="budget"), ValueError, "unknown nsl_per 'budget'", "point, image"),
    "isa_first_point_unknown": Case(
        lambda _: ISAEval(attack=ISAConfig(first_point="paper")), ValueError, "unknown first_point 'paper'", "targeted, isa"
    ),
    "ig_norm_loss_unknown": Case(
        lambda _: IGNormModule(net=Small(), ig_of="mean"), ValueError, "unknown ig_of 'mean'", "example_loss, batch_mean_loss"
    ),
    "int_weighting_unknown": Case(
        lambda _: IntModule(net=Small(), weighting="eq8"), ValueError, "unknown weighting 'eq8'", "int_repo, paper"
    ),
    "manipulate_single_class": Case(
        lambda _: manipulate_targets(NET, Y[:1], images()[:1], Y[:1], "saliency", None, noise="shared"),
        ValueError, "manipulate objective needs evaluation images of at least two classes", "maps of another class",
    ),
    "detection_no_attack": Case(
        lambda _: DetectionAttacks(), ValueError, "attacks must name at least one of fgsm, pgd, cw", "e.g. {pgd: {steps: 20}}"
    ),
    "detection_attack_targeted": Case(
        lambda _: DetectionAttacks(pgd=PGDConfig(targeted=True)), ValueError, "attacks.pgd: the detection attacks are untargeted",
        "set targeted: false",
    ),
    "detection_granularity_out_of_range": Case(
        lambda _: causal_robustness(NET, images(), granularity=0.0), ValueError, "granularity must lie in (0, 1]", "e.g. 0.05"
    ),
    "detection_fraction_of_unknown": Case(
        lambda _: causal_robustness(NET, images(), fraction_of="pixels"), ValueError, "unknown fraction_of 'pixels'", "positive, all"
    ),
    "detector_fpr_out_of_range": Case(
        lambda _: CausalDetector(NET, target_fpr=5), ValueError, "target_fpr must lie in [0, 1]", "e.g. 0.05"
    ),
    "detector_not_fitted": Case(
        lambda _: CausalDetector(NET).predict(images()), RuntimeError, "needs a threshold", "call fit(benign_images) first"
    ),
    "roc_auc_nan_scores": Case(
        lambda _: roc_auc(torch.tensor([0.1, float("nan"), 0.3]), torch.tensor([0.5, 0.9])),
        ValueError, "benign holds 1 NaN score(s) of 3", "benign[~benign.isnan()]",
    ),
    "roc_auc_scores_not_1d": Case(
        lambda _: roc_auc(torch.rand(3, 2), torch.rand(3)), ValueError, "benign must hold one score per image", "scores.flatten()"
    ),
    "tpr_at_fpr_no_benign_scores": Case(
        lambda _: tpr_at_fpr(torch.tensor([]), torch.tensor([0.5]), 0.1),
        ValueError, "benign holds no scores", "score at least one benign",
    ),
    "patch_does_not_fit": Case(
        lambda _: patch_attack(NET, images(), Y, patch=torch.rand(1, 5, 5), target=3, placement=(24, 0)),
        ValueError, "a 5x5 patch at (24, 0) does not fit a 28x28 image", "rows 0..23",
    ),
    "patch_size_invalid": Case(
        lambda _: adversarial_patch(NET, images(), Y, target=3, size=2.0, steps=1), ValueError, "size must be the patch's share", "e.g. 0.1"
    ),
    "patch_only_target_class": Case(
        lambda _: adversarial_patch(NET, images(), torch.tensor([3, 3]), target=3, steps=1),
        ValueError, "every training image is of the target class 3", "give images of other classes",
    ),
    "reproduce_int_without_autoattack": Case(
        lambda tmp: reproduce_without_autoattack(tmp), ImportError, "pyautoattack, which is not installed", 'pip install "lightning_robattr[autoattack]"'
    ),
    "reproduce_paper_unknown": Case(
        lambda tmp: reproduce("adv3", out=tmp), ValueError, "unknown paper 'adv3'", "int, ssr, fragile, detection, adv2"
    ),
    "rts_without_masking_network": Case(
        lambda _: adv2(NET, images(), torch.tensor([0, 1]), method="rts"), ValueError, "needs its masking network", "configs/rts.yaml"
    ),
    "rts_checkpoint_of_a_classifier": Case(
        lambda tmp: RTSNet.from_checkpoint(_classifier_checkpoint(tmp)), ValueError, "not an RTSModule checkpoint", "configs/rts.yaml"
    ),
    "ensemble_of_one_interpreter": Case(
        lambda _: ensemble_agreement(NET, images(), ["cam"]), ValueError, "at least two interpreters", "['cam']"
    ),
    "adv2_two_interpreters_one_target_map": Case(
        lambda _: adv2(NET, images(), torch.tensor([0, 1]), method=["grad", "cam"], target_map=torch.zeros(2, 7, 7)),
        ValueError, "give target_map as a dict", "{method name: (B, h, w) map}",
    ),
    "ensemble_detector_not_fitted": Case(
        lambda _: EnsembleDetector(NET, ["grad", "cam"]).predict(images()), RuntimeError, "needs a threshold", "call fit(benign_images) first"
    ),
    "callback_network_is_a_backbone": Case(
        lambda _: PGDEval(schedule=EvaluationSchedule(network='net')).network_of(backbone_and_head(), images()),
        ValueError, "outputs have shape (2, 100), but the module BackboneAndHead returns (2, 10)", "set the callback's network",
    ),
    "callback_network_unknown": Case(
        lambda _: PGDEval(schedule=EvaluationSchedule(network='backbone')).network_of(backbone_and_head(), images()),
        AttributeError, "network 'backbone' is not a submodule of BackboneAndHead", "name one of ['net', 'head']",
    ),
    "callback_aai_method_unknown": Case(lambda _: AAIEval(method="lime"), ValueError, "unknown method 'lime'", "cam"),
    "cli_callback_method_unknown": Case(
        lambda tmp: cli_with_callback(tmp, "{methods: [saliency, integrated_gradient]}"),
        ValueError, "unknown methods entry 'integrated_gradient'", "ig, smoothgrad",
    ),
    "cli_key_typo": Case(
        lambda _: main(["-c", NATURAL, "--model.init_args.bta", "3"], run=False), SystemExit, "'bta' is not accepted", "--help"
    ),
    "cli_config_empty": Case(
        lambda tmp: main(["-c", NATURAL, "-c", str(written(tmp / "empty.yaml", ""))], run=False),
        ValueError, "empty.yaml' is empty", "give a config with at least one key",
    ),
    "cli_config_yaml_syntax": Case(
        lambda tmp: main(["-c", NATURAL, "-c", str(written(tmp / "broken.yaml", "trainer:\n  max_epochs: 1\n bad: [1\n"))], run=False),
        ValueError, "broken.yaml' is not valid YAML at line 3", "fix that line",
    ),
    # data
    "corrupt_image_file": Case(image_folder_with_a_corrupt_file, OSError, "broken.png", "remove or replace that file"),
    "image_folder_missing": Case(
        lambda tmp: ImageFolderData(str(tmp / "flowers")).setup("fit"),
        FileNotFoundError, "flowers does not exist", "root/<class>/<image>",
    ),
    "dataset_files_missing": Case(
        lambda tmp: MNISTData(str(tmp)).setup("fit"), FileNotFoundError, "MNIST/raw", "download: true"
    ),
    "labels_beyond_the_net_image_folder": Case(
        fit_on_twelve_class_folders,
        ValueError, "ImageFolderData holds labels up to 11 (12 classes)", "--model.init_args.net.init_args.num_classes 12",
    ),
    "labels_beyond_the_net_mnist": Case(
        fit_on_mnist_with_label_12, ValueError, "MNISTData holds labels up to 12 (13 classes)", "or fix the data's labels"
    ),
    "idx_file_truncated": Case(
        mnist_with_a_truncated_file,
        ValueError, "train-images-idx3-ubyte is truncated", "copy in a fresh download of train-images-idx3-ubyte.gz",
    ),
    "gz_file_not_gzip": Case(
        mnist_gz_that_is_not_gzip,
        ValueError, "train-labels-idx1-ubyte.gz is not a complete gzip file", "fresh download of train-labels-idx1-ubyte.gz",
    ),
    "gz_file_cut_short": Case(
        mnist_gz_cut_short,
        ValueError, "train-images-idx3-ubyte.gz is not a complete gzip file", "fresh download of train-images-idx3-ubyte.gz",
    ),
    "idx_counts_differ": Case(
        mnist_with_fewer_labels_than_images,
        ValueError, "train-images-idx3-ubyte holds 200 images but", "holds 150 labels; replace both with fresh downloads",
    ),
    "split_fractions_above_one": Case(
        lambda tmp: ImageFolderData(str(image_folder(tmp, classes=2, per_class=11)), val_size=0.6, test_size=0.6).setup("fit"),
        ValueError, "val_size=0.6 and test_size=0.6 add up to 1.2", "make them add up to less than the whole dataset",
    ),
    # training
    "ssr_diverged": Case(
        lambda _: ssr_loss(nan_net(), images(), Y), FloatingPointError, "ssr regime: the input Hessian", "lower the learning rate"
    ),
    "hessian_route_unknown": Case(
        lambda _: top_hessian_eigenvalue(NET, images(), route="qr"), ValueError, "unknown Hessian route 'qr'", "choose 'exact'"
    ),
    "ssr_form_unknown": Case(
        lambda _: ssr_loss(NET, images(), Y, form="papre"), ValueError, "unknown SSR form", "choose 'paper'"
    ),
    "ig_norm_resolution": Case(
        lambda _: IGNormModule(Small(), ig_steps=7, approx_factor=5), ValueError, "ig_steps must be a positive multiple", "ig_steps=50"
    ),
}


def _classifier_checkpoint(folder: Path) -> Path:
    path = folder / "natural.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in NET.state_dict().items()}, "hyper_parameters": {}}, path)
    return path


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_gets_the_documented_error(case, tmp_path, capsys):
    with pytest.raises(case.error) as raised:
        case.call(tmp_path)
    message = str(raised.value) + capsys.readouterr().err  # the CLI's parser writes its message to stderr
    assert case.argument in message and case.fix in message, message


def test_every_case_has_one_row_in_docs_errors():
    rows = [line for line in (ROOT / "docs" / "errors.md").read_text().splitlines() if re.match(r"\|.*\(`\w+`\) \|", line)]
    ids = [re.search(r"\(`(\w+)`\) \|", row).group(1) for row in rows]
    assert sorted(ids) == sorted(CASES) and len(ids) == len(set(ids))
    for row, case_id in zip(rows, ids):
        assert f"| `{CASES[case_id].error.__name__}` |" in row, row


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_round_off_just_outside_the_unit_range_is_accepted_and_clamped(dtype):
    from lightning_robattr._validation import check_batch, round_off

    x = images().to(dtype)
    x.view(-1)[0], x.view(-1)[1] = 1 + round_off(dtype) / 2, -round_off(dtype) / 2  # what (x - m) / s * s + m may leave
    (checked,) = check_batch(None, x)
    assert checked.min() == 0 and checked.max() == 1 and checked.dtype == dtype
    assert pgd(NET, images(1 + 1e-7), Y, eps=0.1, steps=1)[0].max() <= 1  # float32 1.0000001 passes an attack (torchattacks #136)


class HostReads(TorchFunctionMode):
    """Counts the tensor calls that copy a value to the host (a synchronisation on an accelerator)."""

    READS = {"item", "tolist", "numpy", "cpu", "nonzero", "__bool__", "__int__", "__float__", "__index__"}

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += getattr(func, "__name__", "") in self.READS
        return func(*args, **(kwargs or {}))


def test_the_guard_reads_the_device_once_for_images_and_every_label():
    from lightning_robattr._validation import check_batch

    with HostReads() as reads:
        check_batch(NET, images(), {"y": Y, "target": torch.tensor([0, 3])}, required=("y",))
    assert reads.count == 1


def test_the_logit_check_reads_the_device_once_per_call_and_once_for_nested_calls():
    from lightning_robattr.models import evaluation_mode

    with HostReads() as reads:
        integrated_gradients(NET, images(), steps=8, internal_batch_size=2)  # 5 forward passes
    assert reads.count == 2  # the input guard and the logit check
    with HostReads() as reads, evaluation_mode(NET):
        for _ in range(3):
            saliency(NET, images())  # as an attack's steps do: each checks its batch, the logits once at the end
    assert reads.count == 3 + 1

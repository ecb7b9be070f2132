"""``UnforeseenEval``: accuracy under the unforeseen attacks of Kang et al. (Gabor, Snow, JPEG)."""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from .._validation import check_nonnegative
from ..attacks._budget import eps_label
from ..attacks._targets import random_targets
from ..attacks._unforeseen.gabor import GaborConfig, gabor
from ..attacks._unforeseen.jpeg import JPEGConfig, jpeg
from ..attacks._unforeseen.snow import SnowConfig, snow
from ._attack_set import AttackSet
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule
from ._pgd_eval import still_correct

UNFORESEEN_ATTACKS: dict[str, Callable[..., tuple]] = {
    "gabor": gabor,
    "snow": snow,
    "jpeg_linf": partial(jpeg, norm="linf"),
    "jpeg_l2": partial(jpeg, norm="l2"),
    "jpeg_l1": partial(jpeg, norm="l1"),
}
# The budgets of "Proper Network Interpretability Helps Adversarial Robustness" (Table 5, CIFAR-10 and MNIST),
# each in its attack's own unit (see attacks.gabor, attacks.snow, attacks.jpeg).
INT_PAPER_EPS = {"gabor": 400 / 255, "snow": 2.0, "jpeg_linf": 0.25, "jpeg_l2": 8.0, "jpeg_l1": 256.0}


@dataclass(frozen=True)
class UnforeseenAttacks(AttackSet):
    """The attacks ``UnforeseenEval`` runs, in the order of the fields, each with its hyperparameters; ``None``: not run.

    In YAML a nested mapping that names the attacks to run, ``{}`` for an attack's defaults:
    ``attacks: {jpeg_linf: {targeted: true}, gabor: {steps: 100, targeted: true}}``. An attack whose
    config is ``targeted`` is pulled towards a random wrong class (one per image, shared by all of them).

    Attributes:
        gabor: Gabor noise (``attacks.GaborConfig``).
        snow: snow (``attacks.SnowConfig``).
        jpeg_linf, jpeg_l2, jpeg_l1: the JPEG attack in that norm of the DCT coefficients (``attacks.JPEGConfig``).
    """

    gabor: GaborConfig | None = None
    snow: SnowConfig | None = None
    jpeg_linf: JPEGConfig | None = None
    jpeg_l2: JPEGConfig | None = None
    jpeg_l1: JPEGConfig | None = None

    example: ClassVar[str] = "{jpeg_linf: {}}"


INT_PAPER_ATTACKS = UnforeseenAttacks(
    jpeg_linf=JPEGConfig(targeted=True), jpeg_l2=JPEGConfig(targeted=True), jpeg_l1=JPEGConfig(targeted=True)
)
"""``UnforeseenEval``'s default: the Int paper's MNIST protocol, three JPEG attacks of 200 steps towards random wrong classes."""


class UnforeseenEval(EvaluationCallback):
    """Accuracy under attacks outside the L-p balls a model was trained for (Kang et al., "Testing robustness
    against unforeseen adversaries"), as in Table 5 of "Proper Network Interpretability Helps Adversarial Robustness".

    Following that paper, each correctly classified image is attacked towards a random wrong
    class (``targeted: true`` in every attack's config; one target per image, shared by all attacks)
    and accuracy is the fraction of the subset still classified as its true label (clean errors
    count as errors). Gabor and Snow were designed for RGB images; on grey images (MNIST) they apply
    the grey noise directly, which the paper did not evaluate (it reports them for CIFAR-10 only), so
    the default runs the three JPEG attacks.

    Tags: ``robust/<attack>/eps=<e>/steps=<s>/acc`` for each attack, and ``robust/unforeseen/clean_acc``.

    Args:
        attacks: the attacks and their hyperparameters (:class:`UnforeseenAttacks`: ``gabor``, ``snow``,
            ``jpeg_linf``, ``jpeg_l2``, ``jpeg_l1``); default ``INT_PAPER_ATTACKS``, the three JPEG
            attacks, 200 steps, targeted.
        eps: budget per attack in that attack's own unit (Gabor: pixel units of [0, 1]; Snow:
            flake amplitude; JPEG: half quantisation steps); missing ones take the paper's
            ``INT_PAPER_EPS`` (Gabor 400/255, Snow 2, JPEG L-inf 0.25, L2 8, L1 256).
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 200 images in batches
            of 40, only in ``validate`` and ``test``: about ``len(attacks) * steps`` forward+backward
            passes per image).
    """

    default_schedule = EvaluationSchedule(num_samples=200, every_n_epochs=0, batch_size=40)

    def __init__(
        self,
        *,
        attacks: UnforeseenAttacks | None = None,
        eps: Mapping[str, float] | None = None,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        if attacks is not None and not isinstance(attacks, UnforeseenAttacks):
            raise TypeError(f"attacks must be an UnforeseenAttacks, got {type(attacks).__name__}")
        self.attacks = (attacks or INT_PAPER_ATTACKS).selected()
        unknown = sorted(set(eps or {}) - set(self.attacks))
        if unknown:
            raise ValueError(f"eps names attacks that are not run: {unknown}; give budgets of {list(self.attacks)} only")
        self.budgets = {name: float({**INT_PAPER_EPS, **(eps or {})}[name]) for name in self.attacks}
        for attack, value in self.budgets.items():
            check_nonnegative(value, f"eps of {attack}", unit=" (in that attack's own unit)")

    @property
    def units_per_batch(self) -> int:
        return len(self.attacks)

    def tag(self, attack: str) -> str:
        """``robust/<attack>/eps=<e>/steps=<s>/acc``."""
        return f"robust/{attack}/{eps_label(self.budgets[attack])}/steps={self.attacks[attack].steps}/acc"

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        return {"robust/unforeseen/clean_acc": MeanMetric(), **{self.tag(name): MeanMetric() for name in self.attacks}}

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            logits = model(x)
        correct = logits.argmax(dim=1) == y
        metrics["robust/unforeseen/clean_acc"].update(correct.float())
        any_targeted = any(config.targeted for config in self.attacks.values())
        targets = random_targets(y, logits.shape[1])[correct] if any_targeted else None
        for name, config in self.attacks.items():
            goal = targets if config.targeted else y[correct]
            attack = partial(UNFORESEEN_ATTACKS[name], model, eps=self.budgets[name], config=config)
            metrics[self.tag(name)].update(still_correct(model, x, y, correct, lambda xs, _, a=attack, g=goal: a(xs, g)).float())
            yield

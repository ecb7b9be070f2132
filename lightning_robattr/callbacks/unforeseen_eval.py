"""``UnforeseenEval``: accuracy under the unforeseen attacks of Kang et al. (Gabor, Snow, JPEG)."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from .._validation import check_nonnegative, check_positive_int
from ..attacks.classification_losses import classification_loss
from ..attacks.unforeseen.gabor import gabor
from ..attacks.unforeseen.jpeg import jpeg
from ..attacks.unforeseen.snow import snow
from ..attacks.targets import random_targets
from ._tags import eps_label
from .evaluation_callback import EvaluationCallback, NetworkChoice
from .pgd_eval import still_correct

UNFORESEEN_ATTACKS: dict[str, Callable[..., Tensor]] = {
    "gabor": gabor,
    "snow": snow,
    "jpeg_linf": partial(jpeg, norm="linf"),
    "jpeg_l2": partial(jpeg, norm="l2"),
    "jpeg_l1": partial(jpeg, norm="l1"),
}
# The budgets of "Proper Network Interpretability Helps Adversarial Robustness" (Table 5, CIFAR-10 and MNIST),
# each in its attack's own unit (see attacks.gabor, attacks.snow, attacks.jpeg).
INT_PAPER_EPS = {"gabor": 400 / 255, "snow": 2.0, "jpeg_linf": 0.25, "jpeg_l2": 8.0, "jpeg_l1": 256.0}


class UnforeseenEval(EvaluationCallback):
    """Accuracy under attacks outside the L-p balls a model was trained for (Kang et al., "Testing robustness
    against unforeseen adversaries"), as in Table 5 of "Proper Network Interpretability Helps Adversarial Robustness".

    Following that paper, each correctly classified image is attacked towards a random wrong
    class (``targeted=True``; one target per image, shared by all attacks) and accuracy is the
    fraction of the subset still classified as its true label (clean errors count as errors).
    Gabor and Snow were designed for RGB images; on grey images (MNIST) they apply the grey
    noise directly, which the paper did not evaluate (it reports them for CIFAR-10 only), so
    the default runs the three JPEG attacks.

    Tags: ``robust/<attack>/eps=<e>/steps=<s>/acc`` for each attack, and ``robust/unforeseen/clean_acc``.

    Args:
        attacks: names from ``UNFORESEEN_ATTACKS``: ``gabor``, ``snow``, ``jpeg_linf``, ``jpeg_l2``, ``jpeg_l1``.
        eps: budget per attack in that attack's own unit (Gabor: pixel units of [0, 1]; Snow:
            flake amplitude; JPEG: half quantisation steps); missing ones take the paper's
            ``INT_PAPER_EPS`` (Gabor 400/255, Snow 2, JPEG L-inf 0.25, L2 8, L1 256).
        steps: iterations of every attack (paper: 200).
        targeted: attack towards a random wrong class (the paper) rather than away from the label.
        loss: ``"ce"`` or ``"cw"``.
        num_samples, every_n_epochs, batch_size, seed, progress, network: see ``EvaluationCallback``
            (``every_n_epochs=0`` by default: about ``len(attacks) * steps`` forward+backward
            passes per image, i.e. only in ``validate`` and ``test``).
    """

    def __init__(
        self,
        *,
        attacks: Sequence[str] = ("jpeg_linf", "jpeg_l2", "jpeg_l1"),
        eps: Mapping[str, float] | None = None,
        steps: int = 200,
        targeted: bool = True,
        loss: Literal["ce", "cw"] = "ce",
        num_samples: int | None = 200,
        every_n_epochs: int = 0,
        batch_size: int = 40,
        seed: int = 0,
        progress: bool = True,
        network: NetworkChoice = None,
    ) -> None:
        super().__init__(
            num_samples=num_samples, every_n_epochs=every_n_epochs, batch_size=batch_size, seed=seed, progress=progress, network=network
        )
        unknown = set(attacks) - set(UNFORESEEN_ATTACKS) or set(eps or {}) - set(attacks)
        if unknown or not attacks:
            raise ValueError(
                f"attacks must name some of {sorted(UNFORESEEN_ATTACKS)} and eps only those attacks; unknown: {sorted(unknown)}"
            )
        self.budgets = {name: float({**INT_PAPER_EPS, **(eps or {})}[name]) for name in attacks}
        self.steps, self.targeted, self.loss = steps, targeted, loss
        check_positive_int(steps, "steps")
        classification_loss(loss)
        for attack, value in self.budgets.items():
            check_nonnegative(value, f"eps of {attack}", unit=" (in that attack's own unit)")

    @property
    def units_per_batch(self) -> int:
        return len(self.budgets)

    def tag(self, attack: str) -> str:
        """``robust/<attack>/eps=<e>/steps=<s>/acc``."""
        return f"robust/{attack}/{eps_label(self.budgets[attack])}/steps={self.steps}/acc"

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        return {"robust/unforeseen/clean_acc": MeanMetric(), **{self.tag(name): MeanMetric() for name in self.budgets}}

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            logits = model(x)
        correct = logits.argmax(dim=1) == y
        metrics["robust/unforeseen/clean_acc"].update(correct.float())
        goal = random_targets(y, logits.shape[1])[correct] if self.targeted else y[correct]
        for name, eps in self.budgets.items():
            attack = partial(UNFORESEEN_ATTACKS[name], model, eps=eps, steps=self.steps, targeted=self.targeted, loss=self.loss)
            metrics[self.tag(name)].update(still_correct(model, x, y, correct, lambda xs, _: attack(xs, goal)).float())
            yield

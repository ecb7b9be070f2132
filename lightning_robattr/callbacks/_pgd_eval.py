"""``PGDEval``: robust accuracy under PGD on a grid of budgets and step counts.

:func:`still_correct` is the robust-accuracy bookkeeping every classification-attack callback shares.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from .._lightning import LightningModule, Trainer, rank_zero_warn
from .._validation import check_choice, check_positive_int
from ..attacks._budget import Budget, budgets
from ..attacks._classification.apgd import apgd
from ..attacks._classification.autoattack import INSTALL, autoattack, load_reference
from ..attacks._classification.pgd import PGDConfig, pgd
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule

AUTOATTACK_VERSIONS = {"autoattack": "standard", "autoattack_rand": "rand"}
REFERENCES = ("apgd", *AUTOATTACK_VERSIONS)
# the same text for every callback, so Python shows it once however many callbacks lack the reference (rank 0 only)
MISSING_REFERENCE = (
    "AutoAttack is not installed (PyPI pyautoattack): its robust accuracies (robust/autoattack_*) are skipped, every other "
    f'number is reported; install it with pip install -e ".[autoattack]" in a checkout, or {INSTALL}'
)


def still_correct(model: nn.Module, x: Tensor, y: Tensor, attacked: Tensor, attack: Callable[[Tensor, Tensor], tuple]) -> Tensor:
    """``(B,)`` bool: the examples of the mask ``attacked`` that ``attack(x, y) -> (x_adv, record)`` leaves classified as ``y``.

    Only the ``attacked`` examples (e.g. the correctly classified ones) are attacked; the others
    count as not correct, so the mean over the batch is an accuracy in which clean errors are errors.
    """
    still = torch.zeros_like(attacked)
    if attacked.any():
        x_adv, _ = attack(x[attacked], y[attacked])
        with torch.no_grad():
            still[attacked] = model(x_adv).argmax(dim=1) == y[attacked]
    return still


class PGDEval(EvaluationCallback):
    """Accuracy under untargeted PGD for every ``(eps, steps)`` pair, in the L-inf or L2 ball.

    Accuracy is the fraction of the subset with ``argmax f(x') == y``: clean errors count as
    errors (they are not attacked). The default ``attack`` is Madry et al.'s protocol: random start,
    step ``2.5 * eps / steps``. The evaluation code of "Proper Network Interpretability Helps
    Adversarial Robustness" (its Tables 3-4, A1-A3) is ``attack: {random_start: false, step_size: 0.01}``
    with ``name: pgd_linf_int_repo`` (the packaged sets ``callbacks/pgd.yaml`` and ``callbacks/paper.yaml``
    write it). A k-step attack then moves at most ``0.01 k``, hence e.g. 0.99 accuracy of a natural
    MNIST net after 1 step at eps 0.3: it measures that protocol, not worst-case robustness.

    PGD accuracies are upper bounds on the robust accuracy (a stronger attack can only lower them):
    cheap enough to monitor every epoch, not numbers to publish. A ``reference`` evaluation
    attacks the points still classified correctly after every step count of a budget further
    (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks"), and logs the worst case over all of them:

    * ``"autoattack"``: AutoAttack "standard" (``attacks.autoattack``: APGD-CE, APGD-T, FAB-T,
      Square), the strength to report; logged as ``robust/autoattack_<norm>/eps=<e>/acc``.
    * ``"autoattack_rand"``: AutoAttack "rand" (APGD-CE and APGD-DLR with 20-sample EOT), the
      strength to report for randomised defences; logged as ``robust/autoattack_rand_<norm>/eps=<e>/acc``.
    * ``"apgd"`` (or ``True``): APGD-CE and then APGD-DLR, cheaper; logged as ``.../reference_acc``.

    A large gap between it and the PGD accuracy means PGD was too weak (see also ``GradientMaskingCheck``).

    Tags (``<name>`` defaults to ``pgd_<norm>``, or ``<reference>_<norm>`` without PGD steps):
    ``robust/<name>/clean_acc``, ``robust/<name>/eps=<e>/steps=<s>/acc`` (upper bounds),
    ``robust/<name>/eps=<e>/reference_acc`` (``"apgd"``), ``robust/<reference>_<norm>/eps=<e>/acc`` (the AutoAttack versions).

    Args:
        eps: budgets in pixel units (MNIST 0.1, 0.3; ``"8/255"`` strings accepted).
        steps: PGD step counts; each ``(eps, steps)`` pair is a separate attack (replacing
            ``attack.steps``). Empty with a ``reference``: the reference alone (its name then
            defaults to ``<reference>_<norm>``).
        attack: PGD's hyperparameters (``attacks.PGDConfig``: ``norm``, ``step_size``,
            ``random_start``, ``restarts``, ``loss``); its ``norm`` is also the reference's.
        reference: ``False``, ``"apgd"`` (``True``: the same), ``"autoattack"`` or ``"autoattack_rand"``
            (above). The AutoAttack versions need the ``autoattack`` extra, checked when a Trainer
            stage in which this callback runs starts (``fit`` only with ``every_n_epochs > 0``):
            without it the reference is skipped with one warning that says how to install it, and
            the rest is reported (a callback with no PGD ``steps`` then logs nothing).
        reference_steps: iterations of each APGD run of ``"apgd"``.
        name: the attack's segment of the tags.
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 200 images in batches of 100).

    Cost per evaluated image: ``len(eps) * sum(steps)`` forward+backward passes (plus
    ``2 * reference_steps`` per budget on the surviving points with ``"apgd"``; see ``attacks.autoattack``
    for the AutoAttack versions).

    Example:
        >>> from pytorch_lightning import Trainer
        >>> trainer = Trainer(inference_mode=False, callbacks=[PGDEval(eps=[0.1, 0.3], steps=[10, 40])], logger=False)
    """

    default_schedule = EvaluationSchedule(num_samples=200, batch_size=100)

    def __init__(
        self,
        *,
        eps: Sequence[Budget] = (0.1, 0.3),
        steps: Sequence[int] = (40,),
        attack: PGDConfig | None = None,
        reference: bool | Literal["apgd", "autoattack", "autoattack_rand"] = False,
        reference_steps: int = 100,
        name: str | None = None,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        self.attack = attack or PGDConfig()
        if self.attack.targeted:
            raise ValueError("PGDEval measures untargeted robust accuracy; set attack.targeted: false")
        self.reference = "apgd" if reference is True else reference or None
        if self.reference is not None:
            check_choice(self.reference, REFERENCES, name="reference")
        if (not steps and self.reference is None) or any(int(s) < 1 for s in steps):
            raise ValueError(
                f"steps must be a list of step counts >= 1, non-empty unless a reference is set, got {list(steps)}"
            )
        self.budgets = budgets(eps, norm=self.attack.norm)
        self.steps = [int(s) for s in steps]
        self.reference_steps = reference_steps
        self.name = name or f"{'pgd' if self.steps else self.reference}_{self.attack.norm}"
        check_positive_int(reference_steps, "reference_steps")

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Drop a missing AutoAttack reference, with a warning saying how to install it, before a stage in which it would run.

        The PGD grid is still evaluated; a callback that measured only the reference is then skipped.
        """
        if self.reference in AUTOATTACK_VERSIONS and (stage != "fit" or self.schedule.every_n_epochs > 0):
            try:
                load_reference()
            except ImportError:
                rank_zero_warn(MISSING_REFERENCE)
                self.reference = None

    def run(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Evaluate, unless the only attack was an AutoAttack reference that is not installed (see ``setup``)."""
        if self.steps or self.reference is not None:
            super().run(trainer, pl_module, stage)

    @property
    def units_per_batch(self) -> int:
        return len(self.budgets) * (len(self.steps) + {None: 0, "apgd": 2}.get(self.reference, 1))

    def tag(self, label: str, steps: int | None = None) -> str:
        """``robust/<name>/eps=<e>/steps=<s>/acc``, or without ``steps`` the reference's tag
        (``robust/<name>/eps=<e>/reference_acc``, ``robust/<reference>_<norm>/eps=<e>/acc``)."""
        if steps is not None:
            return f"robust/{self.name}/{label}/steps={steps}/acc"
        if self.reference in AUTOATTACK_VERSIONS:
            return f"robust/{self.reference}_{self.attack.norm}/{label}/acc"
        return f"robust/{self.name}/{label}/reference_acc"

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        tags = [f"robust/{self.name}/clean_acc"]
        for label, _ in self.budgets:
            tags += [self.tag(label, s) for s in self.steps] + ([self.tag(label)] if self.reference else [])
        return {tag: MeanMetric() for tag in tags}

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            correct = model(x).argmax(dim=1) == y
        metrics[f"robust/{self.name}/clean_acc"].update(correct.float())
        for label, eps in self.budgets:
            survivors = correct.clone()
            for steps in self.steps:
                still = still_correct(model, x, y, correct, lambda xs, ys: self._pgd(model, xs, ys, eps, steps))
                metrics[self.tag(label, steps)].update(still.float())
                survivors &= still
                yield
            if self.reference == "apgd":
                for loss in ("ce", "dlr"):
                    survivors = still_correct(
                        model, x, y, survivors,
                        lambda xs, ys: apgd(model, xs, ys, eps=eps, steps=self.reference_steps, norm=self.attack.norm, loss=loss),
                    )
                    yield
            elif self.reference in AUTOATTACK_VERSIONS:
                version = AUTOATTACK_VERSIONS[self.reference]
                survivors = still_correct(
                    model, x, y, survivors,
                    lambda xs, ys: autoattack(
                        model, xs, ys, eps=eps, norm=self.attack.norm, version=version, seed=self.schedule.seed,
                        batch_size=self.schedule.batch_size,
                    ),
                )
                yield
            if self.reference is not None:
                metrics[self.tag(label)].update(survivors.float())

    def _pgd(self, model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int) -> Tensor:
        return pgd(model, x, y, eps=eps, config=self.attack, steps=steps)

"""``DetectionEval``: how well causal-neighbourhood masking tells adversarial inputs from benign ones, per attack."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import Tensor, nn
from torchmetrics import CatMetric, MeanMetric, Metric

from .._lightning import LightningModule, Trainer
from ..attacks import (
    CWConfig,
    DeepFoolConfig,
    FGSMConfig,
    PatchConfig,
    PGDConfig,
    adversarial_patch,
    cw_l2,
    deepfool,
    fgsm,
    lavan,
    patch_attack,
    pgd,
)
from ..attacks._budget import Budget, parse_eps
from ..attacks._patch.placement import patch_masks
from ..detection import AdaptiveConfig, CausalConfig, adaptive_attack, causal_robustness, masking_levels, roc_auc, tpr_at_fpr, unchanged_fraction
from ..detection._causal import ranked_pixels, region_of, robustness_of
from ..detection._figure import unchanged_curve_figure
from ..models import evaluation_mode
from ._attack_set import AttackSet
from ._cat import cat_values
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule
from ._figures import log_figure

PATCH_ATTACKS = ("patch", "lavan")
SHOWN_LEVELS = (0.1, 0.2)
PATCH_OPTIMISERS = {"patch": adversarial_patch, "lavan": lavan}


@dataclass(frozen=True)
class DetectionAttacks(AttackSet):
    """The attacks ``DetectionEval`` runs, in the order of the fields, each with its hyperparameters; ``None``: not run.

    In YAML a nested mapping that names the attacks to run, ``{}`` for an attack's defaults:
    ``attacks: {fgsm: {}, pgd: {steps: 20}, patch: {size: 0.25, steps: 200, step_size: 0.02}}``.

    Attributes:
        fgsm: FGSM at the callback's ``eps`` (``attacks.FGSMConfig``).
        pgd: PGD at the callback's ``eps`` (``attacks.PGDConfig``).
        cw: Carlini-Wagner L2, unbounded (``attacks.CWConfig``).
        deepfool: DeepFool, unbounded (``attacks.DeepFoolConfig``).
        patch: Brown et al.'s universal patch, optimised once per evaluation on the subset's images
            towards the callback's ``patch_target`` and pasted where its ``placement`` says (``attacks.PatchConfig``).
        lavan: LaVAN's universal patch, likewise (``attacks.PatchConfig``; give its ``size``, 2 % by default).
        adaptive: the adaptive attack on this detector at the callback's ``eps`` (``detection.AdaptiveConfig``;
            it always attacks the callback's own ``detector`` settings): fools the classifier and keeps the
            adversarial label under the detector's masking.
    """

    fgsm: FGSMConfig | None = None
    pgd: PGDConfig | None = None
    cw: CWConfig | None = None
    deepfool: DeepFoolConfig | None = None
    patch: PatchConfig | None = None
    lavan: PatchConfig | None = None
    adaptive: AdaptiveConfig | None = None

    example: ClassVar[str] = "{pgd: {steps: 20}}"

    def check(self) -> None:
        for name, config in self.selected().items():
            if getattr(config, "targeted", False):
                raise ValueError(f"attacks.{name}: the detection attacks are untargeted (the patches aim at patch_target); "
                                 "set targeted: false")


DETECTION_ATTACKS = tuple(f.name for f in fields(DetectionAttacks))
PAPER_ATTACKS = DetectionAttacks(
    fgsm=FGSMConfig(),
    pgd=PGDConfig(steps=20),
    cw=CWConfig(steps=100),
    deepfool=DeepFoolConfig(steps=50),
    patch=PatchConfig(size=0.25, steps=200, step_size=0.02),
    lavan=PatchConfig(size=0.15, steps=200, step_size=0.02),
)
"""``DetectionEval``'s default: every attack of the paper (as ``callbacks/detection.yaml`` writes it)."""


class DetectionEval(EvaluationCallback):
    """The causal-neighbourhood detector ("Attribution-driven Causal Analysis for Detection of Adversarial Examples") against attacks.

    On the correctly classified images of a fixed seeded subset, every attack of ``attacks`` is
    run; the causal robustness ``rho`` (``detection.causal_robustness``: the least share of the
    most positively IG-attributed pixels whose masking changes the prediction) is measured on the
    benign images and on the **successful** adversarial ones, and the detector (flag when
    ``rho`` is small) is scored. The benign images of the subset calibrate its thresholds.
    The universal patches (``patch``: Brown et al.'s loss; ``lavan``: LaVAN's) are optimised once
    per evaluation on the subset's images towards ``patch_target`` and pasted at their
    ``placement`` (random by default). Tags, ``<a>`` an attack:

    * ``detect/<a>/auc``: ROC AUC of ``-rho``, adversarial against benign (ties count half);
    * ``detect/<a>/tpr@fpr=<f>``: the share of adversarial images flagged at the threshold whose
      benign false-positive rate is at most ``f``, for each of ``target_fprs``;
    * ``detect/<a>/success_rate``: share of attacked images the attack fooled (only those are scored);
    * ``detect/<a>/unchanged@<l>`` and ``detect/benign/unchanged@<l>``, ``l`` = 0.1, 0.2: share of
      images whose prediction survives masking that fraction (the paper's Figure 3 at two points);
    * ``detect/<a>/masked_in_patch`` (patch attacks): share of the pixels masked at
      ``patch_masked_fraction`` that lie inside the patch (the paper's Figures 5-6).

    After an evaluation ``rho`` holds the scored ``rho`` of each kind (``"benign"`` and every attack),
    ``curves`` the unchanged share at every level, ``patches`` the optimised patches. In validate/test
    the whole curve (unchanged share against masked fraction, benign and every attack) goes to
    TensorBoard as an image, ``detect/unchanged_curve``.

    Args:
        attacks: the attacks and their hyperparameters (:class:`DetectionAttacks`); default
            ``PAPER_ATTACKS``: FGSM, PGD (20 steps), CW-L2 (100 steps), DeepFool (50 steps), a 25 %
            patch and a 15 % LaVAN patch (200 steps of 0.02 each; on MNIST a natural Small is fooled
            by about 60 % / 20 % of them; smaller ones rarely succeed).
        eps: the budget of FGSM, PGD and the adaptive attack, pixel units (``"8/255"`` accepted).
        patch_target: the class the universal patches aim at.
        patch_masked_fraction: the masked fraction whose pixels are located for ``masked_in_patch``.
        target_fprs: benign false-positive rates of the TPR tags.
        detector: how ``rho`` is measured (``detection.CausalConfig``: ``granularity``, ``ig_steps``,
            ``fraction_of``, ...; default ``CausalConfig()``).
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 100 images in
            batches of 50, only in validate/test).

    Cost per image: one IG (``ig_steps`` passes) and ``1 / granularity`` forward passes per scored
    image, plus the attacks; each patch ``steps`` mini-batch steps.
    """

    default_schedule = EvaluationSchedule(num_samples=100, every_n_epochs=0, batch_size=50)

    def __init__(
        self,
        *,
        attacks: DetectionAttacks | None = None,
        eps: Budget = 0.1,
        patch_target: int = 0,
        patch_masked_fraction: float = 0.1,
        target_fprs: Sequence[float] = (0.05, 0.1, 0.2),
        detector: CausalConfig | None = None,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        for value, name, kind in ((attacks, "attacks", DetectionAttacks), (detector, "detector", CausalConfig)):
            if value is not None and not isinstance(value, kind):
                raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
        self.attacks = attacks or PAPER_ATTACKS
        self.eps = parse_eps(eps)
        if isinstance(patch_target, bool) or not isinstance(patch_target, int) or patch_target < 0:
            raise ValueError(f"patch_target must be a class index >= 0, got {patch_target!r}")
        if not 0 < patch_masked_fraction <= 1:
            raise ValueError(f"patch_masked_fraction must be a masked share in (0, 1], e.g. 0.1, got {patch_masked_fraction}")
        if any(not 0 <= f <= 1 for f in target_fprs):
            raise ValueError(f"target_fprs must be false-positive rates in [0, 1], e.g. [0.05, 0.1], got {list(target_fprs)}")
        self.patch_target, self.patch_masked_fraction = patch_target, patch_masked_fraction
        self.target_fprs = [float(f) for f in target_fprs]
        self.detector = detector or CausalConfig()
        self.patches: dict[str, Tensor] = {}
        self.rho: dict[str, Tensor] = {}
        self.curves: dict[str, Tensor] = {}

    @property
    def units_per_batch(self) -> int:
        return 1 + len(self.attacks.selected())

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        metrics: dict[str, Metric] = {"detect/benign/rho": CatMetric()}
        for name in self.attacks.selected():
            metrics[f"detect/{name}/rho"] = CatMetric()
            metrics[f"detect/{name}/success_rate"] = MeanMetric()
            if name in PATCH_ATTACKS:
                metrics[f"detect/{name}/masked_in_patch"] = MeanMetric()
        return metrics

    def evaluate(self, model: nn.Module, images: Tensor, labels: Tensor, *, progress: bool = False) -> dict[str, Tensor]:
        """As ``EvaluationCallback.evaluate``; first optimises the universal patches on ``images`` (the same on every rank)."""
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(self.schedule.seed)
        with evaluation_mode(model):
            self.patches = {
                name: PATCH_OPTIMISERS[name](
                    model, images.to(device).float(), labels.to(device), target=self.patch_target, config=config,
                    generator=generator,
                )
                for name, config in self.attacks.selected().items() if name in PATCH_ATTACKS
            }
        return super().evaluate(model, images, labels, progress=progress)

    def attack(self, model: nn.Module, name: str, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(x_adv, success (B,), patch windows (B, 1, H, W) or None)`` of attack ``name``."""
        config = getattr(self.attacks, name)
        if name in PATCH_ATTACKS:
            patch = self.patches[name]
            x_adv, record = patch_attack(model, x, y, patch=patch, target=self.patch_target, placement=config.placement)
            return x_adv, record.success, patch_masks(x.shape, tuple(patch.shape[-2:]), record.locations)
        runs = {
            "fgsm": lambda: fgsm(model, x, y, eps=self.eps, config=config),
            "pgd": lambda: pgd(model, x, y, eps=self.eps, config=config),
            "cw": lambda: cw_l2(model, x, y, config=config),
            "deepfool": lambda: deepfool(model, x, y, config=config),
            "adaptive": lambda: adaptive_attack(model, x, y, eps=self.eps, config=config, detector=self.detector),
        }
        x_adv, record = runs[name]()
        return x_adv, record.success, None

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            correct = model(x).argmax(dim=1) == y
        x, y = x[correct], y[correct]
        if len(x):
            metrics["detect/benign/rho"].update(causal_robustness(model, x, config=self.detector)[0])
        yield
        for name in self.attacks.selected():
            if len(x):
                x_adv, success, windows = self.attack(model, name, x, y)
                metrics[f"detect/{name}/success_rate"].update(success.float())
                if success.any():  # one IG pass serves the score and the located mask
                    ranking = ranked_pixels(model, x_adv[success], self.detector)
                    rho, _ = robustness_of(model, ranking, self.detector)
                    metrics[f"detect/{name}/rho"].update(rho)
                    if windows is not None:
                        masked = region_of(ranking, self.patch_masked_fraction)
                        inside = (masked & windows[success, 0]).flatten(1).sum(1) / masked.flatten(1).sum(1).clamp_min(1)
                        metrics[f"detect/{name}/masked_in_patch"].update(inside)
            yield

    def summarize(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        levels = masking_levels(self.detector.granularity)
        shown = {level: int(torch.argmin((levels - level).abs())) for level in SHOWN_LEVELS}
        self.rho = rho = {kind: cat_values(values.pop(f"detect/{kind}/rho")) for kind in ["benign", *self.attacks.selected()]}
        self.curves = {kind: unchanged_fraction(r, levels) for kind, r in rho.items() if len(r)}
        out = {tag: value for tag, value in values.items()}
        nan = torch.tensor(float("nan"))
        for kind, r in rho.items():
            for level, index in shown.items():
                out[f"detect/{kind}/unchanged@{level:g}"] = self.curves[kind][index].float() if len(r) else nan
            if kind == "benign":
                continue
            scored = len(r) and len(rho["benign"])
            out[f"detect/{kind}/auc"] = torch.tensor(roc_auc(-rho["benign"], -r)) if scored else nan
            for fpr in self.target_fprs:
                out[f"detect/{kind}/tpr@fpr={fpr:g}"] = torch.tensor(tpr_at_fpr(-rho["benign"], -r, fpr)) if scored else nan
        return out

    def run(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().run(trainer, pl_module, stage)
        self.log_curve(trainer)

    def log_curve(self, trainer: Trainer) -> None:
        """The unchanged share against the masked fraction, benign and per attack, as a figure for every logger."""
        if trainer.is_global_zero and trainer.loggers and self.curves:
            figure = unchanged_curve_figure(self.curves, masking_levels(self.detector.granularity))
            log_figure(trainer, "detect/unchanged_curve", figure)


"""``DetectionEval``: how well causal-neighbourhood masking tells adversarial inputs from benign ones, per attack."""

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import ClassVar

import torch
from torch import Tensor, nn
from torchmetrics import CatMetric, MeanMetric, Metric

from .._lightning import LightningModule, Trainer
from ..attacks import (
    AttackConfig,
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
from ..attacks._budget import Budget, budgets
from ..attacks._patch.placement import patch_masks
from ..detection import (
    AdaptiveConfig,
    CausalConfig,
    adaptive_attack,
    causal_robustness,
    masking_levels,
    roc_auc,
    threshold_at_fpr,
    unchanged_fraction,
)
from ..detection._causal import ranked_pixels, region_of, robustness_of
from ..detection._figure import unchanged_curve_figure
from ..models import evaluation_mode
from ._attack_set import AttackSet
from ._cat import cat_values
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule
from ._figures import log_figure
from ._subset import evaluation_subset, stage_dataset

PATCH_ATTACKS = ("patch", "lavan")
BOUNDED_ATTACKS = ("fgsm", "pgd", "adaptive")
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
        lavan: LaVAN's universal patch, likewise (``attacks.PatchConfig``; its ``size`` is 2 % by default; the
            paper's 50 x 50 patch covers 2.8 % of a 299 x 299 image).
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
    cw=CWConfig(steps=1000),
    deepfool=DeepFoolConfig(steps=50),
    patch=PatchConfig(size=0.25, steps=200, step_size=0.02),
    lavan=PatchConfig(size=0.028, steps=200, step_size=0.02),
)
"""``DetectionEval``'s default: every attack of the paper (as ``callbacks/detection.yaml`` writes it)."""


@dataclass(frozen=True)
class AttackRun:
    """One row of ``DetectionEval``: an attack at one strength.

    Attributes:
        attack: the attack's field of :class:`DetectionAttacks`.
        config: its hyperparameters at this strength (CW's ``kappa`` set from the callback's grid).
        eps: the L-inf budget in pixel units (FGSM, PGD, adaptive); ``None`` for the unbounded attacks.
    """

    attack: str
    config: AttackConfig
    eps: float | None = None


def attack_runs(attacks: DetectionAttacks, eps: Sequence[tuple[str, float]], kappas: Sequence[float] | None) -> dict[str, AttackRun]:
    """The rows of the strength axis by name: ``<attack>`` where the attack runs at one strength, else
    ``<attack>/eps=<e>`` for each budget (FGSM, PGD, adaptive) and ``cw/kappa=<k>`` for each CW confidence."""
    runs: dict[str, AttackRun] = {}
    for name, config in attacks.selected().items():
        if name in BOUNDED_ATTACKS:
            for label, value in eps:
                runs[name if len(eps) == 1 else f"{name}/{label}"] = AttackRun(name, config, value)
        elif name == "cw" and kappas is not None:
            for kappa in kappas:
                runs[name if len(kappas) == 1 else f"cw/kappa={kappa:g}"] = AttackRun(name, replace(config, kappa=float(kappa)))
        else:
            runs[name] = AttackRun(name, config)
    return runs


class DetectionEval(EvaluationCallback):
    """The causal-neighbourhood detector ("Attribution-driven Causal Analysis for Detection of Adversarial Examples") against attacks.

    On the correctly classified images of a fixed seeded subset, every attack of ``attacks`` is
    run at every strength (``eps`` for FGSM, PGD and the adaptive attack, ``cw_kappas`` for CW);
    the causal robustness ``rho`` (``detection.causal_robustness``: the least share of the most
    positively IG-attributed pixels whose masking changes the prediction) is measured on the
    benign images and on the **successful** adversarial ones, and the detector (flag when ``rho``
    is small) is scored. Held out throughout:

    * a ``calibration`` share of the correctly classified images only fits the detector's
      thresholds (never attacked, never scored); the other images are attacked, and their benign
      ``rho`` is what AUCs and false-positive rates are measured on;
    * the universal patches (``patch``: Brown et al.'s loss; ``lavan``: LaVAN's) are optimised
      once per evaluation on training images (the Trainer's training set, or ``patch_images`` of
      :meth:`evaluate`) towards ``patch_target`` and pasted on the scored images at their
      ``placement`` (random by default).

    A detector is only as good as the strongest attack tried: give ``eps`` as a grid and the
    adaptive attack (which knows the detector) to see where it holds and where it breaks. Tags,
    ``<a>`` an attack row (``pgd``, or ``pgd/eps=0.2`` and ``cw/kappa=20`` on a grid):

    * ``detect/<a>/auc``: ROC AUC of ``-rho``, adversarial against held-out benign (ties count half);
    * ``detect/<a>/tpr@fpr=<f>``: the share of adversarial images flagged at the threshold whose
      false-positive rate on the calibration images is at most ``f``, for each of ``target_fprs``;
      ``detect/benign/fpr@fpr=<f>``: the false-positive rate that threshold has on the held-out benign images;
    * ``detect/<a>/success_rate``: share of attacked images the attack fooled (only those are scored),
      ``detect/<a>/confidence``: their mean softmax probability of the adversarial class, and
      ``detect/<a>/low_success``: 1 when ``success_rate < min_success`` (the row describes only the
      easiest images; a warning names it);
    * ``detect/<a>/unchanged@<l>`` and ``detect/benign/unchanged@<l>``, ``l`` = 0.1, 0.2: share of
      images whose prediction survives masking that fraction (the paper's Figure 3 at two points);
    * ``detect/<a>/masked_in_patch`` (patch attacks): share of the pixels masked at
      ``patch_masked_fraction`` that lie inside the patch (the paper's Figures 5-6).

    ``patch_images`` holds the training images and labels the patches are fitted on. After an
    evaluation ``rho`` holds the scored ``rho`` of each kind (``"benign"``, ``"calibration"`` and every row), ``curves`` the unchanged share at every level, ``patches`` the optimised patches.
    In validate/test the whole curve (unchanged share against masked fraction, benign and every row)
    goes to TensorBoard as an image, ``detect/unchanged_curve``.

    Args:
        attacks: the attacks and their hyperparameters (:class:`DetectionAttacks`); default
            ``PAPER_ATTACKS``: FGSM, PGD (20 steps), CW-L2 (1000 steps: with 100 it fools about 10 % of
            MNIST digits), DeepFool (50 steps), a 25 % patch and a 2.8 % LaVAN patch (the paper's share;
            200 steps of 0.02 each).
        eps: the budget of FGSM, PGD and the adaptive attack, pixel units (``"8/255"`` accepted), or a
            strictly increasing grid of budgets (each a row).
        cw_kappas: CW's confidence margins (logit units), each a row; ``None``: the config's ``kappa``.
        min_success: the success rate below which a row is flagged ``low_success`` (default a quarter: the
            row's scores then describe a small, easy minority of the images).
        calibration: the share of correctly classified images that fits the thresholds, in [0, 1);
            0 fits them on the scored benign images themselves (optimistic: the paper's protocol).
        patch_target: the class the universal patches aim at.
        patch_masked_fraction: the masked fraction whose pixels are located for ``masked_in_patch``.
        target_fprs: benign false-positive rates of the TPR tags.
        detector: how ``rho`` is measured (``detection.CausalConfig``: ``granularity``, ``ig_steps``,
            ``fraction_of``, ...; default ``CausalConfig()``).
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 100 images in
            batches of 50, only in validate/test).

    Cost per image: one IG (``ig_steps`` passes) and ``1 / granularity`` forward passes per scored
    image, plus the attacks of every row; each patch ``steps`` mini-batch steps.
    """

    default_schedule = EvaluationSchedule(num_samples=100, every_n_epochs=0, batch_size=50)

    def __init__(
        self,
        *,
        attacks: DetectionAttacks | None = None,
        eps: Budget | Sequence[Budget] = 0.1,
        cw_kappas: Sequence[float] | None = None,
        min_success: float = 0.25,
        calibration: float = 0.5,
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
        grid = budgets([eps] if isinstance(eps, (str, int, float)) else eps, norm="linf", increasing=True)
        self.eps = grid[0][1] if isinstance(eps, (str, int, float)) else [value for _, value in grid]
        if cw_kappas is not None and (not len(cw_kappas) or any(k < 0 for k in cw_kappas) or len(set(cw_kappas)) != len(cw_kappas)):
            raise ValueError(f"cw_kappas must be distinct confidence margins >= 0 (logit units), e.g. [0, 20], got {cw_kappas!r}")
        for value, name, example in ((min_success, "min_success", 0.5), (calibration, "calibration", 0.5)):
            if not 0 <= value < 1 or isinstance(value, bool):
                raise ValueError(f"{name} must be a share in [0, 1), e.g. {example}, got {value!r}")
        if isinstance(patch_target, bool) or not isinstance(patch_target, int) or patch_target < 0:
            raise ValueError(f"patch_target must be a class index >= 0, got {patch_target!r}")
        if not 0 < patch_masked_fraction <= 1:
            raise ValueError(f"patch_masked_fraction must be a masked share in (0, 1], e.g. 0.1, got {patch_masked_fraction}")
        if any(not 0 <= f <= 1 for f in target_fprs):
            raise ValueError(f"target_fprs must be false-positive rates in [0, 1], e.g. [0.05, 0.1], got {list(target_fprs)}")
        self.runs = attack_runs(self.attacks, grid, cw_kappas)
        self.min_success, self.calibration = min_success, calibration
        self.patch_target, self.patch_masked_fraction = patch_target, patch_masked_fraction
        self.target_fprs = [float(f) for f in target_fprs]
        self.detector = detector or CausalConfig()
        self.patch_images: tuple[Tensor, Tensor] | None = None
        self.patches: dict[str, Tensor] = {}
        self.rho: dict[str, Tensor] = {}
        self.curves: dict[str, Tensor] = {}

    @property
    def units_per_batch(self) -> int:
        return 1 + len(self.runs)

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        metrics: dict[str, Metric] = {"detect/benign/rho": CatMetric(), "detect/calibration/rho": CatMetric()}
        for name, run in self.runs.items():
            metrics[f"detect/{name}/rho"] = CatMetric()
            metrics[f"detect/{name}/success_rate"] = MeanMetric()
            metrics[f"detect/{name}/confidence"] = MeanMetric()
            if run.attack in PATCH_ATTACKS:
                metrics[f"detect/{name}/masked_in_patch"] = MeanMetric()
        return metrics

    def evaluate(
        self, model: nn.Module, images: Tensor, labels: Tensor, *, progress: bool = False,
        patch_images: tuple[Tensor, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """As ``EvaluationCallback.evaluate``; first optimises the universal patches (the same on every rank).

        Args:
            patch_images: training images ``(M, C, H, W)`` and labels ``(M,)`` the patches are optimised
                on; ``None``: the attribute ``patch_images`` (set by a Trainer run from its training set), else
                ``images`` themselves (the patches are then scored on the images they were fitted to, which
                flatters the attack; a warning says so).
        """
        patch_attacks = {name: config for name, config in self.attacks.selected().items() if name in PATCH_ATTACKS}
        patch_images = self.patch_images if patch_images is None else patch_images
        if patch_attacks and patch_images is None:
            warnings.warn(
                "DetectionEval: the universal patches are optimised on the images they are scored on; pass "
                "patch_images=(training images, labels) to hold them out", UserWarning, stacklevel=2,
            )
        fit_x, fit_y = patch_images if patch_images is not None else (images, labels)
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(self.schedule.seed)
        with evaluation_mode(model):
            self.patches = {
                name: PATCH_OPTIMISERS[name](
                    model, fit_x.to(device).float(), fit_y.to(device), target=self.patch_target, config=config, generator=generator,
                )
                for name, config in patch_attacks.items()
            }
        return super().evaluate(model, images, labels, progress=progress)

    def attack(self, model: nn.Module, name: str, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(x_adv, success (B,), patch windows (B, 1, H, W) or None)`` of row ``name`` (a key of ``runs``)."""
        run = self.runs[name]
        config = run.config
        if run.attack in PATCH_ATTACKS:
            patch = self.patches[run.attack]
            x_adv, record = patch_attack(model, x, y, patch=patch, target=self.patch_target, placement=config.placement)
            return x_adv, record.success, patch_masks(x.shape, tuple(patch.shape[-2:]), record.locations)
        calls = {
            "fgsm": lambda: fgsm(model, x, y, eps=run.eps, config=config),
            "pgd": lambda: pgd(model, x, y, eps=run.eps, config=config),
            "cw": lambda: cw_l2(model, x, y, config=config),
            "deepfool": lambda: deepfool(model, x, y, config=config),
            "adaptive": lambda: adaptive_attack(model, x, y, eps=run.eps, config=config, detector=self.detector),
        }
        x_adv, record = calls[run.attack]()
        return x_adv, record.success, None

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            correct = model(x).argmax(dim=1) == y
        x, y = x[correct], y[correct]
        held = round(self.calibration * len(x))  # the subset is a seeded permutation: its first images are as good as any
        if held:
            metrics["detect/calibration/rho"].update(causal_robustness(model, x[:held], config=self.detector)[0])
        x, y = x[held:], y[held:]
        if len(x):
            metrics["detect/benign/rho"].update(causal_robustness(model, x, config=self.detector)[0])
        yield
        for name in self.runs:
            if len(x):
                x_adv, success, windows = self.attack(model, name, x, y)
                metrics[f"detect/{name}/success_rate"].update(success.float())
                if success.any():  # one IG pass serves the score and the located mask
                    with torch.no_grad():
                        metrics[f"detect/{name}/confidence"].update(model(x_adv[success]).softmax(dim=1).amax(dim=1))
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
        kinds = ["benign", "calibration", *self.runs]
        self.rho = rho = {kind: cat_values(values.pop(f"detect/{kind}/rho")) for kind in kinds}
        self.curves = {kind: unchanged_fraction(r, levels) for kind, r in rho.items() if len(r) and kind != "calibration"}
        out = dict(values)
        nan = torch.tensor(float("nan"))
        benign = rho["benign"]
        fitted_on = rho["calibration"] if self.calibration else benign
        thresholds = {fpr: threshold_at_fpr(-fitted_on, fpr) if len(fitted_on) else None for fpr in self.target_fprs}
        for fpr, threshold in thresholds.items():
            if self.calibration:
                out[f"detect/benign/fpr@fpr={fpr:g}"] = (-benign >= threshold).float().mean() if threshold is not None and len(benign) else nan
        for kind in ["benign", *self.runs]:
            r = rho[kind]
            for level, index in shown.items():
                out[f"detect/{kind}/unchanged@{level:g}"] = self.curves[kind][index].float() if len(r) else nan
            if kind == "benign":
                continue
            scored = len(r) and len(benign)
            out[f"detect/{kind}/auc"] = torch.tensor(roc_auc(-benign, -r)) if scored else nan
            for fpr, threshold in thresholds.items():
                out[f"detect/{kind}/tpr@fpr={fpr:g}"] = (-r >= threshold).float().mean() if len(r) and threshold is not None else nan
            out[f"detect/{kind}/low_success"] = (out[f"detect/{kind}/success_rate"] < self.min_success).float()
        warn_low_success(out, self.runs, self.min_success)
        return out

    def run(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if any(name in PATCH_ATTACKS for name in self.attacks.selected()):
            self.patch_images = self.training_images(trainer)
        super().run(trainer, pl_module, stage)
        self.log_curve(trainer)

    def training_images(self, trainer: Trainer) -> tuple[Tensor, Tensor] | None:
        """A seeded subset of the Trainer's training set (as large as the evaluated one) for the patches; ``None`` without one."""
        loader = getattr(trainer, "train_dataloader", None)
        if loader is None and trainer.datamodule is not None:
            try:
                trainer.datamodule.setup("fit")
                loader = trainer.datamodule.train_dataloader()
            except Exception:  # a data module that cannot build its training loader outside fit: no training images
                loader = None
        if loader is None:
            return None
        return evaluation_subset(stage_dataset(loader, "train"), self.schedule.num_samples or 1000, self.schedule.seed + 1)

    def log_curve(self, trainer: Trainer) -> None:
        """The unchanged share against the masked fraction, benign and per row, as a figure for every logger."""
        if trainer.is_global_zero and trainer.loggers and self.curves:
            figure = unchanged_curve_figure(self.curves, masking_levels(self.detector.granularity))
            log_figure(trainer, "detect/unchanged_curve", figure)


def warn_low_success(values: dict[str, Tensor], runs: dict[str, AttackRun], min_success: float) -> None:
    """One warning naming the rows whose attack fooled fewer than ``min_success`` of the images."""
    low = [f"{name} ({float(values[f'detect/{name}/success_rate']):.2f})" for name in runs if values[f"detect/{name}/low_success"]]
    if low:
        warnings.warn(
            f"DetectionEval: {', '.join(low)} fooled fewer than min_success={min_success:g} of the images, so their AUC and "
            "TPR describe only the easiest images; strengthen those attacks (more steps, a larger eps, CW's binary search) "
            "before reading them as the detector's", UserWarning, stacklevel=3,
        )

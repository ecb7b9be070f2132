"""``DetectionEval``: how well causal-neighbourhood masking tells adversarial inputs from benign ones, per attack."""

from collections.abc import Iterator, Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torchmetrics import CatMetric, MeanMetric, Metric

from .._lightning import LightningModule, Trainer
from .._validation import check_eps, check_positive_int
from ..attacks import adversarial_patch, cw_l2, deepfool, fgsm, lavan, patch_attack, pgd
from ..attacks.patch.placement import patch_masks
from ..detection import causal_robustness, masking_levels, roc_auc, tpr_at_fpr, unchanged_fraction
from ..detection.causal import ranked_pixels, region_of, robustness_of
from ..detection.figure import unchanged_curve_figure
from ..models import evaluation_mode
from ._cat import cat_values
from .evaluation_callback import EvaluationCallback, NetworkChoice
from .figures import log_figure

DETECTION_ATTACKS = ("fgsm", "pgd", "cw", "deepfool", "patch", "lavan")
PATCH_ATTACKS = ("patch", "lavan")
SHOWN_LEVELS = (0.1, 0.2)


class DetectionEval(EvaluationCallback):
    """The causal-neighbourhood detector ("Attribution-driven Causal Analysis for Detection of Adversarial Examples") against attacks.

    On the correctly classified images of a fixed seeded subset, every attack in ``attacks`` is
    run; the causal robustness ``rho`` (``detection.causal_robustness``: the least share of the
    most positively IG-attributed pixels whose masking changes the prediction) is measured on the
    benign images and on the **successful** adversarial ones, and the detector (flag when
    ``rho`` is small) is scored. The benign images of the subset calibrate its thresholds.
    The universal patches (``patch``: Brown et al.'s loss; ``lavan``: LaVAN's, smaller) are
    optimised once per evaluation on the subset's images towards ``patch_target`` and pasted at
    random places. Tags, ``<a>`` an attack:

    * ``detect/<a>/auc``: ROC AUC of ``-rho``, adversarial against benign (ties count half);
    * ``detect/<a>/tpr@fpr=<f>``: the share of adversarial images flagged at the threshold whose
      benign false-positive rate is at most ``f``, for each of ``target_fprs``;
    * ``detect/<a>/success_rate``: share of attacked images the attack fooled (only those are scored);
    * ``detect/<a>/unchanged@<l>`` and ``detect/benign/unchanged@<l>``, ``l`` = 0.1, 0.2: share of
      images whose prediction survives masking that fraction (the paper's Figure 3 at two points);
    * ``detect/<a>/masked_in_patch`` (patch attacks): share of the pixels masked at
      ``patch_masked_fraction`` that lie inside the patch (the paper's Figures 5-6).

    After an evaluation ``rho`` holds the scored ``rho`` of each kind (``"benign"`` and every attack),
    ``curves`` the unchanged share at every level, ``patches`` the optimised patches. In validate/test the whole curve (unchanged share against masked fraction, benign and every
    attack) goes to TensorBoard as an image, ``detect/unchanged_curve``.

    Args:
        attacks: from ``fgsm, pgd, cw, deepfool, patch, lavan``.
        eps: the L-inf budget of FGSM and PGD, in units of ``1 / eps_scale``.
        pgd_steps, cw_steps, deepfool_steps: iterations of those attacks.
        patch_size, lavan_size: the patches' share of the image area (on MNIST a natural Small is fooled by
            about 60 % / 20 % of random-placed 25 % / 15 % patches; smaller ones rarely succeed).
        patch_steps: optimisation steps of each universal patch; patch_target: their target class.
        patch_masked_fraction: the masked fraction whose pixels are located for ``masked_in_patch``.
        target_fprs: benign false-positive rates of the TPR tags.
        granularity, ig_steps, fraction_of: see ``detection.causal_robustness``.
        num_samples, every_n_epochs, batch_size, seed, progress, network: see ``EvaluationCallback``.

    Cost per image: one IG (``ig_steps`` passes) and ``1 / granularity`` forward passes per scored
    image, plus the attacks; the patches ``patch_steps`` mini-batch steps each.
    """

    def __init__(
        self,
        *,
        attacks: Sequence[str] = DETECTION_ATTACKS,
        eps: float = 0.1,
        eps_scale: float = 1.0,
        pgd_steps: int = 20,
        cw_steps: int = 100,
        deepfool_steps: int = 50,
        patch_size: float = 0.25,
        lavan_size: float = 0.15,
        patch_steps: int = 200,
        patch_target: int = 0,
        patch_masked_fraction: float = 0.1,
        target_fprs: Sequence[float] = (0.05, 0.1, 0.2),
        granularity: float = 0.05,
        ig_steps: int = 50,
        fraction_of: Literal["positive", "all"] = "positive",
        num_samples: int | None = 100,
        every_n_epochs: int = 0,
        batch_size: int = 50,
        seed: int = 0,
        progress: bool = True,
        network: NetworkChoice = None,
    ) -> None:
        super().__init__(
            num_samples=num_samples, every_n_epochs=every_n_epochs, batch_size=batch_size, seed=seed, progress=progress, network=network
        )
        unknown = sorted(set(attacks) - set(DETECTION_ATTACKS))
        if unknown or not attacks:
            raise ValueError(f"attacks must be a non-empty subset of {', '.join(DETECTION_ATTACKS)}, got {list(attacks)}")
        self.eps = eps / eps_scale
        check_eps(self.eps)
        for name, value in (("pgd_steps", pgd_steps), ("cw_steps", cw_steps), ("deepfool_steps", deepfool_steps), ("patch_steps", patch_steps)):
            check_positive_int(value, name)
        if any(not 0 <= f <= 1 for f in target_fprs):
            raise ValueError(f"target_fprs must lie in [0, 1], got {list(target_fprs)}")
        masking_levels(granularity)  # checks it
        self.attacks, self.target_fprs = list(attacks), [float(f) for f in target_fprs]
        self.steps = {"pgd": pgd_steps, "cw": cw_steps, "deepfool": deepfool_steps, "patch": patch_steps}
        self.patch_sizes = {"patch": patch_size, "lavan": lavan_size}
        self.patch_target, self.patch_masked_fraction = patch_target, patch_masked_fraction
        self.detector = dict(granularity=granularity, ig_steps=ig_steps, fraction_of=fraction_of)
        self.patches: dict[str, Tensor] = {}
        self.rho: dict[str, Tensor] = {}
        self.curves: dict[str, Tensor] = {}

    @property
    def units_per_batch(self) -> int:
        return 1 + len(self.attacks)

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        metrics: dict[str, Metric] = {"detect/benign/rho": CatMetric()}
        for attack in self.attacks:
            metrics[f"detect/{attack}/rho"] = CatMetric()
            metrics[f"detect/{attack}/success_rate"] = MeanMetric()
            if attack in PATCH_ATTACKS:
                metrics[f"detect/{attack}/masked_in_patch"] = MeanMetric()
        return metrics

    def evaluate(self, model: nn.Module, images: Tensor, labels: Tensor, *, progress: bool = False) -> dict[str, Tensor]:
        """As ``EvaluationCallback.evaluate``; first optimises the universal patches on ``images`` (the same on every rank)."""
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(self.seed)
        optimisers = {"patch": adversarial_patch, "lavan": lavan}
        with evaluation_mode(model):
            self.patches = {
                name: optimisers[name](
                    model, images.to(device).float(), labels.to(device), target=self.patch_target, size=self.patch_sizes[name],
                    steps=self.steps["patch"], step_size=0.02, placement="random", generator=generator,
                )
                for name in self.attacks if name in PATCH_ATTACKS
            }
        return super().evaluate(model, images, labels, progress=progress)

    def attack(self, model: nn.Module, name: str, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(x_adv, success (B,), patch windows (B, 1, H, W) or None)`` of attack ``name``."""
        if name in PATCH_ATTACKS:
            patch = self.patches[name]
            x_adv, record = patch_attack(model, x, y, patch=patch, target=self.patch_target, placement="random")
            return x_adv, record.success, patch_masks(x.shape, tuple(patch.shape[-2:]), record.locations)
        runs = {
            "fgsm": lambda: fgsm(model, x, y, eps=self.eps),
            "pgd": lambda: pgd(model, x, y, eps=self.eps, steps=self.steps["pgd"]),
            "cw": lambda: cw_l2(model, x, y, steps=self.steps["cw"]),
            "deepfool": lambda: deepfool(model, x, y, steps=self.steps["deepfool"]),
        }
        x_adv, record = runs[name]()
        return x_adv, record.success, None

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            correct = model(x).argmax(dim=1) == y
        x, y = x[correct], y[correct]
        if len(x):
            metrics["detect/benign/rho"].update(causal_robustness(model, x, **self.detector)[0])
        yield
        for name in self.attacks:
            if len(x):
                x_adv, success, windows = self.attack(model, name, x, y)
                metrics[f"detect/{name}/success_rate"].update(success.float())
                if success.any():  # one IG pass serves the score and the located mask
                    ranking = ranked_pixels(model, x_adv[success], ig_steps=self.detector["ig_steps"], baseline=0.0,
                                            fraction_of=self.detector["fraction_of"])
                    rho, _ = robustness_of(model, ranking, granularity=self.detector["granularity"], batch_size=512)
                    metrics[f"detect/{name}/rho"].update(rho)
                    if windows is not None:
                        masked = region_of(ranking, self.patch_masked_fraction)
                        inside = (masked & windows[success, 0]).flatten(1).sum(1) / masked.flatten(1).sum(1).clamp_min(1)
                        metrics[f"detect/{name}/masked_in_patch"].update(inside)
            yield

    def summarize(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        levels = masking_levels(self.detector["granularity"])
        shown = {level: int(torch.argmin((levels - level).abs())) for level in SHOWN_LEVELS}
        self.rho = rho = {kind: cat_values(values.pop(f"detect/{kind}/rho")) for kind in ["benign", *self.attacks]}
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
            log_figure(trainer, "detect/unchanged_curve", unchanged_curve_figure(self.curves, masking_levels(self.detector["granularity"])))


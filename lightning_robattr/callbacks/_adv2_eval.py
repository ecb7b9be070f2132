"""``ADV2Eval``: ADV2 against each interpreter beside targeted PGD, with the transfer matrix and the ensemble check as options."""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import CatMetric, MeanMetric, Metric

from .._lightning import LightningModule, Trainer
from .._validation import renamed_keywords
from ..attacks._budget import Budget, budgets
from ..attacks._explanation.adv2 import adv2, adv2_schedule, longest_schedule
from ..attacks._explanation.interpreter_transfer import PGD_ROW, TRANSFER_MEASURES, transfer_measures
from ..attacks._explanation.interpreters import interpreter_map, options_per_interpreter
from ..attacks._targets import random_targets
from ..detection._ensemble import ensemble_agreement, screening_rates
from ._cat import cat_values
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule
from ._figures import log_figure

MEASURES = ("success_rate", "iou", "l1", "l2", "confidence", "interpretation_loss")
ADAPTIVE = "adaptive"


def transfer_figure(
    matrix: Tensor, rows: Sequence[str], columns: Sequence[str], *, title: str = "transfer across interpreters",
    measure: str = "L1 / (h w) to the benign map",
):
    """A matplotlib heatmap of a transfer matrix ``(rows, columns)`` in [0, 1] of ``measure``, each cell written out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(1.3 * len(columns) + 2.5, 0.6 * len(rows) + 1.8))
    image = axis.imshow(matrix.numpy(), vmin=0, vmax=1, cmap="viridis")
    for r in range(matrix.shape[0]):
        for c in range(matrix.shape[1]):
            value = float(matrix[r, c])
            axis.text(c, r, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
    axis.set_xticks(range(len(columns)), list(columns))
    axis.set_yticks(range(len(rows)), list(rows))
    axis.set_xlabel("interpreter the adversarial images are scored on")
    axis.set_ylabel("attack")
    axis.set_title(title)
    figure.colorbar(image, ax=axis, label=measure)
    figure.tight_layout()
    return figure


class ADV2Eval(EvaluationCallback):
    """ADV2 ("Interpretable Deep Learning under Fire") on each interpreter, against targeted PGD of the same budget.

    Every image gets one random target class ``t'`` (per batch seed) shared by all attacks. Per
    interpreter ``g`` and budget, ``attacks.adv2`` with ``g``'s schedule (times ``schedule_scale``)
    and targeted PGD with as many steps, logged over the successful images as

    * ``adv2/<g>/eps=<e>/<measure>`` and ``adv2/<g>/eps=<e>/pgd/<measure>``, measures ``success_rate``,
      ``iou`` (with the benign map; higher = better hidden), ``l1`` (L1 / (h w)), ``l2`` (L2 / sqrt(h w)),
      ``confidence`` (``p(t')``) and ``interpretation_loss`` (mean squared difference).

    With ``transfer``: ``adv2/<g>/eps=<e>/transfer/<g'>/{l1,iou}`` for every pair (ADV2 against ``g``
    scored on ``g'`` against its benign map; ``g = pgd`` for the PGD images of the longest schedule's
    budget), and the L1 matrix (the paper's measure) as a TensorBoard figure ``adv2/eps=<e>/transfer``.
    With ``ensemble``: the mean pairwise IoU of all interpreters' maps as a detection score
    (``detection.ensemble_agreement``), thresholded on the clean subset (or on the ``calibration``
    images given to ``evaluate``), against each attack and the adaptive ADV2 on all interpreters at
    once: ``adv2/ensemble/eps=<e>/<attack>/{auc,tpr@fpr=<f>,degenerate_rate}`` (attacks ``<g>``,
    ``pgd``, ``adaptive``), and the clean subset's ``adv2/ensemble/eps=<e>/benign/{fpr@fpr=<f>,degenerate_rate}``.
    Images with NaN agreement (every pair of maps constant) are left out of the rates and counted in
    ``degenerate_rate`` (``detection.ensemble.screening_rates``).

    Args:
        methods: the interpreters' names (``grad``, ``cam``, ``mask``, ``rts`` or any ``get_attribution`` name;
            formerly ``interpreters``).
        method_options: options per name; ``rts`` needs ``{"saliency_net": "<RTSModule checkpoint>"}``
            (formerly ``interpreter_options``).
        eps: budgets in pixel units (the paper: 0.031 on ImageNet; ``"8/255"`` accepted).
        schedule_scale: multiplies the step counts of every schedule (``attacks.ADV2_SCHEDULES``).
        step_size: the signed step in pixel units (1/255).
        transfer, ensemble, target_fprs: the options above.
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 100 images in batches of 50, validate/test only).

    Cost per image and budget: twice the schedules' steps per interpreter (ADV2, PGD), plus the
    adaptive attack with ``ensemble``; MASK's maps cost ``iterations`` steps each.
    """

    default_schedule = EvaluationSchedule(every_n_epochs=0)

    @renamed_keywords(interpreters="methods", interpreter_options="method_options")
    def __init__(
        self,
        *,
        methods: Sequence[str] = ("grad", "cam", "mask"),
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        eps: Sequence[Budget] = (0.3,),
        schedule_scale: float = 1.0,
        step_size: float = 1 / 255,
        transfer: bool = False,
        ensemble: bool = False,
        target_fprs: Sequence[float] = (0.05,),
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        self.methods = list(methods)
        self.options = options_per_interpreter(self.methods, method_options)
        if ensemble and len(self.methods) < 2:
            raise ValueError(f"the ensemble check compares at least two interpreters, got {self.methods}")
        if schedule_scale <= 0:
            raise ValueError(f"schedule_scale must be positive, got {schedule_scale}")
        self.budgets = budgets(eps, norm="linf")
        self.schedules = {name: adv2_schedule(name).scaled(schedule_scale) for name in self.methods}
        self.adaptive_schedule = adv2_schedule(self.methods).scaled(schedule_scale)
        self.pgd_source = longest_schedule(self.schedules)
        self.step_size, self.transfer, self.ensemble, self.target_fprs = step_size, transfer, ensemble, list(target_fprs)
        self.calibration_scores: Tensor | None = None

    @property
    def units_per_batch(self) -> int:
        return len(self.budgets) * (len(self.methods) + int(self.ensemble))

    @property
    def ensemble_attacks(self) -> list[str]:
        return [*self.methods, PGD_ROW, ADAPTIVE]

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        metrics: dict[str, Metric] = {}
        for label, _ in self.budgets:
            for name in self.methods:
                for prefix in (f"adv2/{name}/{label}", f"adv2/{name}/{label}/pgd"):
                    metrics.update({f"{prefix}/{measure}": MeanMetric() for measure in MEASURES})
            if self.transfer:
                for row in [*self.methods, PGD_ROW]:
                    metrics.update({f"adv2/{row}/{label}/transfer/{column}/{m}": MeanMetric() for column in self.methods for m in TRANSFER_MEASURES})
            if self.ensemble:
                # keep NaN scores (undefined agreement): summarize counts them as degenerate
                metrics[f"adv2/ensemble/{label}/benign_scores"] = CatMetric(nan_strategy="disable")
                metrics.update({f"adv2/ensemble/{label}/{attack}/scores": CatMetric(nan_strategy="disable") for attack in self.ensemble_attacks})
        return metrics

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            target = random_targets(y, model(x[:1]).shape[1], generator=None)
        benign = {name: interpreter_map(model, x, y, name, self.options[name]) for name in self.methods}
        benign_scores = self.ensemble_score(model, x) if self.ensemble else None
        for label, eps in self.budgets:
            common = dict(target=target, method_options=self.options, eps=eps, step_size=self.step_size)
            if benign_scores is not None:
                metrics[f"adv2/ensemble/{label}/benign_scores"].update(benign_scores)
            for name in self.methods:
                for row, schedule in ((name, self.schedules[name]), (PGD_ROW, self.schedules[name].prediction_only())):
                    x_adv, record = adv2(model, x, y, method=name, target_map=benign[name], schedule=schedule, **common)
                    done = record.success.bool()
                    prefix = f"adv2/{name}/{label}" + ("/pgd" if row == PGD_ROW else "")
                    metrics[f"{prefix}/success_rate"].update(done.float())
                    for measure in MEASURES[1:]:
                        metrics[f"{prefix}/{measure}"].update(getattr(record, measure)[done])
                    if row == PGD_ROW and name != self.pgd_source:
                        continue  # one PGD row for the transfer matrix and the ensemble check
                    if self.transfer:
                        for column, values in transfer_measures(model, x_adv, target, benign, self.options).items():
                            for measure, value in values.items():
                                metrics[f"adv2/{row}/{label}/transfer/{column}/{measure}"].update(value[done])
                    if self.ensemble and done.any():
                        metrics[f"adv2/ensemble/{label}/{row}/scores"].update(self.ensemble_score(model, x_adv[done]))
                yield
            if self.ensemble:
                x_adv, record = adv2(model, x, y, method=self.methods, target_map=benign, schedule=self.adaptive_schedule, **common)
                done = record.success.bool()
                if done.any():
                    metrics[f"adv2/ensemble/{label}/{ADAPTIVE}/scores"].update(self.ensemble_score(model, x_adv[done]))
                yield

    def ensemble_score(self, model: nn.Module, x: Tensor) -> Tensor:
        """``(B,)``: ``1 - ensemble_agreement`` of the interpreters (larger: more suspicious; NaN where every pair of maps is constant)."""
        return 1 - ensemble_agreement(model, x, self.methods, method_options=self.options)

    def evaluate(self, model: nn.Module, images: Tensor, labels: Tensor, *, progress: bool = False, calibration: Tensor | None = None) -> dict[str, Tensor]:
        """``EvaluationCallback.evaluate``, with ``calibration``: benign images ``(N', C, H, W)`` disjoint from ``images``
        that fix the ensemble check's threshold; by default the threshold is fitted on ``images`` themselves, so the
        logged benign false-positive rate is in-sample."""
        self.calibration_scores = None
        if calibration is not None and self.ensemble:
            device = next(model.parameters()).device
            parts = calibration.split(self.schedule.batch_size)
            self.calibration_scores = torch.cat([self.ensemble_score(model, part.to(device).float()).cpu() for part in parts])
        return super().evaluate(model, images, labels, progress=progress)

    def summarize(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """Turn the ensemble scores into AUC, TPR and the benign FPR at each target FPR, and the degenerate rates
        (successful images only; NaN where none)."""
        out = {tag: value for tag, value in values.items() if not tag.endswith("scores")}
        for label, _ in self.budgets if self.ensemble else ():
            benign = cat_values(values[f"adv2/ensemble/{label}/benign_scores"])
            calibration = benign if self.calibration_scores is None else self.calibration_scores
            for name, scores in {"benign": benign, **{a: cat_values(values[f"adv2/ensemble/{label}/{a}/scores"]) for a in self.ensemble_attacks}}.items():
                rate = "fpr" if name == "benign" else "tpr"
                for fpr in self.target_fprs:
                    out[f"adv2/ensemble/{label}/{name}/{rate}@fpr={fpr:g}"] = torch.tensor(screening_rates(calibration, benign, scores, fpr)[rate])
                screened = screening_rates(calibration, benign, scores, 0.0)
                out[f"adv2/ensemble/{label}/{name}/degenerate_rate"] = torch.tensor(screened["degenerate_rate"])
                if name != "benign":
                    out[f"adv2/ensemble/{label}/{name}/auc"] = torch.tensor(screened["auc"])
        return out

    def transfer_matrix(self, label: str) -> Tensor:
        """``(interpreters + 1, interpreters)``: the last ``transfer`` L1 values of budget ``label`` (rows: each interpreter, then ``pgd``)."""
        rows = [*self.methods, PGD_ROW]
        return torch.tensor([[self.results[f"adv2/{row}/{label}/transfer/{column}/l1"] for column in self.methods] for row in rows])

    def run(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().run(trainer, pl_module, stage)
        if self.transfer:
            self.log_transfer(trainer)

    def log_transfer(self, trainer: Trainer) -> None:
        """Each budget's transfer matrix as a figure for every logger."""
        if not (trainer.is_global_zero and trainer.loggers):
            return
        rows = [f"ADV2 vs {g}" for g in self.methods] + ["targeted PGD"]
        for label, _ in self.budgets:
            figure = transfer_figure(self.transfer_matrix(label), rows, self.methods, title=f"transfer across interpreters, {label}")
            log_figure(trainer, f"adv2/{label}/transfer", figure)

"""The ensemble-interpretation check ("Interpretable Deep Learning under Fire"): flag inputs whose interpreters disagree."""

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import renamed_keywords
from ..attacks._explanation.adv2 import adv2, adv2_schedule, longest_schedule
from ..attacks._explanation.interpreters import interpreter_map, options_per_interpreter
from ..attacks._targets import random_targets
from ..metrics.functional import IOU_GRID, iou
from ..models import evaluation_mode
from ._metrics import defined_scores, roc_auc, threshold_at_fpr
from ._threshold import ThresholdDetector


@renamed_keywords(interpreters="methods", interpreter_options="method_options")
def ensemble_agreement(
    model: nn.Module,
    x: Tensor,
    methods: Sequence[str],
    *,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    label: Tensor | None = None,
    k: Sequence[float] = IOU_GRID,
) -> Tensor:
    """``(B,)`` in [0, 1]: the mean pairwise IoU (``metrics.functional.iou`` over ``k``) of the interpreters' maps.

    Each interpreter's map of ``label`` (``interpreters.interpreter_map``) (default the predicted class) is upsampled
    (bilinear) to the image size, so maps on different grids (CAM 7 x 7, MASK at full size) are
    compared cell for cell. Identical interpreters agree with 1. A pair in which either map is
    constant has no IoU (NaN, see ``metrics.functional.iou``) and is left out of the mean; an image
    with no defined pair gets NaN.

    Args:
        model: classifier on pixel-space images; x: ``(B, C, H, W)`` in [0, 1].
        methods: the interpreters, at least two names (``grad``, ``cam``, ``mask``, ``rts`` or any
            ``get_attribution`` name; formerly ``interpreters``).
        method_options: options per name, as for ``attacks.adv2`` (formerly ``interpreter_options``).
    """
    if len(methods) < 2:
        raise ValueError(f"the ensemble check compares at least two interpreters, got {list(methods)}")
    options = options_per_interpreter(methods, method_options)
    with evaluation_mode(model):
        if label is None:
            with torch.no_grad():
                label = model(x).argmax(dim=1)
        maps = []
        for name in methods:
            grid = interpreter_map(model, x, label, name, options[name])
            maps.append(F.interpolate(grid[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0])
    pairs = [iou(a, b, k=k, channel_rule=None) for a, b in itertools.combinations(maps, 2)]
    return torch.stack(pairs).nanmean(dim=0)


class EnsembleDetector(ThresholdDetector):
    """Flags inputs on which the interpreters disagree: ``score(x) = 1 - ensemble_agreement(x)``, thresholded at ``target_fpr``.

    An image whose every pair has a constant map scores NaN: ``fit`` leaves it out of the threshold
    (``undefined_rate``) and ``predict`` does **not** flag it. The check has no evidence of
    disagreement there, and flagging would add every such benign image to the false-positive rate,
    a share ``target_fpr`` cannot bound. An attack may aim for constant maps to pass unflagged, so
    find them with ``score(x).isnan()``; ``ensemble_check`` reports their share per attack.

    Example:
        >>> from lightning_robattr.models import Small
        >>> detector = EnsembleDetector(Small(), ["grad", "cam"], target_fpr=0.1).fit(torch.rand(8, 1, 28, 28))
        >>> detector.predict(torch.rand(3, 1, 28, 28)).shape
        torch.Size([3])
    """

    @renamed_keywords(interpreters="methods", interpreter_options="method_options")
    def __init__(
        self,
        model: nn.Module,
        methods: Sequence[str],
        *,
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        target_fpr: float = 0.05,
    ) -> None:
        super().__init__(target_fpr)
        self.model, self.methods, self.method_options = model, list(methods), method_options

    def score(self, x: Tensor) -> Tensor:
        """``(B,)``: ``1 - ensemble_agreement``: larger means more suspicious; NaN where every pair has a constant map."""
        return 1 - ensemble_agreement(self.model, x, self.methods, method_options=self.method_options)


def screening_rates(calibration: Tensor, benign: Tensor, adversarial: Tensor, target_fpr: float) -> dict[str, float]:
    """How the ensemble check screens one attack, NaN scores (undefined agreement) left out everywhere.

    Args:
        calibration: benign scores ``(N_c,)`` that fix the threshold at ``target_fpr`` (``threshold_at_fpr``).
        benign: benign scores ``(N_b,)`` scored at that threshold; held out when disjoint from ``calibration``.
        adversarial: scores ``(N_a,)`` of the attack's successful images.

    Returns:
        ``tpr`` (share of the defined ``adversarial`` flagged), ``fpr`` (of the defined ``benign``),
        ``auc`` (``roc_auc(benign, adversarial)``), ``degenerate_rate`` (share of ``adversarial`` that
        is NaN) and ``threshold``; NaN where a set has no defined score.
    """
    calibration, benign, (adversarial, degenerate) = defined_scores(calibration)[0], defined_scores(benign)[0], defined_scores(adversarial)
    threshold = threshold_at_fpr(calibration, target_fpr) if len(calibration) else math.nan

    def flagged(scores: Tensor) -> float:
        return float((scores >= threshold).double().mean()) if len(scores) and len(calibration) else math.nan

    auc = roc_auc(benign, adversarial) if len(benign) and len(adversarial) else math.nan
    return {"tpr": flagged(adversarial), "fpr": flagged(benign), "auc": auc, "degenerate_rate": degenerate, "threshold": threshold}


class EnsembleCheck(NamedTuple):
    """How well the ensemble check catches each attack; images with NaN agreement (every pair of maps
    constant) are left out of every rate and counted in ``degenerate_rate``.

    Attributes:
        attacks: ``"adv2:<interpreter>"`` per interpreter, ``"pgd"`` (targeted), ``"adv2:adaptive"`` (all interpreters at once).
        success_rate: ``(attacks,)``: the share of images classified as the target.
        tpr: ``(attacks,)``: the share of successful adversarial images flagged at the threshold.
        auc: ``(attacks,)``: ROC AUC of successful adversarial against benign scores of ``x`` (NaN where none succeeded).
        threshold: the score threshold fitted on the calibration images at ``target_fpr``.
        degenerate_rate: ``(attacks,)``: the share of successful adversarial images with NaN agreement.
        benign_fpr: the share of ``x``'s benign images flagged (held out when calibrated on other images).
        benign_degenerate_rate: the share of ``x``'s benign images with NaN agreement.
    """

    attacks: list[str]
    success_rate: Tensor
    tpr: Tensor
    auc: Tensor
    threshold: float
    degenerate_rate: Tensor
    benign_fpr: float
    benign_degenerate_rate: float


@renamed_keywords(interpreters="methods", interpreter_options="method_options")
def ensemble_check(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    methods: Sequence[str] = ("grad", "cam", "mask", "rts"),
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    benign: Tensor | None = None,
    target_fpr: float = 0.05,
    eps: float = 0.031,
    schedule_scale: float = 1.0,
    step_size: float = 1 / 255,
    generator: torch.Generator | None = None,
) -> EnsembleCheck:
    """The ensemble check against ADV2 on each interpreter, targeted PGD and the adaptive ADV2 on all, to the same targets.

    The threshold is fitted at ``target_fpr`` on ``benign`` ``(N', C, H, W)``, calibration images
    disjoint from ``x`` (default ``x`` itself, which makes ``benign_fpr`` in-sample). TPR and AUC are
    computed on each attack's successful images, against ``x``'s benign scores for AUC
    (``screening_rates``). ``schedule_scale`` multiplies every schedule's step counts.
    ``methods`` and ``method_options`` (formerly ``interpreters`` and ``interpreter_options``): as for ``ensemble_agreement``.

    Cost: the attacks (see ``attacks.adv2``) plus one ensemble map per image and attack, and per calibration image.
    """
    detector = EnsembleDetector(model, methods, method_options=method_options, target_fpr=target_fpr)
    benign_scores = detector.score(x)
    calibration = benign_scores if benign is None else detector.score(benign)
    with evaluation_mode(model), torch.no_grad():
        target = random_targets(y, model(x[:1]).shape[1], generator=generator)
    schedules = {name: adv2_schedule(name).scaled(schedule_scale) for name in methods}
    runs = {f"adv2:{name}": (name, schedule) for name, schedule in schedules.items()}
    source = longest_schedule(schedules)
    runs["pgd"] = (source, schedules[source].prediction_only())
    runs["adv2:adaptive"] = (list(methods), adv2_schedule(list(methods)).scaled(schedule_scale))
    rates: dict[str, list[float]] = {"success_rate": [], "tpr": [], "auc": [], "degenerate_rate": []}
    for name, schedule in runs.values():
        x_adv, record = adv2(
            model, x, y, target=target, method=name, method_options=method_options,
            eps=eps, schedule=schedule, step_size=step_size,
        )
        done = record.success.bool()
        screened = screening_rates(calibration, benign_scores, detector.score(x_adv[done]) if done.any() else x_adv.new_zeros(0), target_fpr)
        rates["success_rate"].append(done.float().mean().item())
        for key in ("tpr", "auc", "degenerate_rate"):
            rates[key].append(screened[key])
    on_benign = screening_rates(calibration, benign_scores, benign_scores, target_fpr)
    per_attack = {key: torch.tensor(values) for key, values in rates.items()}
    return EnsembleCheck(
        list(runs), threshold=on_benign["threshold"], benign_fpr=on_benign["fpr"],
        benign_degenerate_rate=on_benign["degenerate_rate"], **per_attack,
    )

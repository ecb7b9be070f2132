"""Transfer across interpreters: ADV2 built against one interpreter, scored on every other (the ADV2 paper's Observation 7)."""

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..._validation import renamed_keywords
from ...metrics.functional import iou
from ...models import evaluation_mode
from .._targets import random_targets
from .adv2 import ADV2Schedule, adv2, adv2_schedule, longest_schedule
from .interpreters import interpreter_map, map_distances, options_per_interpreter

PGD_ROW = "pgd"
TRANSFER_MEASURES = ("l1", "iou")


class InterpreterTransfer(NamedTuple):
    """The transfer matrix of one batch.

    Attributes:
        rows: the attacks: ``"adv2:<interpreter>"`` per attacked interpreter, then ``"pgd"`` (targeted PGD).
        columns: the interpreters each attack's images are scored on.
        iou: ``(rows, columns)``: mean IoU between the scored interpreter's map of ``t'`` at ``x'`` and
            its benign map (higher: better hidden), over the images the row's attack made successful whose
            IoU is defined (NaN if none; an image with a constant map has no IoU).
        success_rate: ``(rows,)``: the fraction classified as ``t'``.
        l1: ``(rows, columns)``: the same with the L1 distance over ``h w`` (the paper's transfer
            measure; lower: better hidden), over all the successful images.
    """

    rows: list[str]
    columns: list[str]
    iou: Tensor
    success_rate: Tensor
    l1: Tensor


@renamed_keywords(interpreters="methods", interpreter_options="method_options")
def interpreter_transfer(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    methods: Sequence[str] = ("grad", "cam", "mask", "rts"),
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    target: Tensor | None = None,
    eps: float = 0.031,
    schedule_scale: float = 1.0,
    step_size: float = 1 / 255,
    pgd: bool = True,
    generator: torch.Generator | None = None,
) -> InterpreterTransfer:
    """ADV2 against each of ``methods`` (its own schedule, times ``schedule_scale``), then targeted PGD with the
    longest of those budgets, all to the same targets; each attack's images scored on every interpreter.

    The paper's Observation 7 compares the L1 distances: a low diagonal, and off it values near the
    PGD row's, mean that an attack tailored to one interpreter does not hide from another, which is
    what motivates checking several interpreters at once (``detection.ensemble``).

    Args:
        model: classifier on pixel-space images; x, y: benign images ``(B, C, H, W)`` in [0, 1] and labels ``(B,)``.
        methods, method_options: the interpreters and their options, as ``method`` and ``method_options`` of ``adv2``
            (``{"rts": {"saliency_net": ...}}``; formerly ``interpreters`` and ``interpreter_options``).
        target: target labels ``(B,)``; default a uniform other class drawn with ``generator``.
        eps, step_size: the budget and step in pixel units (0.031 and 1/255).
        schedule_scale: multiplies every schedule's step counts (``ADV2Schedule.scaled``).
        pgd: add the targeted-PGD row.

    Cost: the sum of the attacks' costs, plus ``rows x columns`` maps.
    """
    options = options_per_interpreter(methods, method_options)
    with evaluation_mode(model):
        if target is None:
            with torch.no_grad():
                target = random_targets(y, model(x[:1]).shape[1], generator=generator)
        benign = {name: interpreter_map(model, x, y, name, options[name]) for name in methods}
        schedules: dict[str, ADV2Schedule] = {name: adv2_schedule(name).scaled(schedule_scale) for name in methods}
        attacks = {f"adv2:{name}": (name, schedules[name]) for name in methods}
        if pgd:
            source = longest_schedule(schedules)
            attacks[PGD_ROW] = (source, schedules[source].prediction_only())
        means: dict[str, list[list[float]]] = {measure: [] for measure in TRANSFER_MEASURES}
        rates = []
        for name, schedule in attacks.values():
            x_adv, record = adv2(
                model, x, y, target=target, method=name, method_options=options, target_map=benign[name],
                eps=eps, schedule=schedule, step_size=step_size,
            )
            done = record.success.bool()
            scored = transfer_measures(model, x_adv, target, benign, options)
            for measure, row in means.items():  # nanmean: a constant map has no IoU
                row.append([values[measure][done].nanmean().item() if done.any() else math.nan for values in scored.values()])
            rates.append(done.float().mean().item())
    return InterpreterTransfer(list(attacks), list(methods), torch.tensor(means["iou"]), torch.tensor(rates), torch.tensor(means["l1"]))


def transfer_measures(
    model: nn.Module, x_adv: Tensor, target: Tensor, benign: Mapping[str, Tensor], options: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Tensor]]:
    """Per interpreter ``g'`` of ``benign``: ``{"l1": (B,), "iou": (B,)}`` of ``g'``'s map of ``target`` at ``x_adv`` against
    its benign map ``benign[g']``: the L1 distance over ``h w`` (``map_distances``) and the IoU."""
    out = {}
    for column, wanted in benign.items():
        maps = interpreter_map(model, x_adv, target, column, options.get(column))
        out[column] = {"l1": map_distances(maps, wanted)["l1"], "iou": iou(maps, wanted)}
    return out

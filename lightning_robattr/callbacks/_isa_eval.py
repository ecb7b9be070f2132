"""``ISAEval``: how well an interpretation exposes interpretability sneaking attacks (NDS and NSL)."""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from .._validation import check_choice
from ..attacks._explanation.isa import CLASS_SETS, ISAConfig, isa
from ..attacks._targets import random_targets
from ..attributions import attribution_record, get_attribution
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule

NSL_SCALES = ("point", "image")


class ISAEval(EvaluationCallback):
    """ISA ("Proper Network Interpretability Helps Adversarial Robustness", problem 6 and Table 1) per class set and norm.

    For each correctly classified image a target class ``t'`` is drawn (one per image, shared
    by all variants) and ``attacks.isa`` finds the least budget ``eps*`` of a targeted attack,
    then, at ``rho * eps*`` for each budget factor, the successful attack of least
    interpretation discrepancy. Logged per variant (``<c>`` the class set, ``<p>`` the norm):

    * ``attr/<method>/isa/<c>/l<p>/nds``: normalised discrepancy score, averaged over every
      successful (image, budget) point; larger: the interpretation is harder to sneak past;
    * ``attr/<method>/isa/<c>/l<p>/nsl``: normalised slope, the relative drop of NDS per relative
      budget increase from ``eps*`` to the last factor; smaller: extra budget does not buy a less
      visible attack. On Table 1's scale by default (``nsl_per="point"``): the slopes of the
      images where it is defined, summed and divided by the number of successful (image, budget)
      points, as the authors' code does (about ``1 / (1 + len(budget_factors))`` of the per-image
      mean, ``nsl_per="image"``);
    * ``attr/<method>/isa/<c>/l<p>/eps_star``: mean least budget (pixel units) of the targeted attack;
    * ``attr/<method>/isa/<c>/l<p>/success_rate``: share of attacked images whose every point succeeded.

    ISA is expensive: about ``(1 + len(budget_factors)) * (search_rounds + 1) * steps``
    gradient steps per image and variant (550 by default), hence a default schedule that runs only
    in ``validate`` and ``test`` (``every_n_epochs: 0``) on a small subset.

    Args:
        method: interpreter (``cam``, ``gradcampp``, ``ig``, ``repr``; see ``attacks.isa``).
        class_sets: class sets of the discrepancy, from ``"one"``, ``"two"``, ``"all"`` (each replaces ``attack.classes``).
        norms: ``1`` and/or ``2`` (each replaces ``attack.p``).
        nsl_per: ``"point"`` (Table 1's scale, above) or ``"image"`` (the mean slope per image).
        attack: ISA's hyperparameters (``attacks.ISAConfig``: ``budget_factors``, ``first_point``,
            ``steps``, ``search_rounds``, ``tau``, ``eps_init``, ``weight_init``, ``beta``); its
            ``classes`` and ``p`` are replaced by the grid.
        method_options: options bound to the interpreter (e.g. ``{"steps": 10}`` for ``ig``).
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 20 images in one
            batch, ``every_n_epochs: 0``).
    """

    default_schedule = EvaluationSchedule(num_samples=20, every_n_epochs=0, batch_size=20)

    def __init__(
        self,
        *,
        method: str = "cam",
        class_sets: Sequence[Literal["one", "two", "all"]] = ("two",),
        norms: Sequence[Literal[1, 2]] = (1,),
        nsl_per: Literal["point", "image"] = "point",
        attack: ISAConfig | None = None,
        method_options: Mapping[str, Any] | None = None,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        if attack is not None and not isinstance(attack, ISAConfig):
            raise TypeError(f"attack must be an ISAConfig, got {type(attack).__name__}")
        if not class_sets or set(class_sets) - set(CLASS_SETS):
            raise ValueError(f"class_sets must be a non-empty subset of {CLASS_SETS}, got {list(class_sets)}")
        if not norms or set(norms) - {1, 2}:
            raise ValueError(f"norms must be a non-empty subset of (1, 2), got {list(norms)}")
        self.method = attribution_record(method, option="method").name
        self.variants = [(c, int(p)) for c in class_sets for p in norms]
        check_choice(nsl_per, NSL_SCALES, name="nsl_per")
        get_attribution(self.method, **(method_options or {}))
        self.nsl_per, self.attack, self.method_options = nsl_per, attack or ISAConfig(), dict(method_options or {})

    @property
    def units_per_batch(self) -> int:
        return len(self.variants)

    def tag(self, classes: str, p: int, name: str) -> str:
        """``attr/<method>/isa/<classes>/l<p>/<name>``."""
        return f"attr/{self.method}/isa/{classes}/l{p}/{name}"

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        names = ("nds", "nsl", "eps_star", "success_rate")
        return {self.tag(c, p, name): MeanMetric() for c, p in self.variants for name in names}

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            logits = model(x)
        correct = logits.argmax(dim=1) == y
        x, y = x[correct], y[correct]
        target = random_targets(y, logits.shape[1])
        for classes, p in self.variants:
            if len(x):
                _, result = isa(
                    model, x, y, method=self.method, target=target, config=self.attack, classes=classes, p=p,
                    method_options=self.method_options,
                )
                metrics[self.tag(classes, p, "nds")].update(result.nds[result.success])
                slopes = result.nsl[~result.nsl.isnan()]
                if self.nsl_per == "point":  # the summed slopes over the number of successful points
                    slopes = torch.cat([slopes, slopes.new_zeros(int(result.success.sum()) - len(slopes))])
                metrics[self.tag(classes, p, "nsl")].update(slopes)
                metrics[self.tag(classes, p, "eps_star")].update(result.eps_star[result.success[0]])
                metrics[self.tag(classes, p, "success_rate")].update(result.success.all(dim=0).float())
            yield


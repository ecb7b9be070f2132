"""``AttributionMapLogger``: a figure per attribution method, clean versus attacked maps, through every logger."""

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .._lightning import LightningModule, Trainer, rank_zero_only
from .._random_state import isolated_random_state, seed_batch
from .._validation import check_choice, require_autograd
from ..attacks._budget import Budget, budgets
from ..attacks._explanation.attribution_attack import AttributionAttackConfig, attribution_attack
from ..attacks._explanation.maps import evaluated_maps, manipulate_targets
from ..attacks._explanation.objectives import resolve_k
from ..metrics.functional import topk_intersection
from ..models import evaluation_mode
from ._attribution_attack_eval import CALLBACK_OBJECTIVES
from ._evaluation_callback import ScheduledEvaluation
from ._evaluation_schedule import EvaluationSchedule
from ._figures import log_figure
from ._map_figure import MapPanel, map_figure, map_grid
from ._maps import checked_method_options, method_names


class AttributionMapLogger(ScheduledEvaluation):
    """Draws, for each method, a figure with one row per image: input, clean map, attacked input, attacked map.

    The attacked input is ``attacks.attribution_attack`` of that method (label kept, map moved
    as far as ``objective`` can within ``eps``; an image whose every iterate changed the label
    shows the clean image twice). Maps are ``|attribution|`` summed over channels, CAM-family
    maps upsampled to the image; each pair of maps shares one colour scale (from 0 to the pair's
    maximum, with a colour bar), so a mass that moves or spreads is visible, and each row names
    its image's top-k intersection (``k`` of the map) or that its maps are constant.

    The figures (matplotlib, see :func:`map_figure`) are computed on rank 0 only and handed to
    every logger of the Trainer by :func:`~lightning_robattr.callbacks._figures.log_figure` under
    ``attr/<method>/<objective>/eps=<e>/maps``: TensorBoard's Images tab, ``log_image`` of
    loggers that have one, PNG files in the log folder of the others.

    Args:
        methods: attribution methods to draw (names of ``attributions.get_attribution``).
        objective: attack objective (``topk``, ``mass_center``, ``random_sign``, ...).
        eps: the attack budget in pixel units (default ``"8/255"``).
        attack, method_options: as in ``AttributionAttackEval``.
        schedule: ``num_samples`` is the number of rows of each grid (the first images of the
            seeded subset; default 8); also ``every_n_epochs``, ``seed``, ``network``.

    Example:
        >>> logger = AttributionMapLogger(methods=["saliency", "ig", "cam"], schedule=EvaluationSchedule(num_samples=8))
        >>> # Trainer(inference_mode=False, callbacks=[logger]) logs the grids as TensorBoard images
    """

    default_schedule = EvaluationSchedule(num_samples=8)

    def __init__(
        self,
        *,
        methods: Sequence[str] = ("saliency",),
        objective: Literal["topk", "mass_center", "manipulate", "random_sign"] = "topk",
        eps: Budget = "8/255",
        attack: AttributionAttackConfig | None = None,
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        if not methods:
            raise ValueError("methods must name at least one attribution method")
        check_choice(objective, CALLBACK_OBJECTIVES, name="objective")
        self.methods, self.objective = method_names(methods, option="methods"), objective
        self.attack = attack or AttributionAttackConfig()
        ((self.eps_label, self.eps),) = budgets([eps], norm=self.attack.norm)
        self.method_options = checked_method_options(method_options, self.methods)

    def tag(self, method: str) -> str:
        """``attr/<method>/<objective>/eps=<e>/maps``."""
        return f"attr/{method}/{self.objective}/{self.eps_label}/maps"

    @rank_zero_only
    def run(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Draw the figures of the ``stage`` subset and hand them to the Trainer's loggers."""
        require_autograd(type(self).__name__, where=f"{stage} (Lightning's default: inference mode)")
        if not trainer.loggers:
            return
        images, _ = self.stage_subset(trainer, stage)
        for method, panel in self.panels(self.network_of(pl_module), images).items():
            title = f"{method}: {self.objective} attack at {self.eps_label} ({stage}, step {trainer.global_step})"
            log_figure(trainer, self.tag(method), map_figure(panel, title=title))

    def grids(self, model: nn.Module, images: Tensor) -> dict[str, Tensor]:
        """``{method: (3, H', W') image grid in [0, 1]}`` of :meth:`panels` (columns: image, map, attacked image, its map)."""
        return {method: map_grid(panel) for method, panel in self.panels(model, images).items()}

    def panels(self, model: nn.Module, images: Tensor) -> dict[str, MapPanel]:
        """``{method: MapPanel}`` of ``images (N, C, H, W)``: clean and attacked inputs, their maps and top-k intersections."""
        device = next(model.parameters()).device
        x = images.to(device).float()
        panels = {}
        with isolated_random_state(device), evaluation_mode(model):
            with torch.no_grad():
                label = model(x).argmax(dim=1)
            for index, method in enumerate(self.methods):
                seed_batch(self.schedule.seed, index, device)
                options = self.method_options.get(method)
                clean = evaluated_maps(model, x, label, method, options)
                target_map = (
                    manipulate_targets(model, label, x, label, method, options, noise="shared") if self.objective == "manipulate" else None
                )
                x_adv, _ = attribution_attack(
                    model, x, eps=self.eps, method=method, objective=self.objective, config=self.attack, target_map=target_map,
                    method_options=options,
                )
                attacked = evaluated_maps(model, x_adv, label, method, options)
                k = resolve_k(self.attack.k, clean[0].numel())
                scores = topk_intersection(clean, attacked, k=k)
                panels[method] = MapPanel(*(t.detach().cpu() for t in (x, clean, x_adv, attacked, scores)), k=k)
        return panels

"""``AttributionMapLogger``: a figure per attribution method, clean versus attacked maps, through every logger."""

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .._lightning import LightningModule, Trainer, rank_zero_only
from .._random_state import isolated_random_state, seed_batch
from .._validation import require_autograd
from ..attacks.explanation.attribution_attack import attribution_attack
from ..attacks.explanation.maps import evaluated_maps, manipulate_targets
from ..attacks.explanation.objectives import resolve_k
from ..metrics.functional import topk_intersection
from ..models import evaluation_mode
from ._maps import attack_arguments
from ._options import check_attack_settings, check_method_options, check_methods
from ._tags import budgets
from .evaluation_callback import NetworkChoice, ScheduledEvaluation
from .figures import log_figure
from .map_figure import MapPanel, map_figure, map_grid


class AttributionMapLogger(ScheduledEvaluation):
    """Draws, for each method, a figure with one row per image: input, clean map, attacked input, attacked map.

    The attacked input is ``attacks.attribution_attack`` of that method (label kept, map moved
    as far as ``objective`` can within ``eps``; an image whose every iterate changed the label
    shows the clean image twice). Maps are ``|attribution|`` summed over channels, CAM-family
    maps upsampled to the image; each pair of maps shares one colour scale (from 0 to the pair's
    maximum, with a colour bar), so a mass that moves or spreads is visible, and each row names
    its image's top-k intersection (``k`` of the map) or that its maps are constant.

    The figures (matplotlib, see :func:`map_figure`) are computed on rank 0 only and handed to
    every logger of the Trainer by :func:`~lightning_robattr.callbacks.figures.log_figure` under
    ``attr/<method>/<objective>/eps=<e>/maps``: TensorBoard's Images tab, ``log_image`` of
    loggers that have one, PNG files in the log folder of the others.

    Args:
        methods: attribution methods to draw (names of ``attributions.get_attribution``).
        objective: attack objective (``topk``, ``mass_center``, ``random_sign``, ...).
        eps: the attack budget in units of ``1 / eps_scale`` (default 8/255).
        steps, step_size, norm, k, method_options, attack_options: as in ``AttributionAttackEval``.
        num_images: rows of each grid (the first images of the seeded subset).
        every_n_epochs, seed, network: see ``ScheduledEvaluation``.

    Example:
        >>> logger = AttributionMapLogger(methods=["saliency", "ig", "cam"], num_images=8)
        >>> # Trainer(inference_mode=False, callbacks=[logger]) logs the grids as TensorBoard images
    """

    def __init__(
        self,
        *,
        methods: Sequence[str] = ("saliency",),
        objective: str = "topk",
        eps: float = 8,
        steps: int = 50,
        step_size: float | None = None,
        norm: Literal["linf", "l2"] = "linf",
        k: int | float = 0.1,
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        attack_options: Mapping[str, Any] | None = None,
        eps_scale: float = 255.0,
        num_images: int = 8,
        every_n_epochs: int = 1,
        seed: int = 0,
        network: NetworkChoice = None,
    ) -> None:
        super().__init__(num_samples=num_images, every_n_epochs=every_n_epochs, seed=seed, network=network)
        if not methods:
            raise ValueError("methods must name at least one attribution method")
        ((self.eps_label, self.eps),) = budgets([eps], eps_scale)
        self.methods, self.objective, self.k = list(methods), objective, k
        self.steps, self.step_size, self.norm = steps, step_size, norm
        self.method_options = {m: dict(o) for m, o in (method_options or {}).items()}
        self.attack_options = dict(attack_options or {})
        check_methods(self.methods, name="methods")
        check_method_options(self.method_options, self.methods)
        check_attack_settings(
            methods=self.methods, objectives=[objective], pixel_eps=[self.eps], steps=steps, step_size=step_size, norm=norm,
            method_options=self.method_options, attack_options=self.attack_options,
        )

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
                seed_batch(self.seed, index, device)
                options = self.method_options.get(method)
                clean = evaluated_maps(model, x, label, method, options)
                attack_options = attack_arguments(
                    self.objective, self.attack_options, lambda: manipulate_targets(model, label, x, label, method, options, noise="shared")
                )
                x_adv, _ = attribution_attack(
                    model, x, method=method, objective=self.objective, eps=self.eps, steps=self.steps, step_size=self.step_size,
                    norm=self.norm, k=self.k, method_options=options, **attack_options,
                )
                attacked = evaluated_maps(model, x_adv, label, method, options)
                k = resolve_k(self.k, clean[0].numel())
                scores = topk_intersection(clean, attacked, k=k)
                panels[method] = MapPanel(*(t.detach().cpu() for t in (x, clean, x_adv, attacked, scores)), k=k)
        return panels

"""``AttributionAttackEval``: how far attribution attacks move the explanations, per budget and as an AUC."""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from .._validation import check_choice
from ..attacks._budget import Budget, budgets
from ..attacks._explanation.attribution_attack import AttributionAttackConfig, attribution_attack
from ..attacks._explanation.maps import MAP_NOISE, evaluated_maps, manipulate_targets
from ..attacks._explanation.objectives import resolve_k
from ..metrics import CosineDistance, KendallTau, MassCenterDislocation, SpearmanCorrelation, TopKIntersection
from ..metrics.functional import eps_auc
from ..metrics.functional._topk_intersection import TOPK_MODES
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule
from ._maps import checked_method_options, map_size, method_names

SIMILARITY_METRICS = ("topk_intersection", "spearman", "kendall_tau", "mass_center_dislocation", "cosine_distance")
CALLBACK_OBJECTIVES = ("topk", "mass_center", "manipulate", "random_sign")


@dataclass(frozen=True)
class MapScoring:
    """How an attribution-attack callback compares clean and attacked maps.

    Attributes:
        topk_mode: ``"set"`` (Ghorbani et al.) or ``"mass"`` (SSR paper text) top-k intersection.
        int_cast: truncate mass centres to integers before their distance (the Ghorbani/SSR code).
        map_noise: the noise of the compared SmoothGrad/UniGrad maps: ``"shared"`` (one fixed draw
            for the clean and the attacked map) or ``"redrawn"`` (fresh for each map, as the SSR
            paper's code evaluates); see ``attacks.explanation.maps.evaluated_maps``.
    """

    topk_mode: Literal["set", "mass"] = "set"
    int_cast: bool = False
    map_noise: Literal["shared", "redrawn"] = "shared"

    def __post_init__(self) -> None:
        check_choice(self.topk_mode, TOPK_MODES, name="topk_mode")
        check_choice(self.map_noise, MAP_NOISE, name="map_noise")


class MapScore(NamedTuple):
    """One similarity logged for one attack: its tag, its AUC's tag, the metric, the method whose maps it compares."""

    tag: str
    auc_tag: str
    metric: str
    compared: str


class GridAttack(NamedTuple):
    """One attack of the method x objective x budget grid (``eps`` in pixel units) and the tags it feeds."""

    method: str
    objective: str
    eps: float
    kept_tag: str
    scores: tuple[MapScore, ...]


class AttributionAttackEval(EvaluationCallback):
    """Attribution attacks (Ghorbani et al.) for every method x objective x budget, scored by map similarity.

    For each correctly classified image of the subset, ``attacks.attribution_attack`` looks for a
    perturbation within ``eps`` that keeps the predicted label and moves the attribution map
    (the iterate that moves it most is kept). The clean and attacked maps (``|.|`` summed over
    channels, normalised) are then compared by every metric in ``metrics``, averaged over the
    images whose attack kept the label (the others count in ``label_kept_rate`` only), and
    summarised over the budgets by the trapezoid area over ``log2 eps`` ("Smoothed Geometry for
    Robust Attribution", Fig. 2a: with the budgets 2, 4, 8, 16 a metric in [0, 1] has AUC <= 3).
    With ``transfer`` the same attacked images are also scored under other methods' maps
    (that paper's Exp. III: does an attack on saliency move IG's maps?).

    Tags, with ``<m>`` the attacked method, ``<o>`` the objective, ``<metric>`` in ``metrics``:

    * ``attr/<m>/<o>/eps=<e>/<metric>`` and ``attr/<m>/<o>/<metric>_auc`` (AUC with >= 2 budgets);
    * ``attr/<m>/<o>/eps=<e>/label_kept_rate``: share of attacked images for which some iterate kept the label;
    * ``attr/<m>/<o>/transfer/<t>/eps=<e>/<metric>`` and ``attr/<m>/<o>/transfer/<t>/<metric>_auc``.

    Higher ``topk_intersection``, ``spearman``, ``kendall_tau`` and lower
    ``mass_center_dislocation`` (pixels of the map grid), ``cosine_distance`` mean more robust maps.

    Args:
        methods: attacked attribution methods (names of ``attributions.get_attribution``).
        objectives: ``topk``, ``mass_center``, ``manipulate`` (target: the clean map of the first
            subset image of another class, see ``attacks.explanation.maps.manipulate_targets``), or
            ``random_sign`` (the baseline). (``targeted`` needs a region of each image: call
            ``attacks.attribution_attack`` with ``region=``.)
        eps: strictly increasing budgets in pixel units (default ``2/255, 4/255, 8/255, 16/255``).
        attack: the attack's hyperparameters (``attacks.AttributionAttackConfig``: ``steps``,
            ``step_size``, ``norm``, ``constraint``, ``k``, ``beta``, ``normalize``, ...); its ``k`` is
            also the top-k size of the ``topk_intersection`` metric.
        metrics: similarity metrics to log, from ``SIMILARITY_METRICS``.
        scoring: how the maps are compared (:class:`MapScoring`: top-k mode, integer mass centres, SmoothGrad noise).
        transfer: methods whose maps are also compared on the attacked images.
        method_options: per-method attribution options, e.g. ``{"ig": {"steps": 20}}``.
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 100 images in batches of 50).

    Cost per correctly classified image: ``len(methods) * len(objectives) * len(eps) * steps``
    attack iterations (saliency: about 3 forward and 2 backward passes, one of them double).

    Example:
        >>> callback = AttributionAttackEval(
        ...     methods=["saliency", "ig"], eps=["2/255", "4/255"], metrics=["topk_intersection", "spearman"], transfer=["smoothgrad"]
        ... )
        >>> [attack.kept_tag for attack in callback.attacks()][:2]
        ['attr/saliency/topk/eps=2_255/label_kept_rate', 'attr/saliency/topk/eps=4_255/label_kept_rate']
        >>> last = callback.attacks()[0].scores[-1]
        >>> last.tag, last.auc_tag
        ('attr/saliency/topk/transfer/smoothgrad/eps=2_255/spearman', 'attr/saliency/topk/transfer/smoothgrad/spearman_auc')
    """

    def __init__(
        self,
        *,
        methods: Sequence[str] = ("saliency",),
        objectives: Sequence[str] = ("topk",),
        eps: Sequence[Budget] = ("2/255", "4/255", "8/255", "16/255"),
        attack: AttributionAttackConfig | None = None,
        metrics: Sequence[str] = SIMILARITY_METRICS,
        scoring: MapScoring | None = None,
        transfer: Sequence[str] = (),
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        unknown = set(metrics) - set(SIMILARITY_METRICS)
        if unknown or not metrics:
            raise ValueError(f"metrics must be a non-empty subset of {SIMILARITY_METRICS}, got {list(metrics)}")
        if not methods or not objectives:
            raise ValueError("methods and objectives must each name at least one entry")
        for objective in objectives:
            check_choice(objective, CALLBACK_OBJECTIVES, name="objective")
        self.attack, self.scoring = attack or AttributionAttackConfig(), scoring or MapScoring()
        self.budgets = budgets(eps, norm=self.attack.norm, increasing=True)
        if self.budgets[0][1] <= 0:
            raise ValueError(f"eps must be positive (the AUC runs over log2 eps), got {list(eps)}")
        self.methods, self.objectives, self.metrics = method_names(methods, option="methods"), list(objectives), list(metrics)
        transfer = method_names(transfer, option="transfer")
        self.transfer = {m: [t for t in transfer if t != m] for m in self.methods}
        self.method_options = checked_method_options(method_options, [*self.methods, *transfer])
        self._pool: tuple[Tensor, Tensor] | None = None

    @property
    def units_per_batch(self) -> int:
        return len(self.methods) * len(self.objectives) * len(self.budgets)

    def tag(self, method: str, objective: str, name: str, label: str | None = None, transfer: str | None = None) -> str:
        """``attr/<m>/<o>[/transfer/<t>]/<label>/<name>``, or ``.../<name>_auc`` without a budget label."""
        path = f"attr/{method}/{objective}" + (f"/transfer/{transfer}" if transfer else "")
        return f"{path}/{label}/{name}" if label else f"{path}/{name}_auc"

    def attacks(self) -> list[GridAttack]:
        """Every method x objective x budget attack with the tags it feeds, in tag order.

        The one loop of the callback: ``make_metrics``, ``evaluate_batch`` and ``summarize`` all walk this list.
        """
        return [
            GridAttack(
                method, objective, eps,
                kept_tag=self.tag(method, objective, "label_kept_rate", label),
                scores=self._scores(method, objective, label),
            )
            for method, objective, (label, eps) in product(self.methods, self.objectives, self.budgets)
        ]

    def _scores(self, method: str, objective: str, label: str) -> tuple[MapScore, ...]:
        """The scores of one attack: the maps of ``method`` itself, then of each transfer method, under every metric."""
        compared = [(None, method), *((t, t) for t in self.transfer[method])]
        return tuple(
            MapScore(
                tag=self.tag(method, objective, metric, label, transfer),
                auc_tag=self.tag(method, objective, metric, transfer=transfer),
                metric=metric,
                compared=name,
            )
            for transfer, name in compared
            for metric in self.metrics
        )

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        attacks = self.attacks()
        compared = dict.fromkeys(score.compared for attack in attacks for score in attack.scores)
        ks = {m: resolve_k(self.attack.k, map_size(model, example, m, self.method_options.get(m))) for m in compared}
        metrics: dict[str, Metric] = {}
        for attack in attacks:
            metrics[attack.kept_tag] = MeanMetric()
            metrics.update((score.tag, self._similarity(score.metric, ks[score.compared])) for score in attack.scores)
        return metrics

    def _similarity(self, name: str, k: int) -> Metric:
        if name == "topk_intersection":
            return TopKIntersection(k=k, mode=self.scoring.topk_mode)
        if name == "mass_center_dislocation":
            return MassCenterDislocation(int_cast=self.scoring.int_cast)
        return {"spearman": SpearmanCorrelation, "kendall_tau": KendallTau, "cosine_distance": CosineDistance}[name]()

    def evaluate(self, model: nn.Module, images: Tensor, labels: Tensor, *, progress: bool = False) -> dict[str, Tensor]:
        """As ``EvaluationCallback.evaluate``; ``images``/``labels`` are also the pool of the ``manipulate`` targets."""
        self._pool = (images, labels)
        try:
            return super().evaluate(model, images, labels, progress=progress)
        finally:
            self._pool = None

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            label = model(x).argmax(dim=1)
        correct = label == y
        x, label = x[correct], label[correct]
        clean_maps: dict[str, Tensor] = {}
        for attack in self.attacks():
            if len(x):
                self._attack_and_score(model, x, label, attack, clean_maps, metrics)
            yield

    def _attack_and_score(
        self, model: nn.Module, x: Tensor, label: Tensor, attack: GridAttack, clean_maps: dict[str, Tensor],
        metrics: dict[str, Metric],
    ) -> None:
        """Run ``attack`` on ``x`` (correctly classified, labels ``label``) and update the metrics it feeds.

        ``clean_maps`` caches the clean maps of the batch by method, across the attacks of the grid.
        """

        def maps_of(name: str, images: Tensor, labels: Tensor) -> Tensor:
            return evaluated_maps(model, images, labels, name, self.method_options.get(name), noise=self.scoring.map_noise)

        compared = dict.fromkeys(score.compared for score in attack.scores)
        for name in compared:
            if name not in clean_maps:
                clean_maps[name] = maps_of(name, x, label)
        method, objective, eps = attack.method, attack.objective, attack.eps
        pool, pool_labels = self._pool if self._pool is not None else (x, label)
        options = self.method_options.get(method)
        target_map = (
            manipulate_targets(model, label, pool, pool_labels, method, options, noise=self.scoring.map_noise)
            if objective == "manipulate" else None
        )
        x_adv, record = attribution_attack(
            model, x, eps=eps, method=method, objective=objective, config=self.attack, target_map=target_map, method_options=options
        )
        kept = record.success
        metrics[attack.kept_tag].update(kept.float())
        if not kept.any():
            return
        adv_maps = {name: maps_of(name, x_adv[kept], label[kept]) for name in compared}
        for score in attack.scores:
            metrics[score.tag].update(clean_maps[score.compared][kept], adv_maps[score.compared])

    def summarize(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        if len(self.budgets) < 2:
            return values
        curves: dict[str, list[Tensor]] = {}
        for attack in self.attacks():
            for score in attack.scores:
                curves.setdefault(score.auc_tag, []).append(values[score.tag])
        pixel_eps = [eps for _, eps in self.budgets]
        return {**values, **{tag: eps_auc(pixel_eps, torch.stack(curve)) for tag, curve in curves.items()}}

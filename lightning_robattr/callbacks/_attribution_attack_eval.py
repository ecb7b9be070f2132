"""``AttributionAttackEval``: how far attribution attacks move the explanations, per budget and as an AUC."""

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from itertools import product
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from .._lightning import LightningModule, Trainer
from .._validation import check_choice
from ..attacks._budget import Budget, budgets
from ..attacks._explanation.attribution_attack import AttributionAttackConfig, attribution_attack
from ..attacks._explanation.maps import evaluated_maps, manipulate_targets
from ..attacks._explanation.objectives import resolve_k
from ..attacks._explanation.reference import REFERENCE_BUDGETS, attribution_reference
from ..attacks._explanation.scoring import HIGHER_IS_ROBUST, SIMILARITY_METRICS, MapScoring, check_metrics
from ..metrics import CosineDistance, KendallTau, MassCenterDislocation, SpearmanCorrelation, TopKIntersection
from ..metrics.functional import constant_maps, eps_auc
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule
from ._maps import checked_method_options, map_size, method_names

CALLBACK_OBJECTIVES = ("topk", "mass_center", "manipulate", "random_sign")
GAP_TOLERANCE = {"mass_center_dislocation": 1.0}
"""How far (pixels for the dislocation, 0.1 for the other metrics) the reference may beat the protocol before a warning."""


class ProtocolGapWarning(UserWarning):
    """A protocol attack reads the maps as far more robust than the reference-strength ensemble finds them."""


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
    label: str
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
    * ``attr/<m>/<o>[/transfer/<t>]/eps=<e>/degenerate_rate``: share of scored images whose clean or attacked
      map is constant (no metric is defined on it: those images are left out of the scores);
    * ``attr/<m>/<o>/transfer/<t>/eps=<e>/<metric>`` and ``attr/<m>/<o>/transfer/<t>/<metric>_auc``.

    With ``reference`` the reference-strength ensemble ``attacks.attribution_reference`` also runs on every
    method and budget (``fast`` or ``standard``; ``True`` means ``standard``), judged by the same metrics:

    * ``attr/reference/<m>/<metric>/eps=<e>``: mean over the images of each one's worst score, and
      ``attr/reference/<m>/<metric>_auc`` over the budgets (with >= 2 budgets);
    * ``attr/reference/<m>/eps=<e>/label_kept_rate`` and ``.../degenerate_rate`` (constant clean maps);
    * ``attr/reference/<m>/<metric>/eps=<e>/protocol_gap``: how much less robust the reference finds the maps
      than the least robust protocol value of the same method, budget and metric (this callback's, or one
      logged earlier in the same run by another ``AttributionAttackEval``). A protocol number is an upper
      bound on robustness; a gap above 0.1 (1 pixel for the dislocation) issues a :class:`ProtocolGapWarning`.

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
        reference: ``False``, ``True``/``"standard"`` or ``"fast"``: also run the reference ensemble at that budget
            (about 9x or 2.5x a 10-step top-k attack per image). ``objectives=[]`` runs the reference alone.
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
        reference: bool | Literal["fast", "standard"] = False,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        metrics = check_metrics(metrics)
        self.reference = "standard" if reference is True else reference or None
        if self.reference is not None:
            check_choice(self.reference, REFERENCE_BUDGETS, name="reference budget")
        if not methods or not (objectives or self.reference):
            raise ValueError("methods must name at least one entry, and objectives too unless reference is set")
        for objective in objectives:
            check_choice(objective, CALLBACK_OBJECTIVES, name="objective")
        self.attack, self.scoring = attack or AttributionAttackConfig(), scoring or MapScoring()
        self.budgets = budgets(eps, norm=self.attack.norm, increasing=True)
        if self.budgets[0][1] <= 0:
            raise ValueError(f"eps must be positive (the AUC runs over log2 eps), got {list(eps)}")
        self.methods, self.objectives, self.metrics = method_names(methods, option="methods"), list(objectives), metrics
        transfer = method_names(transfer, option="transfer")
        self.transfer = {m: [t for t in transfer if t != m] for m in self.methods}
        self.method_options = checked_method_options(method_options, [*self.methods, *transfer])
        self._pool: tuple[Tensor, Tensor] | None = None
        self._logged: dict[str, float] = {}

    @property
    def units_per_batch(self) -> int:
        return len(self.methods) * (len(self.objectives) + (self.reference is not None)) * len(self.budgets)

    def reference_tag(self, method: str, label: str, metric: str | None = None, name: str | None = None) -> str:
        """``attr/reference/<m>/<metric>/<label>[/<name>]``, or ``attr/reference/<m>/<label>/<name>`` without a metric."""
        if metric is None:
            return f"attr/reference/{method}/{label}/{name}"
        return f"attr/reference/{method}/{metric}/{label}" + (f"/{name}" if name else "")

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
                method, objective, eps, label,
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
            metrics.update((tag, MeanMetric()) for tag in self._degenerate_tags(attack).values())
        if self.reference is not None:
            for method, (label, _) in product(self.methods, self.budgets):
                metrics.update((self.reference_tag(method, label, m), MeanMetric(nan_strategy="ignore")) for m in self.metrics)
                metrics.update((self.reference_tag(method, label, name=name), MeanMetric()) for name in ("label_kept_rate", "degenerate_rate"))
        return metrics

    def _degenerate_tags(self, attack: GridAttack) -> dict[str, str]:
        """``{compared method: its degenerate_rate tag}`` for one attack (beside the label_kept_rate tag)."""
        return {
            score.compared: self.tag(
                attack.method, attack.objective, "degenerate_rate", attack.label, None if score.compared == attack.method else score.compared
            )
            for score in attack.scores
        }

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
        if self.reference is None:
            return
        for method, (budget_label, eps) in product(self.methods, self.budgets):
            if len(x):
                self._reference_scores(model, x, method, budget_label, eps, metrics)
            yield

    def _reference_scores(self, model: nn.Module, x: Tensor, method: str, label: str, eps: float, metrics: dict[str, Metric]) -> None:
        """Run the reference ensemble on ``x`` (correctly classified) and update its metrics."""
        record = attribution_reference(
            model, x, method=method, eps=eps, norm=self.attack.norm, k=self.attack.k, metrics=self.metrics,
            method_options=self.method_options.get(method), budget=self.reference, scoring=self.scoring,
        )
        for metric in self.metrics:
            metrics[self.reference_tag(method, label, metric)].update(record.scores[metric])
        metrics[self.reference_tag(method, label, name="label_kept_rate")].update(record.label_kept.float())
        metrics[self.reference_tag(method, label, name="degenerate_rate")].update(record.degenerate.float())

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
        for name, tag in self._degenerate_tags(attack).items():
            metrics[tag].update((constant_maps(clean_maps[name][kept]) | constant_maps(adv_maps[name])).float())

    def run(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """As ``EvaluationCallback.run``; the protocol values another ``AttributionAttackEval`` logged earlier in
        this validation or test are compared with the reference too."""
        self._logged = {tag: float(value) for tag, value in trainer.callback_metrics.items() if tag.startswith("attr/")}
        try:
            super().run(trainer, pl_module, stage)
        finally:
            self._logged = {}

    def summarize(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        values = {**values, **self._protocol_gaps(values)}
        if len(self.budgets) < 2:
            return values
        curves: dict[str, list[Tensor]] = {}
        for attack in self.attacks():
            for score in attack.scores:
                curves.setdefault(score.auc_tag, []).append(values[score.tag])
        if self.reference is not None:
            for method, metric, (label, _) in product(self.methods, self.metrics, self.budgets):
                curves.setdefault(f"attr/reference/{method}/{metric}_auc", []).append(values[self.reference_tag(method, label, metric)])
        pixel_eps = [eps for _, eps in self.budgets]
        return {**values, **{tag: eps_auc(pixel_eps, torch.stack(curve)) for tag, curve in curves.items()}}

    def _protocol_gaps(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """``protocol_gap`` per reference value whose protocol counterpart is known; warns where it is large."""
        if self.reference is None:
            return {}
        known = {**self._logged, **{tag: float(value) for tag, value in values.items()}}
        gaps, notes = {}, []
        for method, (label, _), metric in product(self.methods, self.budgets, self.metrics):
            suffix = f"/{label}/{metric}"
            protocol = [
                v for tag, v in known.items()
                if tag.startswith(f"attr/{method}/") and tag.endswith(suffix) and tag.count("/") == 4 and not math.isnan(v)
            ]
            reference = float(values[self.reference_tag(method, label, metric)])
            if not protocol or math.isnan(reference):
                continue
            robust = HIGHER_IS_ROBUST[metric]
            gap = (min(protocol) - reference) if robust else (reference - max(protocol))
            gaps[self.reference_tag(method, label, metric, "protocol_gap")] = torch.tensor(gap)
            if gap > GAP_TOLERANCE.get(metric, 0.1):
                notes.append(f"{method} {metric} at {label}: protocol {min(protocol) if robust else max(protocol):.3f}, reference {reference:.3f}")
        if notes:
            warnings.warn(
                "AttributionAttackEval: the protocol attacks overstate attribution robustness (the reference ensemble finds "
                "much less robust maps; report the reference values, attr/reference/...): " + "; ".join(notes),
                ProtocolGapWarning,
                stacklevel=2,
            )
        return gaps

"""``AAIEval``: Kendall tau of the true class's map under the attack against interpretability, per budget."""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from ..attacks._budget import Budget, budgets
from ..attacks._explanation.aai import AAIConfig, aai
from ..attributions import attribution_record, get_attribution
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule


class AAIEval(EvaluationCallback):
    """AAI ("Proper Network Interpretability Helps Adversarial Robustness", problem 7; Tables 2, A4, A5).

    Each correctly classified image is attacked by ``attacks.aai``: signed steps that push the
    true class's map (CAM by default) off its top-``k`` cells from a random start in the ball.
    Logged per budget, over the images whose prediction the attack kept (the authors' filter):

    * ``attr/<method>/aai/eps=<e>/kendall_tau``: Kendall tau-b between the clean and attacked maps
      on the native grid; 1 = ranking untouched, higher = more robust interpretation;
    * ``attr/<method>/aai/eps=<e>/label_kept_rate``: share of attacked images still classified correctly.

    Args:
        eps: budgets in pixel units (the paper's MNIST budgets 0.05, 0.1, 0.2, 0.3; ``"8/255"`` strings accepted).
        method: interpreter (``cam``; ``gradcampp_int_repo``, the Int code's GradCAM++; ``ig``).
        attack: AAI's hyperparameters (``attacks.AAIConfig``; default the paper's: k 8, 200 steps
            of 0.01 for every budget, filter mode).
        method_options: options bound to the interpreter.
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 200 images in batches of 100).

    Cost per correctly classified image: ``len(eps) * attack.steps`` forward+backward passes (CAM).
    """

    default_schedule = EvaluationSchedule(num_samples=200, batch_size=100)

    def __init__(
        self,
        *,
        eps: Sequence[Budget] = (0.05, 0.1, 0.2, 0.3),
        method: str = "cam",
        attack: AAIConfig | None = None,
        method_options: Mapping[str, Any] | None = None,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        if attack is not None and not isinstance(attack, AAIConfig):
            raise TypeError(f"attack must be an AAIConfig, got {type(attack).__name__}")
        self.attack = attack or AAIConfig()
        self.budgets = budgets(eps, norm=self.attack.norm)
        self.method = attribution_record(method, option="method").name
        get_attribution(self.method, **(method_options or {}))
        self.method_options = dict(method_options or {})

    @property
    def units_per_batch(self) -> int:
        return len(self.budgets)

    def tag(self, label: str, name: str) -> str:
        """``attr/<method>/aai/eps=<e>/<name>``."""
        return f"attr/{self.method}/aai/{label}/{name}"

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        return {self.tag(label, name): MeanMetric() for label, _ in self.budgets for name in ("kendall_tau", "label_kept_rate")}

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            correct = model(x).argmax(dim=1) == y
        x, y = x[correct], y[correct]
        for label, eps in self.budgets:
            if len(x):
                _, record = aai(model, x, y, eps=eps, method=self.method, config=self.attack, method_options=self.method_options)
                metrics[self.tag(label, "label_kept_rate")].update(record.label_kept.float())
                tau = record.kendall_tau[record.label_kept]
                metrics[self.tag(label, "kendall_tau")].update(tau[~tau.isnan()])
            yield

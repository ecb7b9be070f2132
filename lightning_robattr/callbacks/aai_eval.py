"""``AAIEval``: Kendall tau of the true class's map under the attack against interpretability, per budget."""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from .._validation import check_choice
from ..attacks.explanation.aai import aai, check_aai
from ..attributions import ATTRIBUTIONS
from ._tags import budgets
from .evaluation_callback import EvaluationCallback, NetworkChoice


class AAIEval(EvaluationCallback):
    """AAI ("Proper Network Interpretability Helps Adversarial Robustness", problem 7; Tables 2, A4, A5).

    Each correctly classified image is attacked by ``attacks.aai``: signed steps that push the
    true class's map (CAM by default) off its top-``k`` cells from a random start in the ball.
    Logged per budget, over the images whose prediction the attack kept (the authors' filter):

    * ``attr/<method>/aai/eps=<e>/kendall_tau``: Kendall tau-b between the clean and attacked maps
      on the native grid; 1 = ranking untouched, higher = more robust interpretation;
    * ``attr/<method>/aai/eps=<e>/label_kept_rate``: share of attacked images still classified correctly.

    Args:
        eps: budgets in units of ``1 / eps_scale`` (the paper's MNIST budgets 0.05, 0.1, 0.2, 0.3).
        method: interpreter (``cam``; ``gradcampp`` with ``method_options={"mode": "int_repo"}``; ``ig``).
        k, steps, step_size, norm, mode, hinge_weight, random_start, beta, method_options: as in
            ``attacks.aai`` (paper: k 8, 200 steps of 0.01 for every budget, filter mode).
        eps_scale, num_samples, every_n_epochs, batch_size, seed, progress, network: see ``EvaluationCallback``.

    Cost per correctly classified image: ``len(eps) * steps`` forward+backward passes (CAM).
    """

    def __init__(
        self,
        *,
        eps: Sequence[float] = (0.05, 0.1, 0.2, 0.3),
        method: str = "cam",
        k: int = 8,
        steps: int = 200,
        step_size: float = 0.01,
        norm: Literal["linf", "l2"] = "linf",
        mode: Literal["filter", "hinge"] = "filter",
        hinge_weight: float = 10.0,
        random_start: bool = True,
        beta: float | None = 1.0,
        method_options: Mapping[str, Any] | None = None,
        eps_scale: float = 1.0,
        num_samples: int | None = 200,
        every_n_epochs: int = 1,
        batch_size: int = 100,
        seed: int = 0,
        progress: bool = True,
        network: NetworkChoice = None,
    ) -> None:
        super().__init__(
            num_samples=num_samples, every_n_epochs=every_n_epochs, batch_size=batch_size, seed=seed, progress=progress, network=network
        )
        self.budgets = budgets(eps, eps_scale)
        check_choice(method, ATTRIBUTIONS, name="method")
        for _, pixel_eps in self.budgets:
            check_aai(
                eps=pixel_eps, method=method, k=k, steps=steps, step_size=step_size, norm=norm, mode=mode,
                hinge_weight=hinge_weight, method_options=method_options,
            )
        self.method = method
        self.options = dict(
            method=method, k=k, steps=steps, step_size=step_size, norm=norm, mode=mode, hinge_weight=hinge_weight,
            random_start=random_start, beta=beta, method_options=dict(method_options or {}),
        )

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
                _, record = aai(model, x, y, eps=eps, **self.options)
                metrics[self.tag(label, "label_kept_rate")].update(record.label_kept.float())
                tau = record.kendall_tau[record.label_kept]
                metrics[self.tag(label, "kendall_tau")].update(tau[~tau.isnan()])
            yield

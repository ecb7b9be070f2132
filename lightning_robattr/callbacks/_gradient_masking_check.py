"""``GradientMaskingCheck``: flags the signs of gradient masking listed by Athalye et al."""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from .._lightning import rank_zero_warn
from .._validation import check_nonnegative, check_positive_int
from ..attacks._budget import Budget, budgets, parse_eps
from ..attacks._classification.autoattack import load_reference, square
from ..attacks._classification.pgd import PGDConfig, pgd
from ..attacks._threat_models import ThreatModel, threat_model
from ._evaluation_callback import EvaluationCallback
from ._evaluation_schedule import EvaluationSchedule
from ._pgd_eval import still_correct

PREFIX = "robust/gradient_masking"
FLAGS = (
    "acc_rises_with_steps", "acc_rises_with_eps", "one_step_stronger", "above_chance_at_huge_eps", "black_box_stronger",
    "random_stronger",
)
# what the two signs AutoAttack's checks add mean, and what to do (said in the warning)
MEANINGS = {
    "black_box_stronger": "Square, which never looks at a gradient, found adversarial examples the gradient attacks missed: "
    "the gradients point away from them; evaluate with Square at full budget (attacks.autoattack) or an adaptive attack",
    "random_stronger": "random points of the ball are misclassified where PGD's are not: PGD does not even reach what "
    "chance finds; the gradients are uninformative (masked, shattered or random), evaluate with gradient-free or "
    "adaptive attacks",
}


class GradientMaskingWarning(UserWarning):
    """A robustness number looks like the product of masked gradients rather than of robustness."""


def masking_flags(
    grid: Mapping[tuple[float, int], float],
    one_step: Mapping[float, float],
    huge_eps_acc: float,
    *,
    chance: float,
    tolerance: float,
    black_box_acc: float = float("nan"),
    random_acc: float = float("nan"),
) -> dict[str, bool]:
    """The signs of Athalye et al. ("Obfuscated Gradients Give a False Sense of Security", Sec. 3.1).

    Args:
        grid: PGD accuracy per ``(eps, steps)``.
        one_step: one-step attack accuracy per ``eps`` (FGSM for L-inf).
        huge_eps_acc: PGD accuracy at a budget that allows any image.
        chance: accuracy of guessing, ``1 / num_classes``.
        tolerance: slack for sampling noise, in accuracy units.
        black_box_acc: accuracy under a gradient-free attack (Square) at the largest ``eps`` (NaN: not measured).
        random_acc: accuracy under random sampling in the ball of the largest ``eps`` (NaN: not measured).

    Returns:
        ``acc_rises_with_steps`` (more iterations of the same attack raised accuracy),
        ``acc_rises_with_eps`` (a larger budget raised accuracy), ``one_step_stronger`` (a single
        step beat the iterative attack) and ``above_chance_at_huge_eps`` (an unbounded attack
        did not reach chance level), and the two signs of AutoAttack's checks: ``black_box_stronger``
        (the gradient-free attack beat every white-box one at the largest eps) and ``random_stronger``
        (random sampling beat PGD there). Each beyond ``tolerance``; NaN accuracies never flag.
    """
    eps_list = sorted({e for e, _ in grid})
    steps_list = sorted({s for _, s in grid})
    white_box = min([grid[eps_list[-1], s] for s in steps_list] + [one_step[eps_list[-1]]])

    def rises(curve: list[float]) -> bool:
        return any(b > a + tolerance for a, b in zip(curve, curve[1:]))

    return {
        "acc_rises_with_steps": any(rises([grid[e, s] for s in steps_list]) for e in eps_list),
        "acc_rises_with_eps": any(rises([grid[e, s] for e in eps_list]) for s in steps_list),
        "one_step_stronger": any(one_step[e] < grid[e, steps_list[-1]] - tolerance for e in eps_list),
        "above_chance_at_huge_eps": huge_eps_acc > chance + tolerance,
        "black_box_stronger": black_box_acc < white_box - tolerance,
        "random_stronger": random_acc < min(grid[eps_list[-1], s] for s in steps_list) - tolerance,
    }


def random_sampling(model: nn.Module, x: Tensor, y: Tensor, *, threat: ThreatModel, samples: int) -> tuple[Tensor, Tensor]:
    """``(x_adv, fooled (B,))``: ``samples`` random points at the boundary of ``threat``'s ball per image
    (global random state), the first misclassified one where there is one, else the last."""
    x_adv, fooled = x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
    with torch.no_grad():
        for _ in range(samples):
            candidate = threat.boundary_start(x)
            x_adv = torch.where(fooled.view(-1, *[1] * (x.dim() - 1)), x_adv, candidate)
            fooled |= model(candidate).argmax(dim=1) != y
    return x_adv, fooled


@dataclass(frozen=True)
class MaskingProbes:
    """The attacks ``GradientMaskingCheck`` holds its PGD grid against, besides the one-step attack
    (YAML: ``probes: {square_queries: 1000, random_samples: 200}``).

    Attributes:
        huge_eps: the unbounded budget (pixel units; ``None``: 1.0 for L-inf, the largest L2
            distance of the image shape for L2), attacked by PGD from the clean image.
        huge_eps_steps: that attack's steps (``None``: the grid's largest step count).
        random_samples: random points of the ball of the largest ``eps`` tried per image (>= 1).
        square_queries: queries of the Square attack at the largest ``eps`` (needs the ``autoattack``
            extra), e.g. 1000; ``None`` skips it.
    """

    huge_eps: Budget | None = None
    huge_eps_steps: int | None = None
    random_samples: int = 100
    square_queries: int | None = None

    def __post_init__(self) -> None:
        if self.huge_eps is not None:
            parse_eps(self.huge_eps, name="huge_eps")
        if self.huge_eps_steps is not None:
            check_positive_int(self.huge_eps_steps, "huge_eps_steps", hint="or None for the grid's largest step count")
        check_positive_int(self.random_samples, "random_samples")
        if self.square_queries is not None:
            check_positive_int(self.square_queries, "square_queries", hint="or None to skip the Square attack")


class GradientMaskingCheck(EvaluationCallback):
    """Runs PGD on an eps x steps grid, a one-step attack and an unbounded attack; flags masking signs.

    A robust model's accuracy falls (or stays) as the attack gets more iterations or a larger
    budget, a single step is never stronger than many, and an attack allowed to change the
    whole image reaches chance accuracy; and (AutoAttack's checks) at the largest budget neither
    the gradient-free Square attack nor random sampling in the ball beats the gradient attacks.
    When one of these fails beyond ``tolerance`` the gradients likely hide adversarial examples
    (non-differentiable or saturating layers, randomness, vanishing gradients): PGD numbers of that model are not trustworthy. Each
    flag is logged as 0/1 with the accuracies behind it, a ``GradientMaskingWarning`` names the
    fired flags with their numbers, and ``flag_counts`` (saved in checkpoints) counts the
    evaluations each flag fired in.

    Tags (under ``robust/gradient_masking/``): ``pgd_<norm>/eps=<e>/steps=<s>/acc``,
    ``one_step_<norm>/eps=<e>/acc``, ``huge_eps/acc``, ``square_<norm>/eps=<e>/acc`` and
    ``random_<norm>/eps=<e>/acc`` (largest eps), one per flag of ``masking_flags`` (``acc_rises_with_steps``,
    ``acc_rises_with_eps``, ``one_step_stronger``, ``above_chance_at_huge_eps``, ``black_box_stronger``,
    ``random_stronger``) and ``any``.

    Args:
        eps: increasing budgets in pixel units (``"8/255"`` accepted).
        steps: increasing PGD step counts (each replacing ``attack.steps``).
        attack: PGD's hyperparameters (``attacks.PGDConfig``; default: random start, step ``2.5 * eps / steps``,
            L-inf). Its ``norm`` is every probe's; the one-step attack is ``attack`` with one step of
            length ``eps`` from the clean image (FGSM for L-inf, one full-length normalised-gradient step
            for L2), the unbounded one ``attack`` from the clean image with the default step rule.
        probes: the unbounded attack, random sampling and Square (:class:`MaskingProbes`; default ``MaskingProbes()``).
        tolerance: accuracy slack before a flag fires.
        warn: issue a ``GradientMaskingWarning`` when a flag fires.
        schedule: subset, batches, seed, network (``EvaluationSchedule``; default 100 images in batches of 100).

    Cost per image: ``len(eps) * (sum(steps) + 1) + huge_eps_steps`` forward+backward passes, plus up to
    ``square_queries + random_samples`` forward passes.
    """

    default_schedule = EvaluationSchedule(num_samples=100, every_n_epochs=1, batch_size=100)

    def __init__(
        self,
        *,
        eps: Sequence[Budget] = (0.1, 0.2, 0.3),
        steps: Sequence[int] = (10, 40),
        attack: PGDConfig | None = None,
        probes: MaskingProbes | None = None,
        tolerance: float = 0.03,
        warn: bool = True,
        schedule: EvaluationSchedule | None = None,
    ) -> None:
        super().__init__(schedule=schedule)
        self.attack, self.probes = attack or PGDConfig(), probes or MaskingProbes()
        if self.attack.targeted:
            raise ValueError("GradientMaskingCheck measures untargeted accuracy; set attack.targeted: false")
        self.budgets = budgets(eps, increasing=True)
        self.steps = [int(s) for s in steps]
        if not self.steps or self.steps[0] < 1 or any(b <= a for a, b in zip(self.steps, self.steps[1:])):
            raise ValueError(f"steps must be increasing step counts >= 1, got {list(steps)}")
        self.norm, self.tolerance, self.warn = self.attack.norm, tolerance, warn
        self.huge_eps = None if self.probes.huge_eps is None else parse_eps(self.probes.huge_eps, name="huge_eps")
        self.huge_eps_steps = self.probes.huge_eps_steps or self.steps[-1]
        for pixel_eps in [e for _, e in self.budgets] + ([self.huge_eps] if self.huge_eps is not None else []):
            threat_model(self.norm, pixel_eps)
        if self.probes.square_queries is not None:
            load_reference()
        check_nonnegative(tolerance, "tolerance", unit=" (in accuracy units)")
        self.flag_counts = {flag: 0 for flag in FLAGS}
        self.chance = float("nan")

    @property
    def units_per_batch(self) -> int:
        return len(self.budgets) * (len(self.steps) + 1) + 2 + (self.probes.square_queries is not None)

    @property
    def state_key(self) -> str:
        return self._generate_state_key(eps=[e for _, e in self.budgets], steps=self.steps, norm=self.norm)

    def grid_tag(self, label: str, steps: int) -> str:
        return f"{PREFIX}/pgd_{self.norm}/{label}/steps={steps}/acc"

    def one_step_tag(self, label: str) -> str:
        return f"{PREFIX}/one_step_{self.norm}/{label}/acc"

    def largest_tag(self, attack: str) -> str:
        """The tag of ``attack`` (``"square"`` or ``"random"``) at the largest budget."""
        return f"{PREFIX}/{attack}_{self.norm}/{self.budgets[-1][0]}/acc"

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        with torch.no_grad():
            self.chance = 1.0 / model(example).shape[1]
        tags = [self.grid_tag(label, s) for label, _ in self.budgets for s in self.steps]
        tags += [self.one_step_tag(label) for label, _ in self.budgets] + [f"{PREFIX}/huge_eps/acc", self.largest_tag("random")]
        tags += [self.largest_tag("square")] if self.probes.square_queries is not None else []
        return {tag: MeanMetric() for tag in tags}

    def _huge_eps(self, x: Tensor) -> float:
        return self.huge_eps if self.huge_eps is not None else 1.0 if self.norm == "linf" else float(x[0].numel()) ** 0.5

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        with torch.no_grad():
            correct = model(x).argmax(dim=1) == y

        def accuracy(eps: float, **options: Any) -> Tensor:
            """Accuracy under PGD at ``eps`` with ``options`` replacing fields of ``attack``."""
            config = self.attack.updated(**options)
            return still_correct(model, x, y, correct, lambda xs, ys: pgd(model, xs, ys, eps=eps, config=config)).float()

        from_clean = {"random_start": False, "restarts": 1}
        for label, eps in self.budgets:
            for steps in self.steps:
                metrics[self.grid_tag(label, steps)].update(accuracy(eps, steps=steps))
                yield
            metrics[self.one_step_tag(label)].update(accuracy(eps, steps=1, step_size=eps, **from_clean))
            yield
        huge = accuracy(self._huge_eps(x), steps=self.huge_eps_steps, step_size=None, **from_clean)
        metrics[f"{PREFIX}/huge_eps/acc"].update(huge)
        yield
        eps = self.budgets[-1][1]
        threat = threat_model(self.norm, eps)
        sampled = still_correct(
            model, x, y, correct, lambda xs, ys: random_sampling(model, xs, ys, threat=threat, samples=self.probes.random_samples)
        )
        metrics[self.largest_tag("random")].update(sampled.float())
        yield
        if self.probes.square_queries is not None:
            black_box = still_correct(
                model, x, y, correct,
                lambda xs, ys: square(
                    model, xs, ys, eps=eps, norm=self.norm, queries=self.probes.square_queries, seed=self.schedule.seed
                ),
            )
            metrics[self.largest_tag("square")].update(black_box.float())
            yield

    def summarize(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        grid = {(eps, s): float(values[self.grid_tag(label, s)]) for label, eps in self.budgets for s in self.steps}
        one_step = {eps: float(values[self.one_step_tag(label)]) for label, eps in self.budgets}
        huge = float(values[f"{PREFIX}/huge_eps/acc"])
        largest = {attack: float(values.get(self.largest_tag(attack), float("nan"))) for attack in ("square", "random")}
        flags = masking_flags(
            grid, one_step, huge, chance=self.chance, tolerance=self.tolerance, black_box_acc=largest["square"],
            random_acc=largest["random"],
        )
        fired = [flag for flag, on in flags.items() if on]
        for flag in fired:
            self.flag_counts[flag] += 1
        if fired and self.warn:
            numbers = ", ".join(f"{tag.removeprefix(PREFIX + '/')}={value:.3f}" for tag, value in values.items())
            meanings = "".join(f"; {flag}: {MEANINGS[flag]}" for flag in fired if flag in MEANINGS)
            rank_zero_warn(
                f"signs of gradient masking (Athalye et al.): {', '.join(fired)}; PGD accuracies of this model are likely "
                f"overestimates, evaluate it with stronger or gradient-free attacks{meanings} ({numbers})",
                category=GradientMaskingWarning,
            )
        device = next(iter(values.values())).device
        flag_values = {f"{PREFIX}/{flag}": torch.tensor(float(on), device=device) for flag, on in flags.items()}
        return {**values, **flag_values, f"{PREFIX}/any": torch.tensor(float(bool(fired)), device=device)}

    def state_dict(self) -> dict[str, Any]:
        return {"flag_counts": dict(self.flag_counts)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.flag_counts.update(state_dict["flag_counts"])


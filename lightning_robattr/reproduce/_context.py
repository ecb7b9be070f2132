"""What every paper's reproduction shares: the budget, the seeds, the data, the cache of trained models."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from ._progress import Progress
from ._training import Run, Trained, test_split, train, train_split

BUDGETS = ("smoke", "quick", "full", "paper")
DATASETS = ("mnist5k", "fashion_mnist", "cifar10")
CONFIG_FOLDERS = {"mnist5k": "configs", "fashion_mnist": "configs/fashion_mnist", "cifar10": "configs/cifar10"}
# training images of a config's data module: MNIST5k's 4,000 and Fashion-MNIST's 55,000 (5,000 held out for validation)
TRAINING_IMAGES = {"mnist5k": 4000, "fashion_mnist": 55000}
# where reports go unless told otherwise: a folder of the current one, never the checkout's committed reports/
DEFAULT_OUT = Path("reproductions")


@dataclass
class Context:
    """One paper's reproduction run.

    Attributes:
        out: the paper's report folder (``<out>/<paper>``).
        budget: ``"quick"`` (minutes, 1 seed), ``"full"`` (one CPU session), ``"paper"`` (the
            papers' own epochs, steps and images: for a GPU), or ``"smoke"`` (seconds: two
            training steps per model and a handful of images, to check the pipeline; its numbers mean nothing).
        seeds: seeds asked for; a ``Run`` may cap them (the expensive regimes of a CPU budget).
        data: ``"mnist5k"`` (the bundled 5,000 digits), ``"fashion_mnist"`` (the full 70,000 images; ``root``
            optional, the OS package's folder by default) or ``"cifar10"`` (needs ``root``).
        root: the dataset folder (CIFAR-10's holding ``cifar-10-batches-py``; Fashion-MNIST's idx files).
        cache: where trained models are kept, by config + seed (shared by the papers).
        progress: the progress printer.
        commit: the git commit of the code when the run started (``report.commit``).
    """

    out: Path
    budget: str
    seeds: int
    data: str
    root: str | None
    cache: Path
    progress: Progress
    commit: str = "unknown"
    models: dict[str, list[tuple[int, Trained]]] = field(default_factory=dict)

    def pick(self, **by_budget: Any) -> Any:
        """The value for this budget: ``pick(quick=1, full=10, paper=100)``; a budget not given takes ``quick``'s value."""
        return by_budget[self.budget] if self.budget in by_budget else by_budget["quick"]

    def pick_data(self, **by_data: Any) -> Any:
        """The value for this dataset: ``pick_data(mnist5k="natural", cifar10="natural_resnet20")``; a dataset not
        given takes ``mnist5k``'s value (Fashion-MNIST's configs share MNIST's names)."""
        return by_data[self.data] if self.data in by_data else by_data["mnist5k"]

    def config(self, name: str) -> str:
        """The packaged regime config ``name`` for this dataset (``configs/<name>.yaml``, ``configs/fashion_mnist/<name>.yaml``, ...)."""
        return f"{CONFIG_FOLDERS[self.data]}/{name}.yaml"

    def epochs(self, mnist5k_epochs: int) -> int:
        """Epochs that show a model as many training images as ``mnist5k_epochs`` on MNIST5k (at least one):
        on Fashion-MNIST the comparison is 14x more distinct images, not more training."""
        if self.data not in TRAINING_IMAGES:  # CIFAR-10's budgets are its own epochs
            return mnist5k_epochs
        return max(1, round(mnist5k_epochs * TRAINING_IMAGES["mnist5k"] / TRAINING_IMAGES[self.data]))

    def run(self, label: str, name: str, *overrides: str, epochs: int | None = None, seeds: int | None = None) -> Run:
        """A ``Run`` of the regime config ``name``; ``epochs`` (MNIST5k epochs, scaled by ``Context.epochs`` on
        Fashion-MNIST) overrides its ``max_epochs``; the paper budget keeps the config's."""
        extra = [f"--trainer.max_epochs={self.epochs(epochs)}"] if epochs is not None and self.budget != "paper" else []
        if self.budget == "smoke":
            extra = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]
        if self.root is not None and self.data != "mnist5k":
            extra.append(f"--data.init_args.root={self.root}")
        return Run(label, self.config(name), (*overrides, *extra), seeds)

    def seeds_of(self, run: Run) -> list[int]:
        return list(range(self.seeds if run.seeds is None else min(self.seeds, run.seeds)))

    def train_all(self, runs: list[Run]) -> dict[str, list[tuple[int, Trained]]]:
        """Train (or load) every run at each of its seeds; ``{label: [(seed, trained), ...]}``."""
        for run in runs:
            self.models[run.label] = []
            for seed in self.seeds_of(run):
                self.progress.begin(f"model {run.label}, seed {seed}")
                self.models[run.label].append((seed, train(run, seed, self.cache, self.progress)))
        return self.models

    def tasks(self, runs: list[Run]) -> int:
        """Number of (run, seed) pairs."""
        return sum(len(self.seeds_of(run)) for run in runs)

    def test_images(self, run: Run, select: Callable[[Any], tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """``select(test dataset)``, e.g. a callback's seeded subset ``callback.select``."""
        return select(test_split(run))

    def train_images(self, run: Run, select: Callable[[Any], tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """``select(training dataset)``: images an attack may be fitted on (universal patches), disjoint from the test images."""
        return select(train_split(run))

"""``EvaluationSchedule``: when an evaluation callback runs, on how many images, in which batches, on which network."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from torch import nn

from .._lightning import LightningModule
from .._validation import check_positive_int

NetworkChoice: TypeAlias = str | Callable[[LightningModule], nn.Module] | None
"""Which network of a LightningModule an evaluation attacks: ``None`` (the regime's ``net``, else the module),
the dotted name of a submodule (``"model.classifier"``), or a function of the module."""


@dataclass(frozen=True)
class EvaluationSchedule:
    """The options every evaluation callback shares, as one object (YAML: ``schedule: {num_samples: 64, every_n_epochs: 2}``).

    Attributes:
        num_samples: size of the evaluation subset (``None``: the whole split): the first
            examples of a ``seed``-ed permutation of the validation (or test) dataset, the same
            every epoch, so epochs (and runs) are comparable.
        every_n_epochs: evaluate after every n-th training epoch's validation (0: only in
            ``validate`` and ``test``).
        batch_size: examples attacked together (also the unit of work shared across DDP ranks).
        seed: seed of the subset and of the attacks' random numbers.
        progress: show a progress bar on rank 0 while evaluating (if the Trainer shows one).
        network: the classifier to attack: ``None`` (the regime's ``net``, else the module's
            ``forward``), the dotted name of a submodule of the LightningModule (``"net"``,
            ``"model.classifier"``), or, from Python, a function ``pl_module -> nn.Module``. It
            must take ``[0, 1]`` images and return logits.
    """

    num_samples: int | None = 100
    every_n_epochs: int = 1
    batch_size: int = 50
    seed: int = 0
    progress: bool = True
    network: NetworkChoice = None

    def __post_init__(self) -> None:
        if self.num_samples is not None:
            check_positive_int(self.num_samples, "num_samples", hint="or None for the whole split")
        if isinstance(self.every_n_epochs, bool) or not isinstance(self.every_n_epochs, int) or self.every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be an integer >= 0 (0: only in validate/test), got {self.every_n_epochs!r}")
        check_positive_int(self.batch_size, "batch_size")
        if self.network is not None and not (isinstance(self.network, str) or callable(self.network)):
            raise TypeError(f"network must be None, a submodule name such as 'net', or a function of the module; got {self.network!r}")

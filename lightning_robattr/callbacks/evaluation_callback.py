"""The bases of the evaluation callbacks: when and on what (``ScheduledEvaluation``), batched DDP evaluation (``EvaluationCallback``)."""

import warnings
from collections.abc import Iterator
from typing import Any

import torch.distributed as dist
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.trainer.states import TrainerFn
from torch import Tensor, nn
from torchmetrics import Metric
from tqdm.auto import tqdm

from .._validation import require_autograd
from ..models import evaluation_mode
from .._random_state import isolated_random_state, seed_batch
from ._subset import evaluation_subset, rank_batches, stage_dataset


class ScheduledEvaluation(Callback):
    """When and on what an evaluation runs: a fixed seeded subset, at validation end and in test.

    ``run`` is called after the validation of every ``every_n_epochs``-th training epoch (not
    during the sanity check), at the end of ``Trainer.validate``, and at the end of
    ``Trainer.test`` (``python -m lightning_robattr test --config ... --ckpt_path ...``).

    Args:
        num_samples: size of the evaluation subset (``None``: the whole split): the first
            examples of a ``seed``-ed permutation of the validation (or test) dataset, the same
            every epoch, so epochs (and runs) are comparable.
        every_n_epochs: evaluate after every n-th training epoch's validation (0: only in
            ``validate`` and ``test``).
        seed: seed of the subset and of the attacks' random numbers.
    """

    def __init__(self, *, num_samples: int | None, every_n_epochs: int, seed: int) -> None:
        if num_samples is not None and num_samples < 1:
            raise ValueError(f"num_samples must be >= 1 (or None for the whole split), got {num_samples}")
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0 (0: only in validate/test), got {every_n_epochs}")
        self.num_samples, self.every_n_epochs, self.seed = num_samples, every_n_epochs, seed

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if trainer.state.fn == TrainerFn.FITTING and not self.due(trainer.current_epoch):
            return
        self.run(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.run(trainer, pl_module, "test")

    def due(self, epoch: int) -> bool:
        """Whether the validation after (0-based) training epoch ``epoch`` evaluates."""
        return self.every_n_epochs > 0 and (epoch + 1) % self.every_n_epochs == 0

    def select(self, dataset: Any) -> tuple[Tensor, Tensor]:
        """The evaluation subset of ``dataset``: images ``(N, C, H, W)`` and labels ``(N,)``."""
        return evaluation_subset(dataset, self.num_samples, self.seed)

    def stage_subset(self, trainer: Trainer, stage: str) -> tuple[Tensor, Tensor]:
        """The evaluation subset of the Trainer's ``stage`` (``"val"`` or ``"test"``) dataset."""
        return self.select(stage_dataset(trainer.val_dataloaders if stage == "val" else trainer.test_dataloaders, stage))

    def run(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Evaluate on the ``stage`` subset."""
        raise NotImplementedError


class EvaluationCallback(ScheduledEvaluation):
    """A ``ScheduledEvaluation`` that attacks its subset in batches and logs torchmetrics values.

    A subclass says which metrics it logs (``make_metrics``, keyed by tag) and how one batch
    updates them (``evaluate_batch``, which runs the attacks and then feeds the metrics); it may
    derive more values from the reduced ones (``summarize``, e.g. AUCs or flags). This base:

    * cuts the subset into batches of ``batch_size``; under DDP batch ``j`` runs on rank
      ``j mod world_size`` and the torchmetrics states are summed across ranks, so any number of
      processes gives the numbers of one process;
    * runs in fp32 with the network in eval mode (train mode restored) and the global random
      state saved and restored (each batch is seeded from ``seed`` and its index); the attacks
      take input gradients only (``torch.autograd.grad``), so no parameter ``.grad`` is written
      and training continues exactly as without the callback;
    * logs every value with ``pl_module.log`` (TensorBoard, ``callback_metrics``, the results of
      ``Trainer.validate``/``Trainer.test``) and keeps the last ones in ``results``.

    The network evaluated is ``pl_module.net`` when the LightningModule has one (every regime
    does), else the LightningModule itself. Attacks need autograd: create the Trainer with
    ``inference_mode=False`` (the ``lightning_robattr`` CLI does).

    Args:
        num_samples, every_n_epochs, seed: see ``ScheduledEvaluation``.
        batch_size: examples attacked together (also the unit of work shared across ranks).
        progress: show a progress bar on rank 0 while evaluating (if the Trainer shows one).
    """

    def __init__(self, *, num_samples: int | None, every_n_epochs: int, batch_size: int, seed: int, progress: bool) -> None:
        super().__init__(num_samples=num_samples, every_n_epochs=every_n_epochs, seed=seed)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.progress = batch_size, progress
        self.results: dict[str, float] = {}

    units_per_batch: int = 1
    """Steps ``evaluate_batch`` yields per batch (for the progress bar)."""

    def make_metrics(self, model: nn.Module, example: Tensor) -> dict[str, Metric]:
        """Fresh metrics keyed by tag, the same keys in the same order on every rank.

        ``example`` is the subset's first image ``(1, C, H, W)`` (e.g. to size top-k sets on a map).
        """
        raise NotImplementedError

    def evaluate_batch(self, model: nn.Module, x: Tensor, y: Tensor, metrics: dict[str, Metric]) -> Iterator[None]:
        """Attack ``x (B, C, H, W)``, ``y (B,)`` and update ``metrics``; yield after each unit of work."""
        raise NotImplementedError

    def summarize(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """Add values derived from the reduced metric values (identical on every rank)."""
        return values

    def run(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Evaluate on the ``stage`` subset and log every value through ``pl_module``."""
        require_autograd(type(self).__name__, where=f"{stage} (Lightning's default: inference mode)")
        images, labels = self.stage_subset(trainer, stage)
        show = self.progress and trainer.is_global_zero and trainer.progress_bar_callback is not None
        values = self.evaluate(evaluated_network(pl_module), images, labels, progress=show)
        for tag, value in values.items():
            # identical on every rank already; sync_dist only spares Lightning's DDP warning
            pl_module.log(tag, value, on_step=False, on_epoch=True, sync_dist=True, add_dataloader_idx=False)

    def evaluate(self, model: nn.Module, images: Tensor, labels: Tensor, *, progress: bool = False) -> dict[str, Tensor]:
        """All values of this callback on ``images (N, C, H, W)`` in [0, 1] and ``labels (N,)`` (no Trainer needed).

        Under ``torch.distributed`` every rank must call this with the same data; each attacks
        its share of the batches and the returned values are the global ones.
        """
        require_autograd(type(self).__name__, where="this evaluation")
        device = next(model.parameters()).device
        rank, world_size = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
        batches = rank_batches(len(images), self.batch_size, rank, world_size)
        total = len(batches) * self.units_per_batch
        with isolated_random_state(device), evaluation_mode(model):
            metrics = {tag: metric.to(device) for tag, metric in self.make_metrics(model, images[:1].to(device)).items()}
            with tqdm(total=total, desc=type(self).__name__, disable=not progress, leave=False, dynamic_ncols=True) as bar:
                for index, part in batches:
                    seed_batch(self.seed, index, device)
                    x, y = images[part].to(device).float(), labels[part].to(device)
                    for _ in self.evaluate_batch(model, x, y, metrics):
                        bar.update()
        with warnings.catch_warnings():
            # a rank whose share of the batches is empty still joins the reduction
            warnings.filterwarnings("ignore", message=".*compute.* called before .*update")
            values = {tag: metric.compute() for tag, metric in metrics.items()}
        values = self.summarize(values)
        self.results = {tag: float(value) for tag, value in values.items()}
        return values


def evaluated_network(pl_module: LightningModule) -> nn.Module:
    """The classifier an evaluation attacks: ``pl_module.net`` if the module has one, else the module."""
    net = getattr(pl_module, "net", None)
    return net if isinstance(net, nn.Module) else pl_module

"""The bases of the evaluation callbacks: when and on what (``ScheduledEvaluation``), batched DDP evaluation (``EvaluationCallback``)."""

import math
import operator
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torchmetrics import Metric
from tqdm.auto import tqdm

from .._lightning import Callback, LightningModule, Trainer, TrainerFn
from .._random_state import isolated_random_state, seed_batch
from .._validation import require_autograd
from ..metrics._per_example_mean import PerExampleMean
from ..models import evaluation_mode
from ._evaluation_schedule import EvaluationSchedule
from ._subset import evaluation_subset, rank_batches, stage_dataset


class ScheduledEvaluation(Callback):
    """When and on what an evaluation runs: a fixed seeded subset, at validation end and in test.

    ``run`` is called after the validation of every ``every_n_epochs``-th training epoch (not
    during the sanity check), at the end of ``Trainer.validate``, and at the end of
    ``Trainer.test`` (``python -m lightning_robattr test --config ... --ckpt_path ...``).

    ``schedule`` (:class:`EvaluationSchedule`) says how many images, in which batches, with which
    seed, and on which network; a callback given none uses its class's ``default_schedule``.
    The subset never holds more images than the Trainer itself evaluates in that stage, so
    ``fast_dev_run`` and ``limit_val_batches``/``limit_test_batches`` shorten the evaluation too.

    The network evaluated (:meth:`network_of`) is, by default, the regime's classifier
    ``pl_module.net`` for the package's regimes (a module with a ``regime`` and a ``net``) and the
    LightningModule itself (its ``forward``) for any other module, so a module that keeps only a
    backbone in ``self.net`` is evaluated whole. ``network`` names another choice. On the first
    images of each run the chosen network is checked against the module's own ``forward``: other
    output shapes are refused, other predictions are warned about.

    Args:
        schedule: the shared options (``None``: the callback's ``default_schedule``).
    """

    default_schedule: ClassVar[EvaluationSchedule] = EvaluationSchedule()

    def __init__(self, *, schedule: EvaluationSchedule | None = None) -> None:
        if schedule is not None and not isinstance(schedule, EvaluationSchedule):
            raise TypeError(f"schedule must be an EvaluationSchedule, got {type(schedule).__name__}")
        self.schedule = schedule or self.default_schedule
        self._checked: int | None = None

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
        every = self.schedule.every_n_epochs
        return every > 0 and (epoch + 1) % every == 0

    def select(self, dataset: Any) -> tuple[Tensor, Tensor]:
        """The evaluation subset of ``dataset``: images ``(N, C, H, W)`` and labels ``(N,)``."""
        return evaluation_subset(dataset, self.schedule.num_samples, self.schedule.seed)

    def stage_subset(self, trainer: Trainer, stage: str) -> tuple[Tensor, Tensor]:
        """The evaluation subset of the Trainer's ``stage`` (``"val"`` or ``"test"``) dataset, at most what the Trainer evaluates."""
        loaders = trainer.val_dataloaders if stage == "val" else trainer.test_dataloaders
        batches = sum(trainer.num_val_batches if stage == "val" else trainer.num_test_batches)
        first = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        size = getattr(first, "batch_size", None)
        seen = int(batches * size) if size and math.isfinite(batches) else None
        limits = [n for n in (self.schedule.num_samples, seen) if n is not None]
        return evaluation_subset(stage_dataset(loaders, stage), min(limits) if limits else None, self.schedule.seed)

    def network_of(self, pl_module: LightningModule, images: Tensor | None = None) -> nn.Module:
        """The classifier to attack (see the class docstring), checked once per module on ``images (N, C, H, W)``."""
        network = self.schedule.network
        if network is None:
            declared = getattr(type(pl_module), "regime", None) is not None and isinstance(getattr(pl_module, "net", None), nn.Module)
            net = pl_module.net if declared else pl_module
        elif isinstance(network, str):
            try:
                net = operator.attrgetter(network)(pl_module)
            except AttributeError:
                children = [name for name, _ in pl_module.named_children()]
                raise AttributeError(
                    f"network {network!r} is not a submodule of {type(pl_module).__name__}; name one of {children} "
                    "(dotted for deeper ones), or leave network unset to evaluate the module's forward"
                ) from None
        else:
            net = network(pl_module)
        if not isinstance(net, nn.Module):
            raise TypeError(f"network must give an nn.Module, got {type(net).__name__}")
        if images is not None and net is not pl_module and self._checked != id(pl_module):
            check_same_predictions(net, pl_module, images[:8].to(next(net.parameters()).device), name=type(self).__name__)
            self._checked = id(pl_module)
        return net

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
      ``Trainer.validate``/``Trainer.test``) and keeps the last ones in ``results``; beside every
      ``<prefix>/clean_acc`` it logs ``<prefix>/num_images``, the size of the subset it is measured on.

    * warns when a map-similarity value leaves images out (an undefined score: a rank correlation
      of a constant map, maps of a single cell) naming the tag and the count, and when no image is
      left (the value is then NaN, never a number computed from nothing).

    The network evaluated is chosen by ``schedule.network`` (``ScheduledEvaluation.network_of``). Attacks
    need autograd: create the Trainer with ``inference_mode=False`` (the ``lightning_robattr`` CLI does).
    """

    def __init__(self, *, schedule: EvaluationSchedule | None = None) -> None:
        super().__init__(schedule=schedule)
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
        show = self.schedule.progress and trainer.is_global_zero and trainer.progress_bar_callback is not None
        values = self.evaluate(self.network_of(pl_module, images), images, labels, progress=show)
        # every clean accuracy says its subset: <prefix>/num_images beside <prefix>/clean_acc
        size = torch.tensor(float(len(images)))
        values.update({tag.removesuffix("clean_acc") + "num_images": size for tag in values if tag.endswith("/clean_acc")})
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
        batches = rank_batches(len(images), self.schedule.batch_size, rank, world_size)
        total = len(batches) * self.units_per_batch
        with isolated_random_state(device), evaluation_mode(model):
            metrics = {tag: metric.to(device) for tag, metric in self.make_metrics(model, images[:1].to(device)).items()}
            with tqdm(total=total, desc=type(self).__name__, disable=not progress, leave=False, dynamic_ncols=True) as bar:
                for index, part in batches:
                    seed_batch(self.schedule.seed, index, device)
                    x, y = images[part].to(device).float(), labels[part].to(device)
                    for _ in self.evaluate_batch(model, x, y, metrics):
                        bar.update()
        with warnings.catch_warnings():
            # a rank whose share of the batches is empty still joins the reduction
            warnings.filterwarnings("ignore", message=".*compute.* called before .*update")
            values = {tag: metric.compute() for tag, metric in metrics.items()}
        warn_undefined(type(self).__name__, metrics)
        values = self.summarize(values)
        self.results = {tag: float(value) for tag, value in values.items()}
        return values


def check_same_predictions(net: nn.Module, pl_module: LightningModule, x: Tensor, *, name: str) -> None:
    """Refuse a ``net`` whose outputs on ``x`` have another shape than ``pl_module``'s; warn when its predictions differ."""
    with torch.no_grad(), evaluation_mode(pl_module):
        try:
            expected = pl_module(x)
        except Exception:  # a forward that does not take images: nothing to compare with
            return
        got = net(x)
    if not (isinstance(got, Tensor) and isinstance(expected, Tensor)):
        return
    if got.shape != expected.shape:
        raise ValueError(
            f"{name} evaluates {type(net).__name__}, whose outputs have shape {tuple(got.shape)}, but the module "
            f"{type(pl_module).__name__} returns {tuple(expected.shape)}: that network is not the whole classifier (a backbone "
            "without its head?); set the callback's network to the submodule that returns the logits, or leave it unset "
            "to evaluate the module's forward"
        )
    differ = int((got.argmax(1) != expected.argmax(1)).sum())
    if differ:
        warnings.warn(
            f"{name} evaluates {type(net).__name__}, whose predictions differ from the module's forward on {differ} of "
            f"{len(x)} images; the numbers are that network's. Set the callback's network if it is not the classifier you mean",
            stacklevel=3,
        )


def warn_undefined(name: str, metrics: dict[str, Metric]) -> None:
    """One warning listing the per-image means that left images out, or had none left (logged as NaN)."""
    means = {tag: metric for tag, metric in metrics.items() if isinstance(metric, PerExampleMean)}
    if not means:
        return
    counts = torch.stack([torch.stack([m.skipped, m.count]) for m in means.values()]).tolist()  # one host read
    notes = [
        f"{tag}: {skipped} of {skipped + count} images left out "
        f"({'none left: logged as NaN' if count == 0 else f'the mean is over the other {count}'})"
        for tag, (skipped, count) in zip(means, counts)
        if skipped
    ]
    if notes:
        warnings.warn(
            f"{name}: some map scores are undefined (a constant map has no ranking and no top-k set; maps of a single cell such as "
            "a 1x1 CAM grid, where top-k intersection and dislocation mean nothing); " + "; ".join(notes),
            stacklevel=3,
        )

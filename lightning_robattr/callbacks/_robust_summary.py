"""``RobustSummary``: one plain line of headline numbers after every validation epoch and after a test."""

import sys
from collections.abc import Sequence
from fnmatch import fnmatchcase

from torch import Tensor

from .._lightning import Callback, LightningModule, Trainer, TrainerFn

HEADLINE_TAGS = ("val/acc", "test/acc", "robust/*/acc", "robust/*/reference_acc", "attr/*/topk_intersection_auc")


class RobustSummary(Callback):
    """Print one plain line with the headline numbers after every validation epoch (not the sanity check) and after ``test``.

    The line holds each value of ``trainer.callback_metrics`` whose tag matches one of ``tags``
    (shell patterns whose ``*`` also crosses ``/``) and that was logged during this epoch, so an
    evaluation callback that runs every N epochs is shown only in the epochs it ran, e.g.
    ``epoch 3  val/acc=0.912  robust/pgd_linf/eps=0.1/steps=10/acc=0.743  attr/saliency/topk/topk_intersection_auc=0.521``.
    It is printed on rank 0, above the progress bar when there is one, and flushed (a piped or
    ``nohup`` log shows it at once). The command line always adds it (``--summary.tags``;
    ``--summary.tags []`` prints nothing).

    Args:
        tags: patterns of the tags to show, in this order (default: clean, robust and top-k attribution headline numbers).
    """

    def __init__(self, tags: Sequence[str] = HEADLINE_TAGS) -> None:
        self.tags = list(tags)
        self._before: dict[str, Tensor] = {}

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._before = dict(trainer.callback_metrics)

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._before = dict(trainer.callback_metrics)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._print(pl_module, f"epoch {trainer.current_epoch}" if trainer.state.fn == TrainerFn.FITTING else "validate")

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._print(pl_module, "test")

    def line(self, metrics: dict[str, Tensor], head: str) -> str | None:
        """``head`` and every fresh value of ``metrics`` matching ``tags``, as ``tag=0.123``; ``None`` when none matches."""
        fresh = {tag: value for tag, value in metrics.items() if self._before.get(tag) is not value}
        shown = [tag for pattern in self.tags for tag in fresh if fnmatchcase(tag, pattern)]
        if not shown:
            return None
        return "  ".join([head, *(f"{tag}={float(fresh[tag]):.3f}" for tag in dict.fromkeys(shown))])

    def _print(self, pl_module: LightningModule, head: str) -> None:
        text = self.line(dict(pl_module.trainer.callback_metrics), head)
        if text is not None:
            pl_module.print(text)
            sys.stdout.flush()

"""How a net is run inside a regime objective: the mode of inner maximisations and of penalties."""

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from ..models import evaluation_mode

_MODE_DEPENDENT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)


def behaves_differently_in_eval(model: nn.Module) -> bool:
    """Whether ``model`` is in train mode and holds layers (BatchNorm, dropout) that eval mode changes.

    When it is false, an eval-mode forward pass equals the training forward pass, so a
    regime can reuse the training pass instead of running a second one.
    """
    return model.training and any(isinstance(m, _MODE_DEPENDENT) for m in model.modules())


@contextmanager
def inner_maximisation_mode(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """The context of an inner maximisation: fp32 (autocast off) with autograd on.

    With ``eval_mode`` (the TRADES convention, the default of every regime) the net also runs
    in eval mode, so BatchNorm uses its running statistics and leaves them untouched; without
    it the net stays in its current mode (Madry's TensorFlow code attacks with train-mode BN).
    """
    with evaluation_mode(model, eval_mode=eval_mode):
        yield model

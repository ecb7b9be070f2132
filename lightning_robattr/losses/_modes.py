"""How a net is run inside a regime objective: the mode of inner maximisations and of penalties."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

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
    Its outputs are not checked here: a regime refuses a non-finite loss itself.
    """
    with evaluation_mode(model, eval_mode=eval_mode, check_outputs=False):
        yield model


def clean_reference(
    model: nn.Module, x: Tensor, training_output: Tensor, forward: Callable[[Tensor], Tensor], *, eval_mode: bool
) -> Tensor:
    """The clean output an inner maximisation aims away from, detached and in fp32.

    It is ``forward(x)`` as the inner loop sees the net: a separate no-grad pass in eval mode
    when ``eval_mode`` is set and the net behaves differently there (BatchNorm, dropout in
    train mode), otherwise ``training_output``, the outer loss's own ``forward(x)``. Call it
    with the net in the mode it trains in, before entering :func:`inner_maximisation_mode`
    (inside it every net looks as if eval mode changed nothing).

    Args:
        model: the net ``forward`` runs; x: clean images ``(B, C, H, W)``.
        training_output: ``forward(x)`` of the training pass (logits, CAMs, ...).
        forward: what to compute from images, e.g. ``model`` itself.
        eval_mode: whether the inner maximisation runs the net in eval mode.
    """
    if eval_mode and behaves_differently_in_eval(model):
        with inner_maximisation_mode(model, eval_mode=True), torch.no_grad():
            training_output = forward(x)
    return training_output.detach().float()

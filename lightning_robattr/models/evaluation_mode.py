"""A context in which attacks and attributions run: eval mode, fp32, autograd on."""

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from .._validation import require_autograd


@contextmanager
def eval_layers(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (autocast and autograd untouched); restore every submodule's own mode on exit."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


@contextmanager
def evaluation_mode(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """Run ``model`` with autocast off and gradients enabled, in eval mode unless ``eval_mode=False``.

    Every submodule's train/eval flag is restored on exit. Raises a clear error under
    ``torch.inference_mode``, whose tensors can never enter autograd (Lightning runs validation
    that way unless the Trainer gets ``inference_mode=False``).
    """
    require_autograd("attacks and attributions")
    device_type = next(model.parameters(), torch.empty(0)).device.type
    with eval_layers(model) if eval_mode else nullcontext(), torch.autocast(device_type, enabled=False), torch.enable_grad():
        yield model

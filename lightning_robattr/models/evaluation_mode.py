"""A context in which attacks and attributions run: eval mode, fp32, autograd on."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode with autocast off and gradients enabled; restore every submodule's mode on exit.

    Raises a clear error under ``torch.inference_mode``, whose tensors can never enter autograd
    (Lightning runs validation that way unless the Trainer gets ``inference_mode=False``).
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "attacks and attributions need autograd, but this code runs under torch.inference_mode; "
            "create the Trainer with inference_mode=False (the lightning_robattr CLI does this by default)"
        )
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    device_type = next(model.parameters(), torch.empty(0)).device.type
    try:
        with torch.autocast(device_type, enabled=False), torch.enable_grad():
            yield model
    finally:
        for module, training in modes:
            module.training = training

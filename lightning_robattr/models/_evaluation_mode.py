"""A context in which attacks and attributions run: eval mode, fp32, autograd on, finite logits."""

import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

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


class _OutputGuard:
    """Watches every output of a model: refuses a non-tensor at once, and counts non-finite rows on the device."""

    def __init__(self) -> None:
        self.bad: Tensor | None = None  # the most rows with inf or nan in one forward pass, a device scalar
        self.rows = 0  # the most rows of one forward pass

    def __call__(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        self.observe(output)

    def observe(self, output: Any) -> None:
        """Take one forward pass's output ``(B, num_classes)``: no host read."""
        if not torch.is_tensor(output):
            raise TypeError(
                f"the model returned a {type(output).__name__}, not a tensor of logits (B, num_classes); attributions, "
                "attacks and detectors need the logits alone: return only them from forward, or wrap the model in a "
                "module whose forward returns model(x)[0] (or the logits entry of its output)"
            )
        rows = output.detach().reshape(len(output), -1) if output.dim() else output.detach().reshape(1, 1)
        bad = (~rows.isfinite()).any(dim=1).sum()
        self.bad = bad if self.bad is None else torch.maximum(self.bad, bad)
        self.rows = max(self.rows, len(rows))

    def failure(self) -> ValueError | None:
        """The error to raise if any forward pass gave inf or nan, else ``None`` (one host read)."""
        bad = 0 if self.bad is None else int(self.bad)
        if bad:
            return ValueError(
                f"the model's output (logits) holds inf or nan for {bad} of the {self.rows} images of a forward pass; attributions, "
                "attacks and detectors need finite logits: check the model (diverged weights with nan or inf parameters, a log "
                "or division of 0 in its forward, float16 overflow) and retrain or fix it"
            )
        return None


_GUARDS: "weakref.WeakKeyDictionary[nn.Module, _OutputGuard]" = weakref.WeakKeyDictionary()


@contextmanager
def finite_outputs(model: nn.Module) -> Iterator[nn.Module]:
    """Refuse outputs of ``model`` that are not a tensor (``TypeError`` at once) or hold inf or nan (``ValueError``).

    Every forward pass of ``model`` inside the block is watched on the device; the values are
    read once, on exit (one host synchronisation for the whole block), also when the block
    raised, so that a failure caused by non-finite logits gets this message. Nested blocks on the
    same model share the outermost one's check.
    """
    if model in _GUARDS:
        yield model
        return
    guard = _GUARDS[model] = _OutputGuard()
    handle = model.register_forward_hook(guard)
    try:
        yield model
    except Exception as error:
        failure = guard.failure()
        if failure is not None:
            raise failure from error
        raise
    finally:
        handle.remove()
        del _GUARDS[model]
    failure = guard.failure()
    if failure is not None:
        raise failure


def observe_logits(model: nn.Module, logits: Tensor) -> Tensor:
    """Pass logits computed without ``model.forward`` (a CAM net's head on its features) to the active guard; returns them."""
    guard = _GUARDS.get(model)
    if guard is not None:
        guard.observe(logits)
    return logits


@contextmanager
def evaluation_mode(model: nn.Module, *, eval_mode: bool = True, check_outputs: bool = True) -> Iterator[nn.Module]:
    """Run ``model`` with autocast off and gradients enabled, in eval mode unless ``eval_mode=False``.

    Every submodule's train/eval flag is restored on exit. With ``check_outputs`` the model's
    outputs must be finite logits (``finite_outputs``: one host read on exit). Raises a clear
    error under ``torch.inference_mode``, whose tensors can never enter autograd (Lightning runs
    validation that way unless the Trainer gets ``inference_mode=False``).
    """
    require_autograd("attacks and attributions")
    device_type = next(model.parameters(), torch.empty(0)).device.type
    with (
        eval_layers(model) if eval_mode else nullcontext(),
        finite_outputs(model) if check_outputs else nullcontext(),
        torch.autocast(device_type, enabled=False),
        torch.enable_grad(),
    ):
        yield model

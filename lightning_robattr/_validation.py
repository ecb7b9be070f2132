"""The one input guard of the package: clear errors, naming the argument and the fix, before any work is done.

Attacks and attributions pass their images and labels through :func:`check_batch`; scalar
hyperparameters go through :func:`check_positive_int`, :func:`check_nonnegative`, :func:`check_eps`,
:func:`check_choice` and :func:`check_keywords`; the maps a similarity metric compares through
:func:`check_same_shape`, detection scores through :func:`check_scores`. Depends on torch only, so
every layer of the package may import it.

Images are float pixels in [0, 1], ``(B, C, H, W)`` with ``B >= 1``, in float32, float16 or
bfloat16, or float64 when the model is float64 too (gradient checks): the image dtype must be
the model's parameter dtype. Values up to :func:`round_off` outside [0, 1] (left by a
normalisation and its inverse) are clamped; anything further out is refused.
"""

import math
import numbers
import warnings
from collections.abc import Callable, Collection, Mapping
from functools import wraps
from inspect import Parameter, signature
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

IMAGE_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def round_off(dtype: torch.dtype) -> float:
    """How far outside [0, 1] a pixel of ``dtype`` may lie and still be accepted (then clamped): ``max(1e-6, 2 eps)``."""
    return max(1e-6, 2 * torch.finfo(dtype).eps)


def require_autograd(who: str, *, where: str = "this code", tensors: tuple[Tensor, ...] = ()) -> None:
    """Raise under ``torch.inference_mode`` (or for tensors made there), whose tensors can never enter autograd."""
    if torch.is_inference_mode_enabled() or any(t.is_inference() for t in tensors):
        raise RuntimeError(
            f"{who} cannot run without autograd, but {where} runs under torch.inference_mode (or on a tensor made there); "
            "create the Trainer with inference_mode=False (the lightning_robattr CLI does this by default)"
        )


def check_choice(value: Any, choices: Collection[Any], *, name: str) -> None:
    """Raise unless ``value`` is one of ``choices``; the message lists them."""
    if isinstance(value, bool) or value not in list(choices):
        raise ValueError(f"unknown {name} {value!r}; {name} must be one of {', '.join(map(str, choices))}")


def check_keywords(options: Mapping[str, Any], function: Callable[..., Any], *, name: str, exclude: Collection[str] = ()) -> None:
    """Raise unless every key of ``options`` is a keyword-only parameter of ``function`` (those in ``exclude`` not counted)."""
    accepted = [
        p.name for p in signature(function).parameters.values() if p.kind is Parameter.KEYWORD_ONLY and p.name not in exclude
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} in {name}; the options are {', '.join(accepted)}")


def check_positive_int(value: int, name: str, *, hint: str = "") -> None:
    """Raise unless ``value`` is an integer >= 1 (steps, restarts, iterations); ``hint`` ends the message."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}" + (f"; {hint}" if hint else ""))


def check_nonnegative(value: float, name: str, *, unit: str = "") -> None:
    """Raise unless ``value`` is a finite number >= 0 (step sizes, weights, constants); ``unit`` is said in the message."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < math.inf):
        raise ValueError(f"{name} must be a finite number >= 0{unit}, got {value!r}")


def check_eps(eps: float, *, name: str = "eps") -> None:
    """Raise unless the budget ``eps`` is a finite number >= 0 in pixel units of [0, 1] images."""
    check_nonnegative(eps, name, unit=f" in pixel units of [0, 1] images (8/255 = {8 / 255:.4f})")


def check_same_shape(a: Tensor, b: Tensor, names: tuple[str, str] = ("a", "b")) -> None:
    """Raise unless the maps ``a`` and ``b`` that a metric compares element by element have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must be maps of the same shape, one per image, got {names[0]} {tuple(a.shape)} and "
            f"{names[1]} {tuple(b.shape)}; compare maps of the same images on the same grid (upsample the coarser one, "
            "e.g. with torch.nn.functional.interpolate, or reduce both to (B, H, W) with the same channel rule)"
        )


def check_scores(scores: Tensor, name: str) -> Tensor:
    """``scores`` as a float64 ``(N,)`` tensor; raise unless it holds at least one score per image, none NaN (one host read)."""
    scores = torch.as_tensor(scores).detach()
    if scores.dim() != 1:
        raise ValueError(
            f"{name} must hold one score per image, shape (N,), got shape {tuple(scores.shape)}; pass a 1-D tensor "
            "(scores.flatten() for an (N, 1) column, or reduce each image's values to one score)"
        )
    if not len(scores):
        raise ValueError(f"{name} holds no scores; score at least one {name} image (check the filter that selected them)")
    nan = int(scores.isnan().sum())
    if nan:
        raise ValueError(
            f"{name} holds {nan} NaN score(s) of {len(scores)}, which have no rank; fix what produced them (e.g. a model "
            f"with non-finite outputs) or drop them with {name}[~{name}.isnan()]"
        )
    return scores.double()


def num_classes(model: nn.Module) -> int | None:
    """The classes ``model`` predicts: its ``num_classes``, else its last ``nn.Linear``'s outputs, else ``None``."""
    if isinstance(getattr(model, "num_classes", None), int):
        return model.num_classes
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def check_cam_net(model: nn.Module, *, method: str, alternative: str | None = None) -> None:
    """Raise unless ``model`` has the CAM structure (``features`` -> global average pooling -> linear ``classifier``).

    ``method`` names what needs it; ``alternative`` is a second fix offered in the message.
    """
    missing = [name for name in ("features", "classifier") if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"{method} needs a CAM net (features -> global average pooling -> linear classifier), but the model "
            f"{type(model).__name__} has no {' or '.join(missing)}; wrap it in lightning_robattr.models.CAMAdapter "
            "(e.g. CAMAdapter(resnet, feature_layer='layer4', classifier='fc'))" + (f", or {alternative}" if alternative else "")
        )


def check_batch(
    model: nn.Module | None,
    x: Tensor,
    labels: Mapping[str, Any] | None = None,
    *,
    name: str = "x",
    required: Collection[str] = (),
) -> tuple[Tensor, ...]:
    """Check images ``x (B, C, H, W)`` and class labels against ``model``; return ``(x, *labels)`` ready to use.

    Args:
        model: the classifier the batch is for (``None``: no model checks); its parameters' dtype
            must be ``x``'s, its first convolution must take ``C`` channels, and labels must lie in
            ``[0, num_classes(model))``.
        x: float pixels in [0, 1], at least one image, all finite.
        labels: ``{argument name: labels}``, each an int or an integer tensor ``()`` (one class for every image) or ``(B,)``;
            ``None`` (the predicted class) is allowed unless the name is in ``required``.
        name: the images' argument name, for the messages.

    Returns:
        ``x`` (clamped to [0, 1] where round-off left it just outside) followed by each label as a
        LongTensor ``(B,)`` on ``x``'s device, or ``None``.

    Costs one host synchronisation (all the value checks share one device-to-host copy).
    """
    _check_image_structure(x, name)
    if model is not None:
        _check_model_fits(model, x, name)
    classes = num_classes(model) if model is not None else None
    checked = [
        _label_tensor(value, x, label_name, required=label_name in required) for label_name, value in (labels or {}).items()
    ]
    bounds = [x.detach().aminmax()] + [t.aminmax() for t in checked if t is not None]
    exact = torch.promote_types(x.dtype, torch.float32)  # exact for the pixels and for class indices < 2**24
    values = torch.stack([v.to(exact) for pair in bounds for v in pair]).tolist()  # the one host sync
    x = _checked_values(x, name, *values[:2])
    given = [(label_name, t) for label_name, t in zip(labels or {}, checked) if t is not None]
    for (label_name, _), low, high in zip(given, values[2::2], values[3::2]):
        _check_label_range(label_name, int(low), int(high), classes)
    return (x, *checked)


def _check_image_structure(x: Tensor, name: str) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a tensor of images (B, C, H, W), got {type(x).__name__}; convert with torch.as_tensor")
    if x.dim() != 4:
        hint = f"add the batch dimension with {name}.unsqueeze(0)" if x.dim() == 3 else "reshape to (B, C, H, W)"
        raise ValueError(f"{name} must be a batch of images (B, C, H, W), got shape {tuple(x.shape)}; {hint}")
    if x.dtype not in IMAGE_DTYPES:
        raise TypeError(
            f"{name} must hold float pixels in [0, 1] (float32, float16, bfloat16 or float64), got {x.dtype}; "
            f"convert 8-bit images with {name}.float() / 255"
        )
    if x.numel() == 0:
        raise ValueError(f"{name} is an empty batch, shape {tuple(x.shape)}; pass at least one image (B >= 1)")


def _check_model_fits(model: nn.Module, x: Tensor, name: str) -> None:
    parameter = next((p for p in model.parameters() if p.is_floating_point()), None)
    if parameter is not None and parameter.dtype != x.dtype:
        raise TypeError(
            f"{name} is {x.dtype} but the model's parameters are {parameter.dtype}; convert the images with "
            f"{name}.to({parameter.dtype}) (or the model with model.to({x.dtype}))"
        )
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is not None and conv.in_channels != x.shape[1]:
        conversions = {
            (1, 3): f" (grey to RGB: {name}.expand(-1, 3, -1, -1))",
            (3, 1): f" (RGB to grey: {name}.mean(1, keepdim=True))",
        }
        raise ValueError(
            f"{name} has {x.shape[1]} channels (shape {tuple(x.shape)}) but the model's first convolution expects "
            f"{conv.in_channels}; give {conv.in_channels}-channel images{conversions.get((x.shape[1], conv.in_channels), '')} "
            "or a model built for this data"
        )


def _label_tensor(value: Any, x: Tensor, name: str, *, required: bool) -> Tensor | None:
    """``value`` as a LongTensor ``(B,)`` on ``x``'s device (``None`` passes unless ``required``)."""
    batch = x.shape[0]
    if value is None and not required:
        return None
    kind = f"{value.dtype} tensor" if torch.is_tensor(value) else type(value).__name__
    listed = isinstance(value, (numbers.Integral, list, tuple))
    tensor = value if torch.is_tensor(value) else torch.as_tensor(value) if listed else None
    integral = tensor is not None and not (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool)
    if not integral or isinstance(value, bool):
        raise TypeError(
            f"{name} must be integer class indices (an int or an integer tensor of shape ({batch},)), got {kind} "
            f"{value!r:.60}; pass whole class numbers as a long tensor (e.g. torch.tensor([3, 1]))"
            + ("" if required else ", or None for the predicted class")
        )
    if tensor.dim() > 1 or (tensor.dim() == 1 and len(tensor) != batch):
        raise ValueError(
            f"{name} must hold one class label per image, shape ({batch},), or be a single int, "
            f"got shape {tuple(tensor.shape)}; give as many labels as images"
        )
    tensor = tensor.to(x.device, torch.long).reshape(-1)
    return tensor if len(tensor) == batch else tensor.repeat(batch)


def _checked_values(x: Tensor, name: str, low: float, high: float) -> Tensor:
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(
            f"{name} holds {bad} non-finite pixel value(s) (nan or inf); fix the data or preprocessing that produced them "
            f"(e.g. drop those images, or torch.nan_to_num({name}) if zeros are right)"
        )
    tolerance = round_off(x.dtype)
    if low < -tolerance or high > 1 + tolerance:
        raise ValueError(
            f"{name} must lie in [0, 1] (pixel space; normalise inside the model, e.g. models.Normalize), got values in "
            f"[{low:.4g}, {high:.4g}]; divide 8-bit images by 255 and undo any normalisation before the call"
        )
    return x.clamp(0, 1) if low < 0 or high > 1 else x


def _check_label_range(name: str, low: int, high: int, classes: int | None) -> None:
    if low < 0:
        raise ValueError(
            f"{name} holds the class index {low}; class indices start at 0 and negative ones are not wrapped around: "
            "give the class number itself" + (f" (the last class is {classes - 1})" if classes else "")
        )
    if classes is not None and high >= classes:
        raise ValueError(
            f"{name} holds the class index {high} but the model predicts {classes} classes; give labels in "
            f"0..{classes - 1} (or a model with more outputs)"
        )


Function = TypeVar("Function", bound=Callable[..., Any])


def renamed_keywords(**renamed: str) -> Callable[[Function], Function]:
    """Decorator: the function also takes the old keywords of ``renamed`` (``{old: new}``), each with a ``FutureWarning``.

    The signature shows the new names only (``functools.wraps``); an old and its new name together are a ``TypeError``.

    Example:
        >>> @renamed_keywords(interpreter="method")
        ... def attack(*, method: str = "cam") -> str:
        ...     return method
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     attack(interpreter="grad"), str(caught[0].message)
        ('grad', 'attack(interpreter=...) is renamed attack(method=...); the old name will be removed')
    """

    def decorate(function: Function) -> Function:
        name = function.__qualname__.removesuffix(".__init__")

        @wraps(function)
        def with_old_names(*args: Any, **kwargs: Any) -> Any:
            for old, new in renamed.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{name}() got {old}= and {new}=, the old and the new name of one argument; give {new}= only")
                message = f"{name}({old}=...) is renamed {name}({new}=...); the old name will be removed"
                warnings.warn(message, FutureWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return with_old_names  # type: ignore[return-value]

    return decorate

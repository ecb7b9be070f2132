"""Attribution methods by name."""

from collections.abc import Callable
from functools import partial

from torch import Tensor

from .._validation import check_choice, check_keywords
from .cam import cam
from .deeplift import deeplift
from .grad import grad
from .grad_cam import grad_cam
from .grad_cam_pp import grad_cam_pp
from .integrated_gradients import integrated_gradients
from .mask import mask
from .representation import representation
from .rts import rts
from .saliency import saliency
from .smooth_grad import smooth_grad
from .uni_grad import uni_grad

ATTRIBUTIONS: dict[str, Callable[..., Tensor]] = {
    "saliency": saliency,
    "grad_x_input": partial(saliency, multiply_by_inputs=True),
    "ig": integrated_gradients,
    "smoothgrad": smooth_grad,
    "unigrad": uni_grad,
    "cam": cam,
    "gradcam": grad_cam,
    "gradcampp": grad_cam_pp,
    "repr": representation,
    "deeplift": deeplift,
    "mask": mask,
    "grad": grad,
    "rts": rts,
}


REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {"rts": ("saliency_net",)}
"""Methods that cannot run without some options (RTS needs its trained masking network)."""


def get_attribution(name: str, **options) -> Callable[..., Tensor]:
    """The attribution method ``name`` with ``options`` bound: call it as ``fn(model, x, target=None, **more)``.

    Raises ``ValueError`` for an unknown name or an option the method does not take.

    Names: ``saliency, grad_x_input, ig, smoothgrad, unigrad, cam, gradcam, gradcampp, repr, deeplift, mask, grad, rts`` (``rts`` needs
    ``saliency_net=``, a trained masking network or an ``RTSModule`` checkpoint path).

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> ig = get_attribution("ig", steps=8)
        >>> ig(Small().eval(), torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 1, 28, 28])
    """
    check_choice(name, ATTRIBUTIONS, name="attribution")
    check_keywords(options, ATTRIBUTIONS[name], name=f"the options of the attribution {name!r}")
    return partial(ATTRIBUTIONS[name], **options)

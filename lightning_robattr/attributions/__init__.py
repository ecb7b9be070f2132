"""Differentiable attribution methods: ``fn(model, x, target=None, *, create_graph=False, **options) -> Tensor``.

Gradient maps (``saliency``, ``integrated_gradients``, ``smooth_grad``, ``uni_grad``, ``deeplift``)
have the input's shape ``(B, C, H, W)``; the CAM family (``cam``, ``grad_cam``, ``grad_cam_pp``,
``grad_cam_pp_int_repo``) returns ``(B, h, w)`` on the feature grid; ``representation`` returns ``(B, K, h, w)``; ``mask``
(Fong & Vedaldi's meaningful perturbation) returns ``(B, H, W)``; ``grad`` (the ADV2 authors'
pooled loss gradient) and ``rts`` (a trained real-time saliency network) return coarse ``(B, h, w)`` grids. ``LastLayerInfluence`` explains a
prediction by training images instead (Koh & Liang's influence functions).
``get_attribution(name, **options)`` looks methods up by name; ``attribution_record(name)`` gives what the
package knows about one (an :class:`AttributionMethod` of :data:`ATTRIBUTION_METHODS`).

Every method runs the model in eval mode, restoring each submodule's mode afterwards, and
refuses a model whose logits are not a finite tensor (``_score.attribution_method``).
"""

from ._cam import cam, class_activation_maps
from ._deeplift import deeplift
from ._grad import grad
from ._grad_cam import grad_cam
from ._grad_cam_pp import grad_cam_pp
from ._grad_cam_pp_int_repo import grad_cam_pp_int_repo
from ._influence import LastLayerInfluence
from ._integrated_gradients import integrated_gradients
from ._mask import mask
from ._registry import ATTRIBUTION_METHODS, ATTRIBUTIONS, AttributionMethod, attribution_record, get_attribution
from ._representation import representation
from ._rts import rts
from ._saliency import saliency
from ._smooth_grad import smooth_grad
from ._uni_grad import uni_grad

__all__ = [
    "ATTRIBUTIONS",
    "ATTRIBUTION_METHODS",
    "AttributionMethod",
    "LastLayerInfluence",
    "attribution_record",
    "cam",
    "class_activation_maps",
    "deeplift",
    "get_attribution",
    "grad",
    "grad_cam",
    "grad_cam_pp",
    "grad_cam_pp_int_repo",
    "integrated_gradients",
    "mask",
    "representation",
    "rts",
    "saliency",
    "smooth_grad",
    "uni_grad",
]

"""Per-example attribution-similarity metrics on maps ``(B, ...)``, each returning a ``(B,)`` tensor.

Multi-channel maps ``(B, C, H, W)`` are first reduced to one map per image by
``reduce_channels(maps, rule)`` (default ``"abs_sum"``: sum of absolute values over channels);
3-D maps ``(B, H, W)`` such as CAMs are used as they are.
"""

from ._degenerate import constant_maps
from ._discrepancy import interpretation_discrepancy, normalized_discrepancy
from ._distances import cosine_distance, lp_distance
from ._eps_auc import eps_auc
from ._iou import IOU_GRID, iou
from ._kendall_tau import kendall_tau
from ._mass_center_dislocation import mass_center, mass_center_dislocation
from ._reduce_channels import CHANNEL_RULES, reduce_channels
from ._spearman import average_ranks, spearman
from ._topk_intersection import topk_indices, topk_intersection

__all__ = [
    "CHANNEL_RULES",
    "IOU_GRID",
    "average_ranks",
    "constant_maps",
    "cosine_distance",
    "eps_auc",
    "interpretation_discrepancy",
    "iou",
    "kendall_tau",
    "lp_distance",
    "mass_center",
    "mass_center_dislocation",
    "normalized_discrepancy",
    "reduce_channels",
    "spearman",
    "topk_indices",
    "topk_intersection",
]

"""``map_figure``: a labelled matplotlib figure of clean and attacked attribution maps, one row per image."""

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class MapPanel:
    """One method's maps of ``N`` images before and after an attack on them.

    Attributes:
        x, x_adv: clean and attacked images ``(N, C, H, W)`` in [0, 1].
        clean, attacked: their maps ``(N, h, w)`` (``|attribution|`` summed over channels).
        scores: per-image top-k intersection of ``clean`` and ``attacked`` ``(N,)``, in [0, 1].
    """

    x: Tensor
    clean: Tensor
    x_adv: Tensor
    attacked: Tensor
    scores: Tensor


def map_figure(panel: MapPanel, *, title: str, score_name: str = "top-k") -> Any:
    """A matplotlib figure with columns input, clean map, attacked input, attacked map and one row per image.

    Each row's two maps share one colour scale, from 0 to the larger of their maxima (the colour
    bar reads as a share of that maximum), so a mass that moves or spreads is visible; CAM-grid
    maps are upsampled to the image (nearest). The attacked map's panel names the image's score
    (``score_name``); a row whose maps are constant is marked so, since no score of it means anything.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(panel.x)
    figure, axes = plt.subplots(rows, 4, figsize=(7.6, 1.9 * rows + 0.6), squeeze=False, layout="constrained")
    size = tuple(panel.x.shape[-2:])
    scale = torch.maximum(panel.clean.flatten(1).amax(1), panel.attacked.flatten(1).amax(1)).clamp_min(1e-12)
    columns = ("input", "clean map", "attacked input", "attacked map")
    for i in range(rows):
        maps = [_upsampled(m[i], size) / scale[i] for m in (panel.clean, panel.attacked)]
        constant = all(float(m.max() - m.min()) == 0 for m in maps)
        for j, (content, is_map) in enumerate(((panel.x[i], False), (maps[0], True), (panel.x_adv[i], False), (maps[1], True))):
            axis = axes[i, j]
            if is_map:
                shown = axis.imshow(content.cpu().numpy(), cmap="inferno", vmin=0, vmax=1)
            else:
                _show_image(axis, content)
            axis.set_xticks([])
            axis.set_yticks([])
            if i == 0:
                axis.set_title(columns[j], fontsize=9)
        note = "constant maps" if constant else f"{score_name} {float(panel.scores[i]):.2f}"
        axes[i, 3].set_xlabel(note, fontsize=8, color="crimson" if constant else "black")
        axes[i, 0].set_ylabel(f"image {i}", fontsize=8)
    figure.suptitle(title, fontsize=10)
    bar = figure.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
    bar.set_label("attribution / row maximum", fontsize=8)
    return figure


def _upsampled(map_: Tensor, size: tuple[int, int]) -> Tensor:
    """A map ``(h, w)`` resized (nearest) to ``size``."""
    return map_ if tuple(map_.shape) == size else F.interpolate(map_[None, None].float(), size=size, mode="nearest")[0, 0]


def _show_image(axis: Any, image: Tensor) -> None:
    """Draw an image ``(C, H, W)`` in [0, 1]: grey for one channel, the first three channels otherwise."""
    pixels = image.detach().cpu().clamp(0, 1)
    if pixels.shape[0] == 1:
        axis.imshow(pixels[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        axis.imshow(pixels[:3].permute(1, 2, 0).numpy())

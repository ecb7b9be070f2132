"""Drawing clean and attacked attribution maps, one row per image: a labelled figure (``map_figure``) or an image grid (``map_grid``)."""

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.utils import make_grid


@dataclass(frozen=True)
class MapPanel:
    """One method's maps of ``N`` images before and after an attack on them.

    Attributes:
        x, x_adv: clean and attacked images ``(N, C, H, W)`` in [0, 1].
        clean, attacked: their maps ``(N, h, w)`` (``|attribution|`` summed over channels).
        scores: per-image top-k intersection of ``clean`` and ``attacked`` ``(N,)``, in [0, 1].
        k: the ``k`` of ``scores`` (cells of the map).
    """

    x: Tensor
    clean: Tensor
    x_adv: Tensor
    attacked: Tensor
    scores: Tensor
    k: int

    def colour_scales(self) -> Tensor:
        """``(N,)``: each row's colour-scale maximum, the larger of its two maps' maxima (each pair shares one scale)."""
        return torch.maximum(self.clean.flatten(1).amax(1), self.attacked.flatten(1).amax(1)).clamp_min(1e-12)


def map_figure(panel: MapPanel, *, title: str) -> Any:
    """A matplotlib figure with columns input, clean map, attacked input, attacked map and one row per image.

    Each row's two maps share one colour scale, from 0 to the larger of their maxima (the colour
    bar reads as a share of that maximum), so a mass that moves or spreads is visible; CAM-grid
    maps are upsampled to the image (nearest). The attacked map's panel names the image's score
    (``top-<k>``); a row whose maps are constant is marked so, since no score of it means anything.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(panel.x)
    figure, axes = plt.subplots(rows, 4, figsize=(7.6, 1.9 * rows + 0.6), squeeze=False, layout="constrained")
    size = panel.x.shape[-2:]
    scale = panel.colour_scales()
    columns = ("input", "clean map", "attacked input", "attacked map")
    for i in range(rows):
        maps = [_upsampled(m[i : i + 1], size)[0] / scale[i] for m in (panel.clean, panel.attacked)]
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
        note = "constant maps" if constant else f"top-{panel.k} {float(panel.scores[i]):.2f}"
        axes[i, 3].set_xlabel(note, fontsize=8, color="crimson" if constant else "black")
        axes[i, 0].set_ylabel(f"image {i}", fontsize=8)
    figure.suptitle(title, fontsize=10)
    bar = figure.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
    bar.set_label("attribution / row maximum", fontsize=8)
    return figure


def map_grid(panel: MapPanel) -> Tensor:
    """``(3, H', W')`` image grid in [0, 1]: rows ``[x_i, clean map_i, x_adv_i, attacked map_i]`` of ``panel``
    (maps coloured black-red-yellow-white on each row's colour scale, images upscaled to at least 64 pixels)."""
    size = panel.x.shape[-2:]
    scale = panel.colour_scales().view(-1, 1, 1)
    clean_rgb, adv_rgb = (_heat(_upsampled(maps, size) / scale) for maps in (panel.clean, panel.attacked))
    tiles = torch.stack([_rgb(panel.x), clean_rgb, _rgb(panel.x_adv), adv_rgb], dim=1).flatten(0, 1)
    factor = max(1, -(-64 // max(size)))
    tiles = F.interpolate(tiles, scale_factor=factor, mode="nearest") if factor > 1 else tiles
    return make_grid(tiles.detach().cpu().clamp(0, 1), nrow=4, padding=2, pad_value=1.0)


def _upsampled(maps: Tensor, size: torch.Size) -> Tensor:
    """Maps ``(N, h, w)`` resized (nearest) to the image size."""
    return maps if maps.shape[-2:] == size else F.interpolate(maps[:, None].float(), size=tuple(size), mode="nearest")[:, 0]


def _heat(values: Tensor) -> Tensor:
    """``(N, 3, H, W)``: values in [0, 1] ``(N, H, W)`` coloured black -> red -> yellow -> white."""
    v = values.clamp(0, 1)[:, None]
    return torch.cat([(3 * v).clamp(0, 1), (3 * v - 1).clamp(0, 1), (3 * v - 2).clamp(0, 1)], dim=1)


def _rgb(x: Tensor) -> Tensor:
    """Images ``(N, C, H, W)`` as three-channel images (grey repeated; the first three channels otherwise)."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x[:, :3]


def _show_image(axis: Any, image: Tensor) -> None:
    """Draw an image ``(C, H, W)`` in [0, 1]: grey for one channel, the first three channels otherwise."""
    pixels = image.detach().cpu().clamp(0, 1)
    if pixels.shape[0] == 1:
        axis.imshow(pixels[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        axis.imshow(pixels[:3].permute(1, 2, 0).numpy())

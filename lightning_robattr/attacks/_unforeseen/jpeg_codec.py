"""A differentiable JPEG codec without rounding: YCbCr, 4:2:0 chroma, 8x8 DCT, standard tables.

Works on the 0-255 scale on RGB images whose sides are multiples of 16. ``jpeg_encode`` returns
the quantised coefficients ``DCT / Q`` (real-valued); ``jpeg_decode`` inverts it exactly, so
``jpeg_decode(jpeg_encode(x))`` only loses the chroma detail of the 4:2:0 subsampling.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LUMA_TABLE = [
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
]
CHROMA_CORNER = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]
RGB_TO_YCBCR = [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
YCBCR_TO_RGB = [[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]]


def _tables(device, dtype) -> tuple[Tensor, Tensor, Tensor]:
    """The orthonormal 8x8 DCT-II matrix and the luma and chroma quantisation tables (row = vertical frequency)."""
    k = torch.arange(8, dtype=torch.float64)
    dct = torch.cos((2 * k[None] + 1) * k[:, None] * math.pi / 16) * 0.5
    dct[0] /= math.sqrt(2)
    chroma = torch.full((8, 8), 99.0, dtype=torch.float64)
    chroma[:4, :4] = torch.tensor(CHROMA_CORNER, dtype=torch.float64)
    luma = torch.tensor(LUMA_TABLE, dtype=torch.float64)
    return tuple(t.to(device=device, dtype=dtype) for t in (dct, luma, chroma))


def _to_blocks(plane: Tensor) -> Tensor:
    """``(B, H, W)`` -> ``(B, H/8 * W/8, 8, 8)`` in row-major block order."""
    b, h, w = plane.shape
    return plane.reshape(b, h // 8, 8, w // 8, 8).transpose(2, 3).reshape(b, -1, 8, 8)


def _from_blocks(blocks: Tensor, h: int, w: int) -> Tensor:
    """Inverse of ``_to_blocks``."""
    b = blocks.shape[0]
    return blocks.reshape(b, h // 8, w // 8, 8, 8).transpose(2, 3).reshape(b, h, w)


def jpeg_encode(x: Tensor) -> Tensor:
    """Quantised DCT coefficients ``(B, N, 8, 8)`` of RGB images ``(B, 3, H, W)`` on the 0-255 scale.

    ``N = HW/64 + 2 * HW/256``: the luma blocks, then the Cb and the Cr blocks of the 2x2-averaged chroma.
    """
    dct, luma, chroma = _tables(x.device, x.dtype)
    ycc = torch.einsum("ij,bjhw->bihw", x.new_tensor(RGB_TO_YCBCR), x)
    planes = [ycc[:, 0] - 128, F.avg_pool2d(ycc[:, 1:], 2)[:, 0], F.avg_pool2d(ycc[:, 1:], 2)[:, 1]]
    coeffs = [dct @ _to_blocks(p) @ dct.T for p in planes]
    return torch.cat([coeffs[0] / luma, coeffs[1] / chroma, coeffs[2] / chroma], dim=1)


def jpeg_decode(q: Tensor, height: int, width: int) -> Tensor:
    """RGB images ``(B, 3, height, width)`` on the 0-255 scale, clamped, from coefficients ``q`` of ``jpeg_encode``."""
    dct, luma, chroma = _tables(q.device, q.dtype)
    n_luma, n_chroma = height * width // 64, height * width // 256
    y_blocks, cb_blocks, cr_blocks = q.split([n_luma, n_chroma, n_chroma], dim=1)
    y = _from_blocks(dct.T @ (y_blocks * luma) @ dct, height, width) + 128
    cb, cr = (_from_blocks(dct.T @ (c * chroma) @ dct, height // 2, width // 2) for c in (cb_blocks, cr_blocks))
    cbcr = torch.stack([cb, cr], dim=1).repeat_interleave(2, -2).repeat_interleave(2, -1)
    ycc = torch.cat([y[:, None], cbcr], dim=1)
    return torch.einsum("ij,bjhw->bihw", q.new_tensor(YCBCR_TO_RGB), ycc).clamp(0, 255)

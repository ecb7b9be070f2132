"""LeCun's idx files (MNIST, Fashion-MNIST), gzipped or not: read into memory and checked, never written."""

import gzip
import math
import struct
import zlib
from pathlib import Path

import torch
from torch import Tensor

UBYTE = 0x08
"""The idx type code of unsigned bytes, the only type the MNIST files use."""


def _fix(path: Path) -> str:
    return f"delete it and copy in a fresh download of {path.name.removesuffix('.gz')}.gz"


def _file_bytes(path: Path) -> bytes:
    """The contents of ``path``, un-gzipped in memory if its name ends in ``.gz``; a broken gzip raises a ``ValueError`` naming it."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a complete gzip file ({type(error).__name__}: {error}); {_fix(path)}") from None


def read_idx(path: Path, ndim: int) -> Tensor:
    """The uint8 idx file ``path`` (gzipped if named ``*.gz``) as a uint8 tensor of the shape its header announces.

    Raises a ``ValueError`` naming the file if it is not a whole ``ndim``-dimensional uint8 idx file.
    """
    data = _file_bytes(path)
    header = data[: 4 + 4 * ndim]
    if header[:4] != bytes((0, 0, UBYTE, ndim)):
        raise ValueError(
            f"{path} is not a {ndim}-dimensional uint8 idx file (it starts with {header[:4].hex() or 'nothing'} "
            f"instead of 000008{ndim:02x}); {_fix(path)}"
        )
    if len(header) < 4 + 4 * ndim:
        raise ValueError(
            f"{path} is truncated: {len(data)} bytes, less than the header of a {ndim}-dimensional idx file; {_fix(path)}"
        )
    shape = struct.unpack(f">{ndim}I", header[4:])
    expected = len(header) + math.prod(shape)
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(f"{path} is {state}: {len(data)} bytes, but an idx file of shape {shape} has {expected}; {_fix(path)}")
    return torch.frombuffer(bytearray(data[len(header) :]), dtype=torch.uint8).reshape(shape)


def read_idx_pair(images: Path, labels: Path) -> tuple[Tensor, Tensor]:
    """Images ``(N, 1, H, W)`` uint8 and labels ``(N,)`` int64 from two idx files; a ``ValueError`` unless both are whole and of as many examples."""
    pixels, targets = read_idx(images, 3), read_idx(labels, 1)
    if len(pixels) != len(targets):
        raise ValueError(
            f"the images and labels counts differ: {images} holds {len(pixels)} images but {labels} holds "
            f"{len(targets)} labels; replace both with fresh downloads of the same release "
            f"({images.name.removesuffix('.gz')}.gz, {labels.name.removesuffix('.gz')}.gz)"
        )
    return pixels.unsqueeze(1), targets.long()

"""LeCun's idx files (MNIST, Fashion-MNIST): un-gzipped atomically and checked before torchvision reads them."""

import gzip
import math
import os
import shutil
import struct
import zlib
from pathlib import Path

UBYTE = 0x08
"""The idx type code of unsigned bytes, the only type the MNIST files use."""


def gunzip(source: Path, target: Path) -> None:
    """Un-gzip ``source`` into ``target``; a broken ``source`` raises a ``ValueError`` naming it and leaves no file behind."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with gzip.open(source, "rb") as packed, open(partial, "wb") as unpacked:
            shutil.copyfileobj(packed, unpacked)
        os.replace(partial, target)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(
            f"{source} is not a complete gzip file ({type(error).__name__}: {error}); "
            f"delete it and copy in a fresh download of {source.name}"
        ) from None
    finally:
        partial.unlink(missing_ok=True)


def idx_shape(path: Path, ndim: int) -> tuple[int, ...]:
    """The shape that the header of the uint8 idx file ``path`` announces, checked against ``ndim`` and the file's size."""
    with open(path, "rb") as file:
        header = file.read(4 + 4 * ndim)
    fix = f"delete it (and {path.name}.gz next to it, if any) and copy in a fresh download of {path.name}.gz"
    if header[:4] != bytes((0, 0, UBYTE, ndim)):
        raise ValueError(
            f"{path} is not a {ndim}-dimensional uint8 idx file (it starts with {header[:4].hex() or 'nothing'} "
            f"instead of 000008{ndim:02x}); {fix}"
        )
    size = path.stat().st_size
    if len(header) < 4 + 4 * ndim:
        raise ValueError(f"{path} is truncated: {size} bytes, less than the header of a {ndim}-dimensional idx file; {fix}")
    shape = struct.unpack(f">{ndim}I", header[4:])
    expected = len(header) + math.prod(shape)
    if size != expected:
        state = "truncated" if size < expected else "longer than its header says"
        raise ValueError(f"{path} is {state}: {size} bytes, but an idx file of shape {shape} has {expected}; {fix}")
    return shape


def check_idx_pair(images: Path, labels: Path) -> None:
    """Raise a ``ValueError`` unless ``images`` ``(N, H, W)`` and ``labels`` ``(N,)`` are whole idx files of as many examples."""
    image_count, label_count = idx_shape(images, 3)[0], idx_shape(labels, 1)[0]
    if image_count != label_count:
        raise ValueError(
            f"the images and labels counts differ: {images} holds {image_count} images but {labels} holds "
            f"{label_count} labels; replace both with fresh downloads of the same release ({images.name}.gz, {labels.name}.gz)"
        )

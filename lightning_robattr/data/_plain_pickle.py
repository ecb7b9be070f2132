"""Reading pickle files that may hold only plain data: no code runs while a dataset file loads."""

import pickle
from pathlib import Path
from typing import Any

# what a pickle of dicts, lists, strings, numbers and numeric NumPy arrays refers to (protocols 2 to 5,
# NumPy 1 and 2 module names); nothing here can run code of the file's choosing
_PLAIN_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    *((module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("_reconstruct", "scalar")),
    *((module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")),
}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PLAIN_GLOBALS:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which is not plain data")
        return super().find_class(module, name)


def load_plain_pickle(path: str | Path) -> Any:
    """The content of the pickle file ``path``, refusing anything but plain data and numeric NumPy arrays.

    Strings of Python 2 pickles are decoded as latin-1 (the CIFAR-10 files' convention).

    Raises:
        ValueError: the file refers to other classes or functions (it could run code when
            unpickled, as a tampered dataset file does) or is not a readable pickle; the
            message names the file and the fix.
    """
    try:
        with open(path, "rb") as file:
            return _PlainUnpickler(file, encoding="latin1").load()
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} is not a plain-data pickle ({error}); it was not loaded because unpickling it could run code. "
            "Replace it with the original file from the dataset's official archive"
        ) from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError) as error:
        raise ValueError(f"{path} is not a readable pickle ({type(error).__name__}: {error}); replace it with the original file") from None

"""Reproductions of the papers the framework comes from: one command per paper, the paper's numbers beside ours.

``python -m lightning_robattr.reproduce {int,ssr,fragile,detection,adv2,all} [--quick] [--seeds N] [--out reproductions/]``
trains the models a paper needs from the packaged regime configs (cached by config + seed, so a
rerun only evaluates), evaluates them with the paper's protocol and writes
``<out>/<paper>/report.md``, ``results.csv`` and PNG figures. Each claim of the paper is a row with
the paper's numbers, ours (mean ± std over seeds) and a verdict computed from the numbers.
"""

from pathlib import Path

from . import _adv2_paper as adv2_paper
from . import _detection_paper as detection_paper
from . import _fragile_paper as fragile_paper
from . import _int_paper as int_paper
from . import _ssr_paper as ssr_paper
from ._context import DEFAULT_OUT, Context
from ._progress import Progress
from ._report import commit

PAPERS = {"int": int_paper, "ssr": ssr_paper, "fragile": fragile_paper, "detection": detection_paper, "adv2": adv2_paper}
"""The reproducible papers by command name; each module's ``reproduce(ctx, command)`` writes that paper's report."""


def reproduce(
    paper: str,
    *,
    out: Path = DEFAULT_OUT,
    budget: str = "full",
    seeds: int = 3,
    data: str = "mnist5k",
    root: str | None = None,
    cache: Path | None = None,
    command: str = "(from Python)",
) -> Path:
    """Reproduce ``paper`` (``"int"``, ``"ssr"``, ``"fragile"``, ``"detection"`` or ``"adv2"``) and return the path of its ``report.md``.

    Args:
        out: reports go to ``out/<paper>/`` (default ``reproductions/`` in the current folder).
        budget: ``"quick"``, ``"full"`` or ``"paper"`` (see ``Context``).
        seeds: seeds per model; seeds drive the training and the evaluation subsets.
        data: ``"mnist5k"``, ``"fashion_mnist"`` (``root`` optional: the OS package's folder by default) or
            ``"cifar10"`` (with ``root``); reports of another dataset than MNIST5k go to ``out/<paper>_<data>/``.
        cache: trained models by config + seed (default ``out/.models``, shared by the papers).
    """
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; choose one of {', '.join(PAPERS)}")
    if data not in PAPERS[paper].DATASETS:
        raise ValueError(f"{paper} does not run on {data!r}: it runs on {', '.join(PAPERS[paper].DATASETS)} "
                         f"(the datasets whose configs hold all of its regimes)")
    folder = Path(out) / (paper if data == "mnist5k" else f"{paper}_{data}")
    folder.mkdir(parents=True, exist_ok=True)
    ctx = Context(folder, budget, seeds, data, root, Path(cache) if cache else Path(out) / ".models", Progress(paper, 1), commit())
    return PAPERS[paper].reproduce(ctx, command)


__all__ = ["PAPERS", "reproduce"]

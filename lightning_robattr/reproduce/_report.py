"""The numbers of a reproduction (``results.csv``), its figures (PNG) and ``report.md``."""

import csv
import math
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

from ._claims import Claim, fmt, mean_std  # noqa: E402

FIELDS = ("paper", "model", "seed", "protocol", "metric", "eps", "value")


@dataclass
class Results:
    """Every measured number of one paper's reproduction, one row per (model, seed, protocol, metric, eps)."""

    paper: str
    rows: list[dict] = field(default_factory=list)

    def add(self, model: str, seed: int, protocol: str, metric: str, eps: float | str, value: float) -> None:
        self.rows.append(dict(paper=self.paper, model=model, seed=seed, protocol=protocol, metric=metric, eps=eps, value=float(value)))

    def record(self, model: str, seed: int, protocol: str, values: Mapping[str, float]) -> None:
        """Store an evaluation callback's values: the tag without its first segment and its ``eps=`` label is the metric."""
        for tag, value in values.items():
            parts = tag.split("/")
            eps = next((p for p in parts if p.startswith("eps=")), "")
            self.add(model, seed, protocol, "/".join(p for p in parts[1:] if not p.startswith("eps=")), eps, float(value))

    def values(self, model: str, protocol: str, metric: str, eps: float | str = "") -> list[float]:
        """The value of every seed (in seed order) of one number."""
        return [
            r["value"] for r in self.rows
            if r["model"] == model and r["protocol"] == protocol and r["metric"] == metric and str(r["eps"]) == str(eps)
        ]

    def mean(self, model: str, protocol: str, metric: str, eps: float | str = "") -> float:
        return mean_std(self.values(model, protocol, metric, eps))[0]

    def text(self, model: str, protocol: str, metric: str, eps: float | str = "", digits: int = 3) -> str:
        return fmt(self.values(model, protocol, metric, eps), digits)

    def curve(self, model: str, protocol: str, metric: str, eps: Sequence[float]) -> tuple[list[float], list[float]]:
        """Means and standard deviations over seeds of ``metric`` at each of ``eps``."""
        stats = [mean_std(self.values(model, protocol, metric, e)) for e in eps]
        return [m for m, _ in stats], [s for _, s in stats]

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)


Series = Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]]


def plot_panels(path: Path, panels: Mapping[str, Series], *, xlabel: str | Mapping[str, str], ylabel: str | Mapping[str, str],
                logx: bool = False, title: str = "") -> None:
    """One subplot per panel, one line (mean, with +- std error bars) per series ``{label: (x, mean, std)}``.

    ``xlabel`` and ``ylabel`` are one label for every panel or one per panel title.
    """
    columns = min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.6 * rows), squeeze=False)
    for axis, (name, series) in zip(axes.flat, panels.items()):
        for label, (x, mean, std) in series.items():
            axis.errorbar(x, mean, yerr=[0 if math.isnan(s) else s for s in std], marker="o", capsize=3, label=label)
        axis.set_title(name)
        axis.set_xlabel(xlabel[name] if isinstance(xlabel, Mapping) else xlabel)
        axis.set_ylabel(ylabel[name] if isinstance(ylabel, Mapping) else ylabel)
        if logx:
            axis.set_xscale("log", base=2)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_map_grids(path: Path, grids: Mapping[str, Tensor], *, title: str) -> None:
    """Map grids ``{label: (3, H, W)}`` from ``AttributionMapLogger.grids`` side by side (columns: image, map, attacked image, its map)."""
    figure, axes = plt.subplots(1, len(grids), figsize=(3.4 * len(grids), 4.2), squeeze=False)
    for axis, (label, grid) in zip(axes.flat, grids.items()):
        axis.imshow(grid.permute(1, 2, 0).numpy())
        axis.set_title(label, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_xlabel("image | map | attacked | its map", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def commit() -> str:
    """The git commit of the package's checkout, or ``"unknown"`` (an installed copy)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def claims_table(claims: Sequence[Claim]) -> str:
    """The markdown table of the claims: source, claim, paper, ours, verdict, what was compared."""
    lines = ["| source | claim | paper | ours | verdict | compared |", "|---|---|---|---|---|---|"]
    for c in claims:
        lines.append(f"| {c.source} | {c.statement} | {c.paper} | {c.ours} | **{c.verdict}** | {c.compared} |")
    notes = [f"- **{c.source}**: {c.note}" for c in claims if c.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def write_report(folder: Path, *, title: str, command: str, revision: str, budget: str, data: str, minutes: float, claims: Sequence[Claim],
                 sections: Sequence[str], results: Results, seeds: Mapping[str, int]) -> Path:
    """Write ``report.md`` and ``results.csv`` in ``folder``; return the report's path (``revision``: the commit the run started from)."""
    results.write_csv(folder / "results.csv")
    trained = ", ".join(f"{label} {n}" for label, n in seeds.items())
    header = [
        f"# {title}",
        "",
        f"- command: `{command}`",
        f"- commit: `{revision}`; budget: `{budget}`; data: `{data}`; wall time: {minutes:.1f} min",
        f"- seeds per model: {trained}",
        "- every number is a mean ± standard deviation over the seeds (one value: one seed); `results.csv` holds each seed's value.",
        "",
        "## Claims",
        "",
        claims_table(claims),
        "",
    ]
    path = folder / "report.md"
    path.write_text("\n".join(header + list(sections)) + "\n")
    return path

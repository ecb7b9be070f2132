"""The paper's Figure 3: the share of images whose prediction survives masking, against the masked fraction."""

from collections.abc import Mapping

from torch import Tensor


def unchanged_curve_figure(curves: Mapping[str, Tensor], levels: Tensor):
    """A matplotlib figure, one line per kind (``"benign"`` thicker) of ``curves {kind: (J,)}`` over ``levels (J,)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 4))
    for kind, curve in curves.items():
        axis.plot(levels.numpy() * 100, curve.numpy(), marker="o", markersize=3, label=kind, linewidth=2.5 if kind == "benign" else 1.2)
    axis.set_xlabel("masked share of the positively attributed pixels (%)")
    axis.set_ylabel("share of images with unchanged prediction")
    axis.set_ylim(-0.02, 1.02)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure

"""Robust accuracy against training epochs for finished preset runs (the preset report of the presets page).

Each run is a ``fit`` directory (``--trainer.default_root_dir``) whose ``ModelCheckpoint`` kept a file
every few epochs (``--checkpoint.save_top_k -1 --checkpoint.every_n_epochs 5``). For every kept
checkpoint it measures, on the first ``--images`` test images of the run's own data module (its ``config.yaml``:
MNIST5k, Fashion-MNIST, ...) at L-inf ``--eps``: clean accuracy, PGD-40
(step 0.01, random start; an upper bound) and APGD-CE + APGD-DLR after it (``PGDEval(reference="apgd")``);
for the last checkpoint also AutoAttack standard (``PGDEval(reference="autoattack")``), the number
to report, and the APGD accuracy on as many training images (a gap to the test one is robust
overfitting: more data, not more epochs, would close it). Seconds per epoch come from the wall times of the run's ``val/acc`` events.

    python scripts/preset_curves.py madry=/runs/madry trades=/runs/trades --out reports/presets
    python scripts/preset_curves.py madry=/runs/fashion/madry --eps 0.1 --out reports/presets_fashion_mnist

Writes ``results.csv`` (one row per run and checkpoint), ``curves.png`` and prints a markdown table.
"""

import argparse
import csv
import importlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from lightning_robattr.attacks import PGDConfig
from lightning_robattr.callbacks import EvaluationSchedule, PGDEval
from lightning_robattr.regimes import read_checkpoint


def instantiate(spec: dict) -> object:
    """The object a ``config.yaml`` entry describes: ``{"class_path": ..., "init_args": {...}}``."""
    module, name = spec["class_path"].rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**spec.get("init_args", {}))


def load_net(config: dict, checkpoint: Path) -> nn.Module:
    """The run's network (class and arguments from its parsed ``config.yaml``) with the checkpoint's weights, in eval mode."""
    net = instantiate(config["model"]["init_args"]["net"])
    state = read_checkpoint(checkpoint)["state_dict"]
    net.load_state_dict({key[len("net."):]: value for key, value in state.items() if key.startswith("net.")})
    return net.eval()


def images_of(config: dict, count: int) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The first ``count`` test and training images (and labels) of the run's data module, as its parsed ``config.yaml`` builds it."""
    data = instantiate(config["data"])
    data.setup("fit")
    data.setup("test")

    def first(dataset) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [dataset[i] for i in range(min(count, len(dataset)))]
        return torch.stack([x for x, _ in pairs]), torch.tensor([int(y) for _, y in pairs])

    return first(data.test_dataloader().dataset), first(data.train_set)


def seconds_per_epoch(version: Path) -> float:
    """Median wall-clock seconds between consecutive ``val/acc`` events of the run."""
    events = EventAccumulator(str(version))
    events.Reload()
    times = torch.tensor([event.wall_time for event in events.Scalars("val/acc")], dtype=torch.float64)
    return times.diff().median().item()


def measure(net: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, autoattack_images: int | None) -> dict[str, float]:
    """Clean, PGD-40 and APGD accuracies on ``(x, y)``; AutoAttack's on the first ``autoattack_images``."""
    schedule = EvaluationSchedule(num_samples=None, batch_size=100, progress=False)
    results = PGDEval(eps=[eps], steps=[40], attack=PGDConfig(step_size=0.01), reference="apgd", schedule=schedule).evaluate(net, x, y)
    row = {
        "clean_acc": float(results["robust/pgd_linf/clean_acc"]),
        "pgd40_acc": float(results[f"robust/pgd_linf/eps={eps}/steps=40/acc"]),
        "apgd_acc": float(results[f"robust/pgd_linf/eps={eps}/reference_acc"]),
    }
    if autoattack_images:
        n = autoattack_images
        reference = PGDEval(eps=[eps], steps=[], reference="autoattack", schedule=schedule)
        row["autoattack_acc"] = float(reference.evaluate(net, x[:n], y[:n])[f"robust/autoattack_linf/eps={eps}/acc"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="NAME=DIR: a label and the run's default_root_dir")
    parser.add_argument("--out", type=Path, default=Path("reports/presets"))
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--images", type=int, default=500, help="test images of the curves (all of MNIST5k's 500)")
    parser.add_argument("--autoattack-images", type=int, default=200, help="test images of AutoAttack at the last checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in args.runs:
        name, directory = run.split("=", 1)
        version = max(Path(directory).glob("lightning_logs/*/version_*"), key=lambda path: int(path.name.split("_")[1]))
        per_epoch = seconds_per_epoch(version)
        config = yaml.safe_load((version / "config.yaml").read_text())
        (x, y), (x_train, y_train) = images_of(config, args.images)
        kept = sorted(
            ((read_checkpoint(path)["epoch"], path) for path in (version / "checkpoints").glob("*.ckpt") if path.name != "last.ckpt")
        )
        for index, (epoch, path) in enumerate(kept):
            last = index == len(kept) - 1
            net = load_net(config, path)
            row = measure(net, x, y, args.eps, autoattack_images=args.autoattack_images if last else None)
            if last:
                row["train_apgd_acc"] = measure(net, x_train, y_train, args.eps, autoattack_images=None)["apgd_acc"]
            rows.append({"run": name, "epochs": epoch + 1, "seconds_per_epoch": round(per_epoch, 1), **row})
            print(rows[-1], flush=True)
    fields = ["run", "epochs", "seconds_per_epoch", "clean_acc", "pgd40_acc", "apgd_acc", "autoattack_acc", "train_apgd_acc"]
    with open(args.out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, args.eps, args.out / "curves.png")
    print(f"\n| run | epochs | s / epoch | total min | clean | PGD-40 | APGD-CE+DLR | AutoAttack ({args.autoattack_images} images) | APGD, training images |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "train_apgd_acc" in row:  # each run's last checkpoint
            total = row["epochs"] * row["seconds_per_epoch"] / 60
            autoattack = f"**{row['autoattack_acc']:.3f}**" if "autoattack_acc" in row else "-"
            print(
                f"| {row['run']} | {row['epochs']} | {row['seconds_per_epoch']:.0f} | {total:.0f} | {row['clean_acc']:.3f} | "
                f"{row['pgd40_acc']:.3f} | {row['apgd_acc']:.3f} | {autoattack} | {row['train_apgd_acc']:.3f} |"
            )


def plot(rows: list[dict], eps: float, path: Path) -> None:
    """APGD accuracy (solid), PGD-40 (dashed) and the final AutoAttack accuracy (star) against epochs, per run."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for index, name in enumerate(dict.fromkeys(row["run"] for row in rows)):
        mine = [row for row in rows if row["run"] == name]
        epochs = [row["epochs"] for row in mine]
        color = f"C{index}"
        axes.plot(epochs, [row["apgd_acc"] for row in mine], "-o", color=color, label=f"{name}: APGD-CE + APGD-DLR")
        axes.plot(epochs, [row["pgd40_acc"] for row in mine], "--", color=color, alpha=0.6, label=f"{name}: PGD-40 (upper bound)")
        final = [row for row in mine if "autoattack_acc" in row]
        if final:  # none with --autoattack-images 0
            axes.plot([row["epochs"] for row in final], [row["autoattack_acc"] for row in final], "*", color=color, markersize=14,
                      label=f"{name}: AutoAttack")
    axes.set_xlabel("training epochs")
    axes.set_ylabel(f"robust accuracy, L-inf eps {eps}")
    axes.set_title("presets: robust accuracy against training budget")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    main()

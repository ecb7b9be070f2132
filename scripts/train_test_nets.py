"""Train the networks the statistical tests share and write them to ``tests/nets/`` (weights only).

Every machine must test the same weights: a net trained inside the test session differs from
machine to machine (thread counts and CPU kernels change the last bits, and six epochs of Adam
amplify them), so a margin tuned on one machine can fail on the next. The suite therefore loads
these files (``torch.load(weights_only=True)``) and never trains them; rerun this script only when
the recipe below changes, and commit its output. One pair of nets per seed: the suite runs under
``ROBATTR_TEST_SEED=0`` by default and ``.ci/run`` runs the statistical tests again under seed 1.

    python scripts/train_test_nets.py --seeds 0 1      # about a minute per seed on one CPU thread

Recipes (MNIST5k's class-balanced 4000-image training part, ``balanced_split(seed=0)``):
    natural_small_seed{S}.pt  Small, Adam under a one-cycle schedule peaking at 1e-2, batch 32, 6 epochs.
    madry_small_seed{S}.pt    the natural net fine-tuned for one epoch of PGD training (eps 0.1, 2 steps
                              of 0.06), Adam lr 3e-3, batch 64.
"""

import argparse
import copy
from pathlib import Path

import torch
import torch.nn.functional as F

from lightning_robattr.data import balanced_split, load_mnist5k
from lightning_robattr.losses import madry_loss
from lightning_robattr.models import Small

NETS = Path(__file__).resolve().parents[1] / "tests" / "nets"


def train_natural(x: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int) -> Small:
    """Small trained with Adam under a one-cycle schedule peaking at 1e-2, batch 32."""
    torch.manual_seed(seed)
    net = Small()
    steps_per_epoch = len(x) // 32
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=epochs * steps_per_epoch)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for i in range(steps_per_epoch):
            batch = order[i * 32 : (i + 1) * 32]
            loss = F.cross_entropy(net(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return net.eval()


def finetune_madry(natural: Small, x: torch.Tensor, y: torch.Tensor, *, seed: int) -> Small:
    """``natural`` fine-tuned for one epoch of PGD training (eps 0.1, 2 steps of 0.06), batch 64."""
    net = copy.deepcopy(natural).train()
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x))
    for start in range(0, len(x) - 63, 64):
        batch = order[start : start + 64]
        loss = madry_loss(net, x[batch], y[batch], eps=0.1, steps=2, step_size=0.06, generator=generator).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = load_mnist5k()
    train = balanced_split(y, (4000, 500, 500), seed=0)[0]
    x, y = x[train], y[train]
    NETS.mkdir(exist_ok=True)
    for seed in args.seeds:
        natural = train_natural(x, y, epochs=6, seed=seed)
        madry = finetune_madry(natural, x, y, seed=seed)
        for name, net in (("natural", natural), ("madry", madry)):
            torch.save(net.state_dict(), NETS / f"{name}_small_seed{seed}.pt")
            print(f"wrote {NETS / f'{name}_small_seed{seed}.pt'}")


if __name__ == "__main__":
    main()

"""MASK's class term measured: ``python scripts/bench_mask_class_term.py [--checkpoint net.pt] [--images 32]``.

For each ``class_term`` of ``attributions.mask`` (``probability``, the paper's; ``log_probability``; ``logit``):

* on nets that read only one 12 x 12 textured block of a 28 x 28 image, at several confidences (the logit gap
  of the clean image): the share of exactly constant maps, the IoU of ``map >= 0.5`` with the block and the
  share of the map's mass inside it and within one grid cell of it;
* on a natural ``models.Small`` (a state dict given by ``--checkpoint``, else one trained here for
  ``--train-steps`` Adam steps on MNIST5k's training split) on the first ``--images`` test digits: the share of
  constant maps (all zero: nothing deleted; all one: everything deleted), the deleted share of the image
  (the map's mean), the median ``p(y)`` and drop of the logit of ``y`` once the region is blurred, the same drop
  for the map's pixels shuffled (a control of the same deleted share), and the CPU time.

One thread, CPU time of this process (robust to other load on a shared machine).
"""

import argparse
import math
import time

import torch
from torch import Tensor, nn

from lightning_robattr.attributions import mask
from lightning_robattr.attributions._mask import CLASS_TERMS, gaussian_blur
from lightning_robattr.data import MNIST5k
from lightning_robattr.metrics.functional import constant_maps
from lightning_robattr.models import Small


class OneRegionNet(nn.Module):
    """Class 1 iff the top-left 12 x 12 block is bright (mean above 0.25); ``scale`` sets the confidence."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        score = self.scale * (x[:, 0, :12, :12].mean(dim=(1, 2)) - 0.25)
        return torch.stack([-score, score], dim=1)


def one_region_images(count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Images with a textured bright block where the net reads and texture where it does not, and the block."""
    x = torch.zeros(count, 1, 28, 28)
    x[:, :, :12, :12] = 0.6 + 0.4 * torch.rand(count, 1, 12, 12, generator=generator)
    x[:, :, 16:, 16:] = torch.rand(count, 1, 12, 12, generator=generator)
    region = torch.zeros(28, 28, dtype=torch.bool)
    region[:12, :12] = True
    return x, region


def cpu_seconds(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def deleted(model: nn.Module, x: Tensor, maps: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``(B,)`` each: ``p(y)`` and the drop of the logit of ``y`` once MASK's region is blurred (the default blur),
    ``Phi = (1 - map) x + map blur(x)``."""
    sigma = 5 * x.shape[-2] / 224
    blurred = gaussian_blur(x, sigma, 2 * math.ceil(2 * sigma) + 1)
    phi = (1 - maps[:, None]) * x + maps[:, None] * blurred
    with torch.no_grad():
        before, after = model(x), model(phi)
    return after.softmax(1).gather(1, y[:, None])[:, 0], (before - after).gather(1, y[:, None])[:, 0]


def natural_small(checkpoint: str | None, steps: int) -> nn.Module:
    net = Small()
    if checkpoint:
        net.load_state_dict(torch.load(checkpoint, map_location="cpu"))
        return net.eval()
    data = MNIST5k(batch_size=64)
    data.setup()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loader, step = data.train_dataloader(), 0
    while step < steps:
        for x, y in loader:
            loss = nn.functional.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
                break
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="state dict of a natural Small (else one is trained here)")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--scales", type=float, nargs="+", default=[3.0, 10.0, 20.0, 60.0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    x, region = one_region_images(8, torch.Generator().manual_seed(0))
    print(f"one 12x12 block read, 8 images, {args.iterations} iterations")
    near = torch.zeros_like(region)
    near[:16, :16] = True  # the block grown by one cell of the 7 x 7 grid (bilinear upsampling spills about one)
    print("| logit gap | class_term | constant maps | IoU (map >= 0.5) | mass inside | mass within one cell | CPU s |")
    print("|---|---|---|---|---|---|---|")
    for scale in args.scales:
        net = OneRegionNet(scale)
        gap = net(x).diff(dim=1).median().item()
        for term in CLASS_TERMS:
            maps, seconds = cpu_seconds(lambda net=net, term=term: mask(net, x, iterations=args.iterations, class_term=term))
            found = maps >= 0.5
            iou = ((found & region).flatten(1).sum(1) / (found | region).flatten(1).sum(1).clamp_min(1)).mean().item()
            mass = (maps[:, region].sum(1) / maps.flatten(1).sum(1).clamp_min(1e-12)).mean().item()
            spill = (maps[:, near].sum(1) / maps.flatten(1).sum(1).clamp_min(1e-12)).mean().item()
            print(f"| {gap:.0f} | {term} | {constant_maps(maps).float().mean():.0%} | {iou:.2f} | {mass:.2f} | {spill:.2f} | {seconds:.1f} |")

    net = natural_small(args.checkpoint, args.train_steps)
    data = MNIST5k()
    data.setup()
    digits, labels = data.test_set.tensors[0][: args.images], data.test_set.tensors[1][: args.images]
    with torch.no_grad():
        clean = net(digits).softmax(1).gather(1, labels[:, None])[:, 0]
    print(f"\nnatural Small, {len(digits)} test digits, median p(y) {clean.median():.5f}, {args.iterations} iterations")
    print("| class_term | constant maps | all zero | all one | deleted share | median p(y) after deletion "
          "| median logit drop | same, map shuffled | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for term in CLASS_TERMS:
        maps, seconds = cpu_seconds(lambda term=term: mask(net, digits, labels, iterations=args.iterations, class_term=term))
        flat = constant_maps(maps)
        zero, one = flat & (maps.flatten(1)[:, 0] == 0), flat & (maps.flatten(1)[:, 0] == 1)
        after, drop = deleted(net, digits, maps, labels)
        shuffled = maps.flatten(1)[:, torch.randperm(maps[0].numel(), generator=torch.Generator().manual_seed(0))]
        _, control = deleted(net, digits, shuffled.view_as(maps), labels)
        print(f"| {term} | {flat.float().mean():.0%} | {zero.float().mean():.0%} | {one.float().mean():.0%} | "
              f"{maps.mean():.2f} | {after.median():.5f} | {drop.median():.2f} | {control.median():.2f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()

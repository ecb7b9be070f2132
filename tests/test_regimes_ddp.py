"""Under 2-process DDP (gloo, CPU) every regime's loss gives every parameter a gradient."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from lightning_robattr.models import Small
from lightning_robattr.regimes import IGNormModule, IntModule, MadryModule, RobustClassifier, SSRModule, TRADESModule

INNER = {"eps": 0.3, "steps": 1, "step_size": 0.1}


def regimes() -> dict[str, RobustClassifier]:
    torch.manual_seed(0)  # the same initial weights on every rank
    return {
        "madry": MadryModule(Small(), **INNER),
        "trades": TRADESModule(Small(), **INNER),
        "ssr": SSRModule(Small(), scale=10.0),
        "ig_norm": IGNormModule(Small(), ig_steps=2, approx_factor=1, **INNER),
        "int": IntModule(Small(), **INNER),
        "int_adv": IntModule(Small(), adversarial_loss=True, **INNER),
    }


class RegimeLoss(nn.Module):
    """What Lightning's DDP wrapper does: the wrapped module's forward is its training objective."""

    def __init__(self, module: RobustClassifier) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.module.regime_loss(x, y).loss


def worker(rank: int, init_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        generator = torch.Generator().manual_seed(rank)  # different data on each rank
        x, y = torch.rand(4, 1, 28, 28, generator=generator), torch.randint(0, 10, (4,), generator=generator)
        for name, module in regimes().items():
            ddp = DistributedDataParallel(RegimeLoss(module))
            for _ in range(2):  # a second step fails if the reducer missed a parameter in the first
                ddp.zero_grad()
                ddp(x, y).backward()
            for pname, param in module.named_parameters():
                assert param.grad is not None and param.grad.abs().sum() > 0, f"{name}: {pname} got no gradient"
                gathered = [torch.empty_like(param.grad) for _ in range(2)]
                dist.all_gather(gathered, param.grad)
                assert torch.equal(gathered[0], gathered[1]), f"{name}: {pname} gradients were not averaged across ranks"
    finally:
        dist.destroy_process_group()


def test_every_regime_gives_every_parameter_a_synchronised_gradient(tmp_path):
    # fork: the workers inherit the imported modules instead of importing them again (slow on a loaded machine)
    mp.start_processes(worker, args=(str(tmp_path / "rendezvous"),), nprocs=2, join=True, start_method="fork")

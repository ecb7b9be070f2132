"""Every regime under fp16 and bf16 autocast on the CPU: finite losses, moving parameters, skipped overflow steps, exact penalties."""

import copy

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins import MixedPrecision
from torch.utils.data import DataLoader, TensorDataset

from lightning_robattr.models import Small
from lightning_robattr.regimes import IGNormModule, IntModule, MadryModule, NaturalModule, SSRModule, TRADESModule

INNER = {"eps": 0.1, "steps": 1, "step_size": 0.1}
REGIMES = {
    "natural": lambda net: NaturalModule(net),
    "madry": lambda net: MadryModule(net, **INNER),
    "trades": lambda net: TRADESModule(net, **INNER),
    "ssr": lambda net: SSRModule(net, scale=10.0),
    "ig_norm": lambda net: IGNormModule(net, ig_steps=2, approx_factor=1, **INNER),
    "int": lambda net: IntModule(net, **INNER),
}
INF_STEP = 1
"""The optimiser step whose gradient the fp16 runs make infinite."""

# Largest relative error of each penalty under autocast against fp32, on a trained net and 8 MNIST5k
# digits, measured under both suite seeds: bf16 (8 significant bits) SSR 1.6 %, IG-Norm 0.33 %, Int 0.18 %;
# fp16 (11 bits) SSR 0.25 %, IG-Norm 0.14 %, Int 0.23 %. The bounds leave about 2x of margin. TRADES
# runs in fp32 under autocast (its KL of two nearly equal predictions drowns in bf16 rounding), so it is exact.
PENALTY_RTOL = {
    torch.bfloat16: {"trades": 1e-6, "ssr": 0.04, "ig_norm": 0.01, "int": 0.01},
    torch.float16: {"trades": 1e-6, "ssr": 0.006, "ig_norm": 0.004, "int": 0.005},
}


def precision_options(precision: str) -> dict:
    """Trainer options for ``precision``; fp16 needs the plugin, as ``precision="16-mixed"`` on the CPU means bf16."""
    if precision == "16-mixed":
        return {"plugins": [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**10))]}
    return {"precision": precision}


class StepRecorder(pl.Callback):
    """Records the parameters before and after every step and the loss scale; with ``inf_step``, makes that step's gradient inf."""

    def __init__(self, inf_step: int | None) -> None:
        self.inf_step, self.before, self.after, self.scales = inf_step, [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before.append([p.detach().clone() for p in pl_module.parameters()])

    def on_after_backward(self, trainer, pl_module):
        if trainer.global_step == self.inf_step:
            next(pl_module.parameters()).grad.view(-1)[0] = float("inf")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after.append([p.detach().clone() for p in pl_module.parameters()])
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        self.scales.append(None if scaler is None else scaler.get_scale())


def moved(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))


def test_16_mixed_on_the_cpu_is_bf16_unless_the_plugin_is_passed():
    run = pl.Trainer(accelerator="cpu", precision="16-mixed", logger=False)
    assert run.precision_plugin.precision == "bf16-mixed" and run.precision_plugin.scaler is None
    run = pl.Trainer(accelerator="cpu", logger=False, **precision_options("16-mixed"))
    assert run.precision_plugin.precision == "16-mixed" and run.precision_plugin.scaler is not None


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
@pytest.mark.parametrize("name", list(REGIMES))
def test_regime_trains_and_fp16_skips_an_overflowing_step(name, precision):
    torch.manual_seed(0)
    module = REGIMES[name](Small())
    fp16 = precision == "16-mixed"
    record = StepRecorder(INF_STEP if fp16 else None)
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(12, 1, 28, 28, generator=generator), torch.randint(0, 10, (12,), generator=generator))
    run = pl.Trainer(
        accelerator="cpu",
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[record],
        **precision_options(precision),
    )
    run.fit(module, DataLoader(data, batch_size=4))
    assert run.global_step == 3 and torch.isfinite(run.callback_metrics["train/loss"])
    assert all(torch.isfinite(p).all() for p in module.parameters())
    applied = [moved(b, a) for b, a in zip(record.before, record.after, strict=True)]
    if fp16:
        assert applied == [True, False, True]  # the inf step is skipped: every parameter as before it
        assert record.scales == [2.0**10, 2.0**9, 2.0**9]  # and the scaler halves its scale
    else:
        assert applied == [True, True, True] and record.scales == [None] * 3


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", ["trades", "ssr", "ig_norm", "int"])
def test_penalty_under_autocast_matches_fp32(trained_small, mnist5k, name, dtype):
    module = REGIMES[name](copy.deepcopy(trained_small)).train()
    x, y = mnist5k["train"][0][:8], mnist5k["train"][1][:8]
    penalties = []
    for enabled in (False, True):
        torch.manual_seed(0)  # the same inner-loop start
        with torch.autocast("cpu", dtype=dtype, enabled=enabled):
            penalties.append(module.regime_loss(x, y).parts["penalty"].float())
    fp32, mixed = penalties
    assert fp32 > 0
    torch.testing.assert_close(mixed, fp32, rtol=PENALTY_RTOL[dtype][name], atol=0)

"""``RobustSummary``: one plain line of headline numbers per validation epoch and per test, only with values of that epoch."""

import torch
from pytorch_lightning import Trainer

from lightning_robattr.callbacks import EvaluationSchedule, PGDEval, RobustSummary
from lightning_robattr.data import MNIST5k
from lightning_robattr.models import Small
from lightning_robattr.regimes import NaturalModule


def printed_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith(("epoch ", "test ", "validate "))]


def test_one_line_per_validation_epoch_and_test_with_the_numbers_logged_then(tmp_path, capsys):
    summary = RobustSummary()
    every_second = PGDEval(eps=[0.1], steps=[1], schedule=EvaluationSchedule(num_samples=4, batch_size=4, every_n_epochs=2))
    trainer = Trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=1, limit_test_batches=1, num_sanity_val_steps=1,
                      logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      inference_mode=False, default_root_dir=tmp_path, callbacks=[every_second, summary])
    model, data = NaturalModule(Small()), MNIST5k(batch_size=16)
    trainer.fit(model, datamodule=data)
    lines = printed_lines(capsys)
    assert len(lines) == 2, lines  # none for the sanity check
    assert lines[0].startswith("epoch 0  val/acc=") and "robust/" not in lines[0]  # PGD ran only after epoch 1: nothing stale
    assert lines[1].startswith("epoch 1  val/acc=") and "robust/pgd_linf/eps=0.1/steps=1/acc=" in lines[1]
    assert "clean_acc" not in lines[1] and "val/loss" not in lines[1]  # only the headline tags
    value = float(lines[1].split("val/acc=")[1].split()[0])
    assert value == round(trainer.callback_metrics["val/acc"].item(), 3)

    trainer.test(model, datamodule=data)
    (line,) = printed_lines(capsys)
    assert line.startswith("test  test/acc=") and "robust/pgd_linf/eps=0.1/steps=1/acc=" in line and "val/acc" not in line


def test_the_tags_choose_and_order_the_values_and_an_empty_list_prints_nothing():
    values = {"val/acc": torch.tensor(0.5), "val/loss": torch.tensor(2.0), "robust/pgd_linf/eps=0.3/steps=10/acc": torch.tensor(0.25)}
    chosen = RobustSummary(tags=["robust/*/acc", "val/*"])
    assert chosen.line(values, "epoch 4") == "epoch 4  robust/pgd_linf/eps=0.3/steps=10/acc=0.250  val/acc=0.500  val/loss=2.000"
    assert RobustSummary(tags=[]).line(values, "epoch 4") is None
    assert RobustSummary(tags=["attr/*"]).line(values, "epoch 4") is None

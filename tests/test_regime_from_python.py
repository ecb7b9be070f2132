"""A regime built and reloaded from Python as the docs show: an optimiser with its lr, load_from_checkpoint with net=."""

from functools import partial

import pytest
import torch
from pytorch_lightning import Trainer

from lightning_robattr import SSRModule
from lightning_robattr.data import MNIST5k
from lightning_robattr.models import Small


def test_a_regime_trains_with_a_partial_optimiser_and_reloads_from_its_checkpoint_with_net(tmp_path):
    model = SSRModule(net=Small(), beta=0.3, optimizer=partial(torch.optim.SGD, lr=0.1, momentum=0.9))
    trainer = Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, inference_mode=False, logger=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=MNIST5k(batch_size=16))
    (optimizer,) = trainer.optimizers
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["lr"] == 0.1 and optimizer.defaults["momentum"] == 0.9
    path = trainer.checkpoint_callback.best_model_path

    loaded = SSRModule.load_from_checkpoint(path, net=Small())
    assert loaded.hparams.beta == 0.3
    for (name, a), b in zip(model.net.state_dict().items(), loaded.net.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)
    with pytest.raises(TypeError, match=r"needs the network.*pass net=\.\.\., e\.g\. SSRModule\.load_from_checkpoint\(path, net=Small\(\)\)"):
        SSRModule.load_from_checkpoint(path)

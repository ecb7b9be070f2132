"""What a command-line run leaves in TensorBoard, read back from its event files: hparams linked to the headline
metrics, figures, subset sizes, runs named after their regime, and ``test`` logged into the tested run."""

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from test_cli import run_cli

LIMITS = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1", "--trainer.limit_test_batches", "1",
          "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def hparams_of(accumulator: EventAccumulator) -> tuple[dict, list[str]]:
    """The session's hyperparameters and the experiment's metric tags written by RunHyperparameters."""
    read = {tag: plugin_data_pb2.HParamsPluginData.FromString(accumulator.SummaryMetadata(tag).plugin_data.content)
            for tag in ("_hparams_/session_start_info", "_hparams_/experiment")}
    params = {k: v.string_value or v.number_value for k, v in read["_hparams_/session_start_info"].session_start_info.hparams.items()}
    return params, [m.name.tag for m in read["_hparams_/experiment"].experiment.metric_infos]


@pytest.fixture(scope="module")
def madry_run(tmp_path_factory) -> Path:
    """A 2-epoch Madry run with the default evaluation set, then ``test`` of its last checkpoint."""
    root = tmp_path_factory.mktemp("madry")
    run_cli(root, "fit", "-c", "configs/madry.yaml", *LIMITS, "--trainer.max_epochs", "2")
    folder = root / "lightning_logs" / "madry" / "version_0"
    run_cli(root, "test", "-c", "configs/madry.yaml", *LIMITS, "--ckpt_path", str(folder / "checkpoints" / "last.ckpt"))
    return folder


def test_the_run_is_named_after_its_regime_and_its_hparams_link_the_headline_metrics(madry_run):
    assert [p.name for p in madry_run.parent.iterdir()] == ["version_0"]  # test wrote into the trained run, not a new one
    params, metrics = hparams_of(events(madry_run))
    assert params["regime"] == "madry" and params["net"] == "Small" and params["optimizer"] == "Adam"
    assert params["max_epochs"] == 2 and params["eps"] == pytest.approx(0.3) and params["lr"] > 0 and params["data"] == "MNIST5k"
    assert not any(name.startswith("_") for name in params)  # no _instantiator
    assert metrics[0] == "val/acc" and "robust/pgd_linf/eps=0.1/steps=10/acc" in metrics
    assert "attr/saliency/topk/topk_intersection_auc" in metrics
    assert "hp_metric" not in events(madry_run).Tags()["scalars"]


def test_test_logs_into_the_tested_run_and_every_clean_accuracy_has_its_subset_size(madry_run):
    scalars = set(events(madry_run).Tags()["scalars"])
    assert {"val/acc", "test/acc", "test/num_images", "robust/pgd_linf/clean_acc", "robust/pgd_linf/num_images"} <= scalars
    sizes = {tag: events(madry_run).Scalars(tag)[-1].value for tag in ("test/num_images", "robust/pgd_linf/num_images")}
    # the test split's 500 images (one batch), the default set's PGD subset of 64 of them
    assert sizes == {"test/num_images": 500.0, "robust/pgd_linf/num_images": 64.0}
    assert "seed_everything" in (madry_run / "config.yaml").read_text() and (madry_run / "config_test.yaml").is_file()
    assert "fit" not in (madry_run / "config_test.yaml").read_text().split("\n")[0]


def test_the_attribution_maps_are_figures_in_the_images_tab(madry_run):
    images = set(events(madry_run).Tags()["images"])
    assert {"attr/saliency/topk/eps=16_255/maps", "attr/cam/topk/eps=16_255/maps"} <= images

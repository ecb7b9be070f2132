"""The reproduction pipeline: every paper end to end on the smoke budget, the cache, the claims' verdicts."""

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from test_data_torchvision import write_cifar10, write_mnist

from lightning_robattr.callbacks import DetectionEval
from lightning_robattr.reproduce import PAPERS, reproduce
from lightning_robattr.reproduce import _training as training
from lightning_robattr.reproduce.__main__ import main
from lightning_robattr.reproduce._claims import VERDICTS, Check, Claim, fmt, mean_std
from lightning_robattr.reproduce._context import Context
from lightning_robattr.reproduce._progress import Progress
from lightning_robattr.reproduce._report import Results
from lightning_robattr.reproduce._training import Run, build, train

FIGURES = {
    "int": ("robust_accuracy.png", "pgd_steps.png", "aai_kendall_tau.png", "maps.png"),
    "ssr": ("topk_intersection.png", "spearman.png", "kendall_tau.png", "mass_center_dislocation.png", "cosine_distance.png",
            "beta_sweep.png", "maps.png"),
    "fragile": ("topk_intersection.png", "spearman.png", "mass_center_dislocation.png", "maps.png", "influence.png"),
    "adv2": ("adv2.png", "transfer.png"),
    "detection": ("unchanged_curve.png", "roc.png", "masked.png"),
}


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_each_paper_writes_its_report_csv_and_figures_with_a_verdict_per_claim(paper, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"reports_{paper}")
    report = reproduce(paper, out=out, budget="smoke", seeds=1, command="smoke test")
    folder = out / paper
    assert report == folder / "report.md"
    for figure in FIGURES[paper]:
        assert (folder / figure).stat().st_size > 1000, figure
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert rows and {row["paper"] for row in rows} == {paper}
    text = report.read_text()
    assert "- command: `smoke test`" in text and "- commit: `" in text and "wall time:" in text
    claim_rows = [line for line in text.split("## Claims")[1].split("\n## ")[0].splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert claim_rows
    for line in claim_rows:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[4].strip("*") in VERDICTS, line
        assert cells[5], line  # the sentence saying what was compared
        if "(n/a)" in cells[5]:  # a comparison of a number the budget did not measure decides nothing
            assert cells[4].strip("*") in ("insufficient data", "partly"), line
    for figure in FIGURES[paper]:
        assert f"({figure})" in text


def test_a_rerun_loads_the_trained_model_and_a_changed_override_retrains(tmp_path):
    run = Run("Normal", "configs/natural.yaml", ("--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"))
    first = train(run, 0, tmp_path)
    again = train(run, 0, tmp_path)
    assert not first.cached and again.cached
    for (name, a), b in zip(first.net.state_dict().items(), again.net.state_dict().values()):
        assert (a == b).all(), name
    assert run.key(0) != run.key(1)
    other = Run("Normal", "configs/natural.yaml", ("--trainer.max_epochs=1", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=1"))
    assert other.key(0) != run.key(0)
    assert not train(other, 0, tmp_path).cached


class _Interrupt(Exception):
    pass


def test_an_interrupted_training_resumes_from_its_last_checkpoint_and_ends_where_an_uninterrupted_one_does(tmp_path, monkeypatch):
    from pytorch_lightning import Callback

    run = Run("Normal", "configs/natural.yaml", ("--trainer.max_epochs=2", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=1"))
    whole = train(run, 0, tmp_path / "whole")

    class StopInEpochOne(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.current_epoch == 1:
                raise _Interrupt

    real_build = training.build
    monkeypatch.setattr(training, "build", lambda *a: _with_callback(real_build(*a), StopInEpochOne()))
    with pytest.raises(_Interrupt):
        train(run, 0, tmp_path / "killed")  # epoch 0 finished and checkpointed, then the run dies
    monkeypatch.setattr(training, "build", real_build)
    steps = []
    monkeypatch.setattr(training.StepTimer, "on_train_batch_end", lambda self, trainer, *a: steps.append(trainer.global_step))
    resumed = train(run, 0, tmp_path / "killed")
    assert steps == [4, 5, 6] and resumed.info["resumed_from"] == "lightning_logs/natural/version_0/checkpoints/last.ckpt"
    for (name, a), b in zip(whole.net.state_dict().items(), resumed.net.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)


def _with_callback(cli, callback):
    cli.trainer.callbacks.append(callback)
    return cli


@pytest.mark.parametrize("damage", ["truncated_run_json", "truncated_net_pt"])
def test_a_damaged_cache_entry_is_named_and_rebuilt_from_its_checkpoint_without_training(tmp_path, damage, monkeypatch):
    run = Run("Normal", "configs/natural.yaml", ("--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"))
    first = train(run, 0, tmp_path)
    entry = tmp_path / run.key(0) / {"truncated_run_json": "run.json", "truncated_net_pt": "net.pt"}[damage]
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    monkeypatch.setattr(training.StepTimer, "on_train_batch_end", lambda *a: pytest.fail("the rebuild trained"))
    with pytest.warns(UserWarning, match=rf"the cached model {tmp_path / run.key(0)} is damaged .* rebuilding it from its last checkpoint"):
        rebuilt = train(run, 0, tmp_path)
    for (name, a), b in zip(first.net.state_dict().items(), rebuilt.net.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)
    assert train(run, 0, tmp_path).cached  # and the entry is whole again


def test_verdicts_come_from_the_checks():
    def claim(*passed: bool) -> Claim:
        return Claim("Table 1", "a claim", "0.5", "0.4", tuple(Check(f"check {i}", p) for i, p in enumerate(passed)))

    assert claim(True, True).verdict == "holds"
    assert claim(True, False).verdict == "partly"
    assert claim(False, False).verdict == "does not hold"
    assert claim(True, False).compared == "check 0 (yes); check 1 (no)"
    assert claim(None, True).verdict == "insufficient data" and claim(None, False).verdict == "insufficient data"
    assert claim(True, False, None).verdict == "partly"  # whatever the missing check gives
    assert claim(None, True).compared == "check 0 (n/a); check 1 (yes)"


def test_a_check_of_a_number_that_was_not_measured_is_undecided():
    assert Check("a > b", math.nan > 0.5, (math.nan, 0.5)).outcome is None
    assert Check("a > b", 0.7 > 0.5, (0.7, 0.5)).outcome is True
    verdict = Claim("Table 1", "a claim", "0.5", "n/a", (Check("a > b", False, (math.nan, 0.5)),)).verdict
    assert verdict == "insufficient data"


NO_NUMBERS = {
    "int": lambda results: PAPERS["int"].make_claims(results, ["eps=0.1", "eps=0.3"], ["cam"]),
    "fragile": lambda results: PAPERS["fragile"].claims(results, ["eps=8"]),
    "detection": lambda results: PAPERS["detection"].claims(results, DetectionEval(eps=[0.05, 0.1, 0.3], cw_kappas=[0, 20])),
    **{paper: PAPERS[paper].claims for paper in ("ssr", "adv2")},
}


@pytest.mark.parametrize("paper", sorted(NO_NUMBERS))
def test_claims_without_numbers_have_insufficient_data_not_a_verdict(paper):
    claims = NO_NUMBERS[paper](Results(paper))
    assert claims and {claim.verdict for claim in claims} == {"insufficient data"}


def test_mean_std_and_format_over_seeds():
    mean, std = mean_std([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and std == pytest.approx(0.1)
    assert fmt([0.5]) == "0.500"
    assert fmt([0.1, 0.2, 0.3]) == "0.200 ± 0.100"
    assert fmt([math.nan]) == "n/a"


def test_command_line_refuses_cifar_without_a_root_and_a_bad_seed_count(capsys):
    with pytest.raises(SystemExit):
        main(["int", "--data", "cifar10"])
    assert "--root" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["int", "--seeds", "0"])
    assert "--seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["int", "--quick", "--budget", "full"])


def test_reports_go_to_a_new_folder_and_the_committed_ones_only_with_an_explicit_out(tmp_path, monkeypatch, capsys):
    from lightning_robattr.reproduce import __main__ as command

    written = []
    monkeypatch.setattr(command, "reproduce", lambda paper, out, **options: written.append(out) or out / paper / "report.md")
    monkeypatch.setattr(command, "COMMITTED_REPORTS", tmp_path / "reports")
    (tmp_path / "reports").mkdir()
    monkeypatch.chdir(tmp_path)
    main(["int", "--budget", "smoke"])
    assert written == [Path("reproductions")]
    monkeypatch.chdir(tmp_path / "reports")
    with pytest.raises(SystemExit):
        main(["int", "--budget", "smoke"])
    assert "inside the committed reports" in capsys.readouterr().err and written == [Path("reproductions")]
    main(["int", "--budget", "smoke", "--out", "."])  # named explicitly: written there
    assert written[-1] == Path(".")


def cifar_context(tmp_path, budget: str = "smoke") -> Context:
    return Context(tmp_path / "out", budget, 1, "cifar10", str(tmp_path / "cifar"), tmp_path / "cache", Progress("test", 1))


@pytest.mark.parametrize("paper", ["int", "ssr"])
def test_every_cifar_run_is_a_packaged_config_that_builds(paper, tmp_path):
    ctx = cifar_context(tmp_path, budget="full")
    module = PAPERS[paper]
    runs = module.runs(ctx)
    for run in runs if paper == "int" else [run for group in runs for run in group]:
        assert run.config.startswith("configs/cifar10/") and f"--data.init_args.root={tmp_path / 'cifar'}" in run.overrides
        cli = build(run, 0)
        assert type(cli.datamodule).__name__ == "CIFAR10Data"


def test_fashion_mnist_runs_use_its_configs_and_show_as_many_images_as_on_mnist5k(tmp_path):
    ctx = Context(tmp_path / "out", "full", 3, "fashion_mnist", str(tmp_path / "fashion"), tmp_path / "cache", Progress("test", 1))
    main, sweep, cost = PAPERS["ssr"].runs(ctx)
    for run in main + sweep + cost:
        assert run.config.startswith("configs/fashion_mnist/") and f"--data.init_args.root={tmp_path / 'fashion'}" in run.overrides
        assert (Path(__file__).resolve().parents[1] / run.config).is_file()
    # 10 MNIST5k epochs of 4,000 images are about one epoch of Fashion-MNIST's 55,000; 40 are three
    assert "--trainer.max_epochs=1" in main[0].overrides and ctx.epochs(40) == 3 and ctx.epochs(1) == 1
    madry_30 = next(run for run in cost if run.label == "cost Madry-30")
    assert "--model.init_args.step_size=0.00833" in madry_30.overrides  # 2.5 x eps 0.1 / 30 steps


def test_a_paper_without_configs_for_a_dataset_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="int does not run on 'fashion_mnist'.*mnist5k, cifar10"):
        reproduce("int", out=tmp_path, budget="smoke", data="fashion_mnist")


def test_adv2_on_fashion_mnist_writes_its_own_report_folder(tmp_path):
    write_mnist(tmp_path / "fashion", train=5060)  # flat, as the OS package installs it: 5,000 go to validation
    report = reproduce("adv2", out=tmp_path / "out", budget="smoke", seeds=1, data="fashion_mnist", root=str(tmp_path / "fashion"))
    assert report == tmp_path / "out" / "adv2_fashion_mnist" / "report.md" and "data: `fashion_mnist`" in report.read_text()
    rows = list(csv.DictReader((report.parent / "results.csv").open()))
    assert rows and all(row["eps"] == "" for row in rows if row["protocol"] == "adv2")
    assert not (tmp_path / "out" / "adv2").exists()


def test_fragile_on_cifar10_from_a_local_root(tmp_path):
    write_cifar10(tmp_path / "cifar" / "cifar-10-batches-py", per_batch=1010)  # 5,050 images: 5,000 go to validation
    report = reproduce("fragile", out=tmp_path / "out", budget="smoke", seeds=1, data="cifar10", root=str(tmp_path / "cifar"))
    assert "eps=8" in report.read_text() and (tmp_path / "out" / "fragile_cifar10" / "maps.png").is_file()


def test_papers_share_the_models_they_have_in_common(tmp_path):
    ctx = Context(tmp_path, "full", 3, "mnist5k", None, tmp_path / "cache", Progress("test", 1))
    int_runs = {run.label: run for run in PAPERS["int"].runs(ctx)}
    main, sweep, _ = PAPERS["ssr"].runs(ctx)
    ssr_runs = {run.label: run for run in main + sweep}
    assert int_runs["Normal"].key(0) == ssr_runs["Natural"].key(0)
    assert int_runs["Adv"].key(0) == ssr_runs["Madry"].key(0)
    assert ssr_runs["SSR beta=0.3 s=1"].key(0) == ssr_runs["SSR"].key(0)  # the sweep's shipped point is the SSR model
    assert len({run.key(0) for run in sweep}) == len(sweep)
    assert ctx.seeds_of(int_runs["Normal"]) == [0, 1, 2] and ctx.seeds_of(int_runs["Int"]) == [0]


def test_each_seed_s_masking_network_explains_that_seed_s_classifier(tmp_path):
    reproduce("adv2", out=tmp_path / "out", budget="smoke", seeds=2, cache=tmp_path / "cache")
    trained = [json.loads(path.read_text()) for path in sorted((tmp_path / "cache").glob("rts-seed*/run.json"))]
    assert [record["seed"] for record in trained] == [0, 1]
    classifiers = [next(o for o in record["overrides"] if "classifier_checkpoint" in o) for record in trained]
    assert "natural-seed0-" in classifiers[0] and "natural-seed1-" in classifiers[1]

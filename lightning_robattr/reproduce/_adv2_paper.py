"""Reproduction of "Interpretable Deep Learning under Fire" (ADV2): GRAD, CAM, MASK and RTS on a natural net."""

import math
from pathlib import Path

import torch

from ..attacks import adv2
from ..attacks._explanation.interpreters import interpreter_map
from ..callbacks import ADV2Eval, EvaluationSchedule
from ..callbacks._adv2_eval import transfer_figure
from ..callbacks._subset import evaluation_subset
from ..models import RTSNet
from ._claims import Check, Claim, mean_std
from ._context import DATASETS as DATASETS  # this paper runs on every dataset
from ._context import Context
from ._report import Results, markdown_table, write_report
from ._training import Run, latest_checkpoint, train

TITLE = 'Reproduction of "Interpretable Deep Learning under Fire"'
INTERPRETERS = ("grad", "cam", "mask", "rts")
MEASURES = {"success_rate": "attack success", "iou": "IoU with the benign map", "l1": "L1 / (h w)", "confidence": "p(target)"}
# L-inf budget: MNIST's usual 0.3, kept on Fashion-MNIST so that the two compare (the paper: 0.031 on ImageNet)
EPS = {"mnist5k": 0.3, "cifar10": 8 / 255}


def protocol(ctx: Context, seed: int, rts_checkpoint: Path) -> ADV2Eval:
    """``callbacks/adv2.yaml`` with RTS added, at this budget's images and schedule length."""
    return ADV2Eval(
        methods=INTERPRETERS, method_options={"mask": {"iterations": ctx.pick(smoke=5, quick=50, full=100, paper=400)},
                                              "rts": {"saliency_net": str(rts_checkpoint)}},
        eps=[ctx.pick_data(**EPS)], schedule_scale=ctx.pick(smoke=0.005, quick=0.05, full=0.2, paper=1.0), step_size=ctx.pick(quick=0.02, full=0.01, paper=1 / 255),
        transfer=True, ensemble=True, target_fprs=[0.05, 0.1],
        schedule=EvaluationSchedule(num_samples=ctx.pick(smoke=4, quick=20, full=60, paper=200), batch_size=ctx.pick(smoke=4, quick=20, full=30, paper=50),
                                    every_n_epochs=0, seed=seed, progress=False),
    )


def calibration_images(ctx: Context, run: Run, callback: ADV2Eval) -> torch.Tensor:
    """As many benign test images as ``callback`` scores, disjoint from them: the next ones of its seeded permutation.

    The ensemble check's threshold is fitted on these, so its benign false-positive rate on the scored images is held out.
    """
    n, seed = callback.schedule.num_samples, callback.schedule.seed
    images, _ = ctx.test_images(run, lambda dataset: evaluation_subset(dataset, 2 * n, seed))
    return images[n:]


def reproduce(ctx: Context, command: str) -> Path:
    natural = ctx.run("Natural", ctx.pick_data(mnist5k="natural", cifar10="natural_resnet20"), epochs=ctx.pick(quick=2, full=10, paper=None))
    ctx.progress.total = 3 * ctx.tasks([natural]) + 2
    models = ctx.train_all([natural])
    results = Results("adv2")
    checkpoints: dict[int, Path] = {}
    for seed, model in models["Natural"]:
        classifier = latest_checkpoint(ctx.cache / natural.key(seed))
        rts = ctx.run("RTS", "rts", f"--model.init_args.classifier_checkpoint={classifier}", epochs=ctx.pick(quick=2, full=10, paper=None))
        ctx.progress.begin(f"masking network (RTS) of Natural seed {seed}")
        train(rts, seed, ctx.cache, ctx.progress)  # this seed only: each seed's masks explain that seed's classifier
        rts_checkpoint = latest_checkpoint(ctx.cache / rts.key(seed))
        RTSNet.from_checkpoint(rts_checkpoint)  # fails early with a clear message if the masking network is missing
        checkpoints[seed] = rts_checkpoint
        ctx.progress.begin(f"evaluating Natural seed {seed}: ADV2 and targeted PGD on {', '.join(INTERPRETERS)}")
        callback = protocol(ctx, seed, rts_checkpoint)
        x, y = ctx.test_images(natural, callback.select)
        calibration = calibration_images(ctx, natural, callback)
        evaluated = callback.evaluate(model.net, x, y, calibration=calibration)
        label = callback.budgets[0][0]  # one budget: its eps= part of the tags is left out of the results
        results.record("Natural", seed, "adv2", {tag.replace(f"/{label}", ""): value for tag, value in evaluated.items()})
    ctx.progress.begin("plots")
    sections = figures(ctx, results)
    seed, model = models["Natural"][0]
    net, example = model.net, protocol(ctx, seed, checkpoints[seed])
    x, y = ctx.test_images(natural, example.select)
    maps_figure(ctx.out / "maps.png", net, x[:3], y[:3], example)
    sections += ["![maps](maps.png)", ""]
    ctx.progress.begin("report")
    return write_report(ctx.out, title=TITLE, command=command, revision=ctx.commit, budget=ctx.budget, data=ctx.data, minutes=ctx.progress.minutes,
                        claims=claims(results), sections=sections + tables(results), results=results, seeds={"Natural": len(models["Natural"])})


ENSEMBLE_ROWS = [*INTERPRETERS, "pgd", "adaptive"]


def value(results: Results, metric: str) -> float:
    """The seeds' mean of ``metric``: an ``ADV2Eval`` tag without its ``adv2/`` and ``eps=`` parts."""
    return results.mean("Natural", "adv2", metric)


def text(results: Results, metric: str) -> str:
    return results.text("Natural", "adv2", metric)


def transfer_matrix(results: Results) -> torch.Tensor:
    """``(attacks, interpreters)``: rows ADV2 against each interpreter, then targeted PGD; the L1 distance over ``h w``
    between the scored interpreter's map of the target class and its benign map (the paper's transfer measure)."""
    rows = [*INTERPRETERS, "pgd"]
    return torch.tensor([[value(results, f"{row}/transfer/{column}/l1") for column in INTERPRETERS] for row in rows])


def figures(ctx: Context, results: Results) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 4))
    positions = torch.arange(len(INTERPRETERS)).float()
    for offset, (suffix, name) in zip((-0.2, 0.2), (("", "ADV2"), ("/pgd", "targeted PGD"))):
        stats = [mean_std(results.values("Natural", "adv2", f"{g}{suffix}/iou")) for g in INTERPRETERS]
        axis.bar((positions + offset).tolist(), [m for m, _ in stats], yerr=[sd for _, sd in stats], capsize=3, width=0.4, label=name)
    axis.set_xticks(positions.tolist(), INTERPRETERS)
    axis.set_xlabel("interpreter")
    axis.set_ylabel("IoU of the adversarial map with the benign map")
    axis.set_ylim(0, 1)
    axis.legend()
    axis.set_title(f"maps of successful attacks, eps {ctx.pick_data(**EPS):.3g}")
    figure.tight_layout()
    figure.savefig(ctx.out / "adv2.png", dpi=110)
    plt.close(figure)
    rows = [f"ADV2 vs {g}" for g in INTERPRETERS] + ["targeted PGD"]
    figure = transfer_figure(transfer_matrix(results), rows, INTERPRETERS, title=f"transfer across interpreters, eps {ctx.pick_data(**EPS):.3g}")
    figure.savefig(ctx.out / "transfer.png", dpi=110)
    plt.close(figure)
    return ["## Figures", "", "![ADV2 against targeted PGD](adv2.png)", "", "![the transfer matrix](transfer.png)", ""]


def maps_figure(path: Path, net, x: torch.Tensor, y: torch.Tensor, callback: ADV2Eval) -> None:
    """Per interpreter (rows) and image: the benign map of the true class, then the maps of the target class
    after ADV2 and after targeted PGD (the paper's Figure 1 analogue)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = (y + 1) % 10
    options = dict(target=target, method_options=callback.options, eps=callback.budgets[0][1], step_size=callback.step_size)
    figure, axes = plt.subplots(len(INTERPRETERS), 4 * len(x), figsize=(1.25 * 4 * len(x), 1.45 * len(INTERPRETERS)), squeeze=False)
    for r, name in enumerate(INTERPRETERS):
        x_adv, adv = adv2(net, x, y, method=name, schedule=callback.schedules[name], **options)
        x_pgd, pgd = adv2(net, x, y, method=name, schedule=callback.schedules[name].prediction_only(), **options)
        benign = interpreter_map(net, x, y, name, callback.options[name])
        panels = []
        for i in range(len(x)):
            panels += [("image", x[i, 0]), (f"benign ({int(y[i])})", benign[i]),
                       (f"ADV2 ({int(target[i])}) IoU {adv.iou[i]:.2f}", interpreter_map(net, x_adv[i : i + 1], target[i : i + 1], name, callback.options[name])[0]),
                       (f"PGD IoU {pgd.iou[i]:.2f}", interpreter_map(net, x_pgd[i : i + 1], target[i : i + 1], name, callback.options[name])[0])]
        for c, (title, panel) in enumerate(panels):
            axis = axes[r, c]
            axis.imshow(panel.detach().numpy(), cmap="gray" if c % 4 == 0 else "hot", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(title, fontsize=6)
        axes[r, 0].set_ylabel(name, fontsize=8)
    figure.suptitle("benign maps, and the target class's maps after ADV2 and after targeted PGD")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def tables(results: Results) -> list[str]:
    rows = [[g, attack, *[text(results, f"{g}{suffix}/{m}") for m in MEASURES]]
            for g in INTERPRETERS for attack, suffix in (("ADV2", ""), ("targeted PGD", "/pgd"))]
    out = ["## ADV2 and targeted PGD per interpreter (successful images)", "", markdown_table(["interpreter", "attack", *MEASURES.values()], rows), ""]
    matrix = transfer_matrix(results)
    rows = [[name, *[f"{v:.3f}" for v in row]] for name, row in zip([f"ADV2 vs {g}" for g in INTERPRETERS] + ["targeted PGD"], matrix.tolist())]
    out += ["## Transfer: L1 / (h w) between the target class's map and the benign map of the interpreter in the column (lower: better hidden)",
            "", markdown_table(["attack", *INTERPRETERS], rows), ""]
    rows = [["benign (held out)", "", *[text(results, f"ensemble/benign/fpr@fpr={f}") for f in (0.05, 0.1)], text(results, "ensemble/benign/degenerate_rate")]]
    rows += [[a, *[text(results, f"ensemble/{a}/{m}") for m in ("auc", "tpr@fpr=0.05", "tpr@fpr=0.1", "degenerate_rate")]] for a in ENSEMBLE_ROWS]
    out += ["## The ensemble check (mean pairwise IoU of the four interpreters)", "",
            "The threshold is fitted on as many other clean test images; the benign row is the false-positive rate of the scored "
            "clean images, the attack rows the true-positive rate of their successful images. Images whose maps are all "
            "constant have no agreement: they are left out of the rates and counted as degenerate.", "",
            markdown_table(["images", "ROC AUC", "flagged at target FPR 0.05", "flagged at target FPR 0.1", "degenerate"], rows), ""]
    return out


def claims(results: Results) -> list[Claim]:
    success = {g: (value(results, f"{g}/success_rate"), value(results, f"{g}/pgd/success_rate")) for g in INTERPRETERS}
    iou = {g: (value(results, f"{g}/iou"), value(results, f"{g}/pgd/iou")) for g in INTERPRETERS}
    l1 = {g: (value(results, f"{g}/l1"), value(results, f"{g}/pgd/l1")) for g in INTERPRETERS}
    out = [Claim(
        "Section 4", "ADV2 fools the classifier about as often as targeted PGD, on every interpreter",
        "success rates of ADV2 comparable to PGD's (ImageNet, ResNet-50 / DenseNet-169)",
        ", ".join(f"{g} {a:.2f} vs PGD {p:.2f}" for g, (a, p) in success.items()),
        tuple(Check(f"{g}: ADV2 success >= PGD's - 0.1", a >= p - 0.1, (a, p)) for g, (a, p) in success.items()),
    ), Claim(
        "Section 4", "ADV2's maps stay close to the benign maps, unlike PGD's",
        "ADV2's IoU with the benign map far above PGD's; L1 far below",
        ", ".join(f"{g} IoU {a:.2f} vs {p:.2f}, L1 {l1[g][0]:.3f} vs {l1[g][1]:.3f}" for g, (a, p) in iou.items()),
        tuple(Check(f"{g}: IoU above PGD's by >= 0.1 and L1 below", a >= p + 0.1 and l1[g][0] < l1[g][1], (a, p, *l1[g])) for g, (a, p) in iou.items()),
        "MASK is attacked by tracking its optimisation (a few Adam steps per iteration, one written out), with a weighted "
        "loss instead of the authors' step-size search. MASK's class term is the logit (the library's default), not the authors' "
        "softmax probability: the natural MNIST net saturates the probability (p > 0.999 on most digits), whose mask then "
        "gets no gradient and stays constant on a quarter to half of the digits; constant maps have no IoU and are left out.",
    )]
    matrix = transfer_matrix(results)
    pgd = matrix[-1].tolist()
    diagonal = matrix.diagonal().tolist()
    off = [matrix[[r for r in range(len(INTERPRETERS)) if r != c], c].mean().item() for c in range(len(INTERPRETERS))]
    out.append(Claim(
        "Observation 7", "ADV2 transfers poorly across interpreters: on another interpreter its maps are about as far from benign as PGD's",
        "L1 to the benign map on another interpreter comparable to PGD's (qualitative)",
        ", ".join(f"{g} own {d:.3f}, other ADV2 {o:.3f}, PGD {p:.3f}" for g, d, o, p in zip(INTERPRETERS, diagonal, off, pgd)),
        tuple(Check(f"{g}: the other interpreters' ADV2 L1 closer to PGD's than to its own ADV2's", o > (d + p) / 2, (d, o, p))
              for g, d, o, p in zip(INTERPRETERS, diagonal, off, pgd)),
        "L1 / (h w) between the scored interpreter's map of the target class and its benign map, over the successful images; "
        "'other ADV2' is the mean of the ADV2 rows crafted against the other three interpreters.",
    ))
    lowest = min(INTERPRETERS, key=lambda g: iou[g][0])
    out.append(Claim(
        "Section 5", "GRAD is the hardest interpreter to fool (lowest ADV2 IoU): its map is coupled to the prediction",
        "GRAD has the lowest IoU of the four (qualitative)",
        ", ".join(f"{g} {a:.2f}" for g, (a, _) in iou.items()) + f" (lowest: {lowest})",
        (Check("GRAD's ADV2 IoU the lowest", lowest == "grad", [a for a, _ in iou.values()]),),
        "On 28 x 28 grey images the loss gradient pooled to 7 x 7 is a coarse map that an L-inf budget of 0.1-0.3 can reshape; "
        "the paper's 56 x 56 ImageNet gradients are finer. Runs on other data (--data fashion_mnist, cifar10) tell whether the ordering is the data's.",
    ))
    tpr = {a: value(results, f"ensemble/{a}/tpr@fpr=0.05") for a in ENSEMBLE_ROWS}
    single = max((tpr[g] for g in INTERPRETERS if not math.isnan(tpr[g])), default=math.nan)
    held_out = value(results, "ensemble/benign/fpr@fpr=0.05")
    out.append(Claim(
        "Section 6 (Defense 1)", "An ensemble of interpreters catches ADV2 aimed at one interpreter; an adaptive ADV2 on all of them evades it",
        "suggested defence, no numbers; the paper warns of adaptive attacks",
        ", ".join(f"{a} {v:.2f}" for a, v in tpr.items()) + f" (TPR at FPR 0.05; held-out benign FPR {held_out:.2f})",
        (Check("some single-interpreter ADV2 is caught at TPR >= 0.2", single >= 0.2, (single,)),
         Check("the adaptive attack is caught no more often than the best-caught single one", tpr["adaptive"] <= single, (tpr["adaptive"], single))),
        "The threshold is fitted on other clean test images than the ones attacked; images with constant maps are left out (see the table).",
    ))
    return out

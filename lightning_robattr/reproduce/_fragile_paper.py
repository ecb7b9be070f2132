"""Reproduction of "Interpretation of Neural Networks is Fragile" (Ghorbani et al.): the Fig. 3 analogue on a natural net."""

from pathlib import Path

import torch

from ..attacks import influence_attack
from ..attacks._explanation.attribution_attack import AttributionAttackConfig
from ..attributions import LastLayerInfluence
from ..callbacks import AttributionAttackEval, AttributionMapLogger, EvaluationSchedule
from ._claims import Check, Claim
from ._context import DATASETS as DATASETS  # this paper runs on every dataset
from ._context import Context
from ._packaged_protocol import packaged_attribution_eval, packaged_init_args
from ._report import Results, markdown_table, plot_map_grids, plot_panels, write_report
from ._training import train_split

TITLE = 'Reproduction of "Interpretation of Neural Networks is Fragile"'
METHODS = ("saliency", "ig", "deeplift")
ATTACKS = ("topk", "mass_center", "random_sign")
REFERENCE = "reference"  # attacks.attribution_reference, beside the paper's attacks
METRICS = {"topk_intersection": "top-k intersection", "spearman": "Spearman rank correlation",
           "mass_center_dislocation": "mass-centre dislocation (pixels)"}
# the paper's grid (1, 2, 4, 8 / 255 on ImageNet and CIFAR) and two larger budgets for MNIST's near-binary digits
EPS = (1, 2, 4, 8, 16, 32)
# Section 5 (influence functions): the paper's eps 8 on ImageNet, and larger budgets for MNIST
INFLUENCE_EPS = (2, 8, 32)
INFLUENCE_METRICS = {"rank_correlation": "Spearman rank correlation of the influence scores", "top_overlap": "top-5 overlap of the most influential images"}


def protocol(ctx: Context, seed: int) -> AttributionAttackEval:
    """``callbacks/attribution_fragile.yaml`` at this budget's images, steps and IG resolution."""
    attack = {"steps": ctx.pick(smoke=2, quick=20, full=100, paper=300)}
    if ctx.budget in ("smoke", "quick"):  # too few steps of 0.5/255 to reach the largest budget: 2.5 eps / steps
        attack["step_size"] = None
    return packaged_attribution_eval(
        packaged_init_args("callbacks/attribution_fragile.yaml"), attack=attack,
        schedule=dict(num_samples=ctx.pick(smoke=4, quick=8, full=30, paper=100), batch_size=ctx.pick(quick=8, full=30, paper=50), seed=seed,
                      progress=False),
        **ctx.pick_data(mnist5k={"eps": [f"{e}/255" for e in EPS]}, cifar10={}),  # 28 x 28 grey images: the larger grid
        method_options={"ig": {"steps": ctx.pick(smoke=2, quick=5, full=8, paper=50)}},
        reference=ctx.pick(smoke="fast", quick="fast", full="standard", paper="standard"),
    )


def reproduce(ctx: Context, command: str) -> Path:
    run = ctx.run("Natural", ctx.pick_data(mnist5k="natural", cifar10="natural_resnet20"), epochs=ctx.pick(quick=2, full=10, paper=None))
    ctx.progress.total = 2 * ctx.tasks([run]) + 2
    models = ctx.train_all([run])
    results = Results("fragile")
    for seed, model in models["Natural"]:
        ctx.progress.begin(f"evaluating Natural seed {seed}: {', '.join(METHODS)} x {', '.join(ATTACKS)} attacks")
        callback = protocol(ctx, seed)
        x, y = ctx.test_images(run, callback.select)
        results.record("Natural", seed, "fragile_protocol", callback.evaluate(model.net, x, y))
        ctx.progress.note(f"Natural seed {seed}: influence functions through the last layer and the gradient-sign attack on them")
        influence_results(ctx, run, model.net, seed, results)
    budgets = protocol(ctx, 0).budgets
    labels, eps = [label for label, _ in budgets], [e * 255 for _, e in budgets]
    ctx.progress.begin("plots")
    for metric, name in METRICS.items():
        panels = {method: {attack: (eps, *results.curve("Natural", "fragile_protocol", key(method, attack, metric), labels))
                           for attack in (*ATTACKS, REFERENCE)} for method in METHODS}
        plot_panels(ctx.out / f"{metric}.png", panels, xlabel="eps (/255)", ylabel=name, logx=True,
                    title=f"{name} between clean and attacked maps, natural Small (Fig. 3 analogue)")
    logger = AttributionMapLogger(methods=list(METHODS), objective="mass_center", eps=f"{ctx.pick_data(mnist5k=EPS[-1], cifar10=8)}/255",
                                  attack=AttributionAttackConfig(steps=ctx.pick(smoke=2, quick=100)), schedule=EvaluationSchedule(num_samples=4))
    x, _ = ctx.test_images(run, logger.select)
    grids = logger.grids(models["Natural"][0][1].net, x)
    plot_map_grids(ctx.out / "maps.png", grids, title=f"maps before and after the mass-centre attack at {logger.eps_label.replace('_', '/')}")
    influence_eps = [float(e) for e in INFLUENCE_EPS]
    panels = {name: {kind: (influence_eps, *results.curve("Natural", "influence", f"{kind}/{metric}", [f"eps={e:g}" for e in INFLUENCE_EPS]))
                     for kind in ("attack", "random_sign")} for metric, name in INFLUENCE_METRICS.items()}
    plot_panels(ctx.out / "influence.png", panels, xlabel="eps (/255)", ylabel={name: name.split(" of")[0] for name in INFLUENCE_METRICS.values()},
                logx=True, title="influence functions of a natural Small: gradient-sign attack against random sign (Section 5)")
    sections = ["## Figures", ""] + [f"![{name}]({metric}.png)\n" for metric, name in METRICS.items()] + ["![maps](maps.png)", "", "![influence](influence.png)", ""]
    ctx.progress.begin("report")
    return write_report(ctx.out, title=TITLE, command=command, revision=ctx.commit, budget=ctx.budget, data=ctx.data, minutes=ctx.progress.minutes, claims=claims(results, labels),
                        sections=sections + tables(results, labels), results=results, seeds={"Natural": len(models["Natural"])})


def influence_results(ctx: Context, run, net, seed: int, results: Results) -> None:
    """Ghorbani et al.'s attack on influence functions: the most influential training images of test images, and how
    a one-step gradient-sign perturbation (or a random sign one) of each budget changes them, on images whose label is kept."""
    train = train_split(run)
    count = min(len(train), ctx.pick(smoke=64, quick=1000, full=4000, paper=len(train)))
    train_x = torch.stack([train[i][0] for i in range(count)])
    train_y = torch.tensor([int(train[i][1]) for i in range(count)])
    influence = LastLayerInfluence(net, train_x, train_y)
    x, _ = ctx.test_images(run, protocol(ctx, seed).select)
    x = x[: ctx.pick(smoke=4, quick=20, full=100, paper=200)]
    with torch.no_grad():
        label = net(x).argmax(dim=1)
    for eps in INFLUENCE_EPS:
        for kind in ("attack", "random_sign"):
            generator = torch.Generator().manual_seed(seed)
            _, record = influence_attack(net, x, label, influence=influence, eps=eps / 255, random=kind == "random_sign", generator=generator)
            kept = record.label_kept
            results.add("Natural", seed, "influence", f"{kind}/label_kept_rate", f"eps={eps:g}", kept.float().mean().item())
            for metric in INFLUENCE_METRICS:
                values = getattr(record, metric)[kept]
                results.add("Natural", seed, "influence", f"{kind}/{metric}", f"eps={eps:g}", values.nanmean().item() if len(values) else float("nan"))


def key(method: str, attack: str, metric: str) -> str:
    """The results key of ``metric`` of ``method``'s maps under ``attack`` (one of ``ATTACKS``, or ``REFERENCE``)."""
    return f"reference/{method}/{metric}" if attack == REFERENCE else f"{method}/{attack}/{metric}"


def value(results: Results, method: str, attack: str, metric: str, label: str) -> float:
    return results.mean("Natural", "fragile_protocol", key(method, attack, metric), label)


def tables(results: Results, labels) -> list[str]:
    out = [("The `reference` rows are `attacks.attribution_reference` (standard budget): per image the worst map an ensemble of "
            "APGD-style map attacks reached, label kept; the paper's attacks are upper bounds on robustness, the reference a tighter one."), ""]
    for metric, name in METRICS.items():
        out += [f"## {name} (natural Small)", ""]
        rows = [[method, attack, *[results.text("Natural", "fragile_protocol", key(method, attack, metric), label, digits=3) for label in labels]]
                for method in METHODS for attack in (*ATTACKS, REFERENCE)]
        out += [markdown_table(["method", "attack", *labels], rows), ""]
    rows = [[method, attack, *[results.text("Natural", "fragile_protocol", key(method, attack, "label_kept_rate"), label) for label in labels]]
            for method in METHODS for attack in (*ATTACKS, REFERENCE)]
    out += ["## Share of attacked images whose label was kept", "", markdown_table(["method", "attack", *labels], rows), ""]
    columns = [f"eps={e:g}" for e in INFLUENCE_EPS]
    rows = [[kind, name, *[results.text("Natural", "influence", f"{kind}/{metric}", c) for c in columns]]
            for metric, name in {**INFLUENCE_METRICS, "label_kept_rate": "label kept"}.items() for kind in ("attack", "random_sign")]
    return out + ["## Influence functions (last layer, exact Hessian): attack against random sign, images whose label was kept", "",
                  markdown_table(["perturbation", "measure", *[f"{e}/255" for e in INFLUENCE_EPS]], rows), ""]


def claims(results: Results, labels) -> list[Claim]:
    top = labels[-1]
    at = {(m, a, metric): value(results, m, a, metric, top) for m in METHODS for a in ATTACKS for metric in METRICS}
    out = []
    for attack, name in (("topk", "top-k"), ("mass_center", "mass-centre")):
        checks = tuple(
            Check(f"{method}: {METRICS[metric].split(' (')[0]} under {name} below random sign by >= 0.1 at {top}",
                  at[method, attack, metric] <= at[method, "random_sign", metric] - 0.1, (at[method, attack, metric], at[method, "random_sign", metric]))
            for method in METHODS for metric in ("topk_intersection", "spearman")
        )
        out.append(Claim(
            "Fig. 3", f"The {name} attack changes saliency, IG and DeepLIFT maps far more than a random sign perturbation of the same eps",
            "ImageNet: top-1000 intersection of random sign stays high while top-k and centre attacks drive it far lower; random sign at eps 8 keeps < 30% overlap",
            "; ".join(f"{m} k-in {value(results, m, attack, 'topk_intersection', top):.2f} vs random {value(results, m, 'random_sign', 'topk_intersection', top):.2f}"
                      for m in METHODS),
            checks,
            "MNIST5k digits are near-binary, so small budgets move little; the paper's eps grid is 1-8/255 on ImageNet and CIFAR."
            if attack == "topk" else "",
        ))
    out.append(Claim(
        "Fig. 3", "The mass-centre attack moves the centre of the map the most",
        "the centre attack gives the largest centre dislocation of the three",
        "; ".join(f"{m} " + " / ".join(f"{value(results, m, a, 'mass_center_dislocation', top):.2f}" for a in ATTACKS) + " (top-k / centre / random)"
                  for m in METHODS),
        tuple(Check(f"{m}: centre attack's dislocation above the top-k and random ones at {top}",
                    at[m, "mass_center", "mass_center_dislocation"]
                    > max(at[m, "topk", "mass_center_dislocation"], at[m, "random_sign", "mass_center_dislocation"]),
                    [at[m, a, "mass_center_dislocation"] for a in ATTACKS])
              for m in METHODS),
    ))
    reference = {(m, metric): value(results, m, REFERENCE, metric, top) for m in METHODS for metric in METRICS}
    out.append(Claim(
        "Fig. 3 (reference strength)", "A map attack changes saliency, IG and DeepLIFT maps far more than a random sign perturbation of the same eps",
        "ImageNet: top-1000 intersection of random sign stays high while top-k and centre attacks drive it far lower; random sign at eps 8 keeps < 30% overlap",
        "; ".join(f"{m} k-in {reference[m, 'topk_intersection']:.2f} vs random {at[m, 'random_sign', 'topk_intersection']:.2f}" for m in METHODS),
        tuple(
            Check(f"{method}: {METRICS[metric].split(' (')[0]} under the reference below random sign by >= 0.1 at {top}",
                  reference[method, metric] <= at[method, "random_sign", metric] - 0.1, (reference[method, metric], at[method, "random_sign", metric]))
            for method in METHODS for metric in ("topk_intersection", "spearman")
        ),
        "The reference is `attacks.attribution_reference`: an ensemble of map attacks, each image's worst map kept.",
    ))
    for row, attack, name in (("Section 4", "topk", "top-k attack"), ("Section 4 (reference strength)", REFERENCE, "reference")):
        kin = {m: value(results, m, attack, "topk_intersection", top) for m in METHODS}
        out.append(Claim(
            row, "IG is the most robust of the three methods", "IG keeps the largest top-k intersection under attack",
            ", ".join(f"{m} {kin[m]:.2f}" for m in METHODS) + f" ({name}, {top})",
            (Check("IG's top-k intersection above saliency's", kin["ig"] > kin["saliency"], (kin["ig"], kin["saliency"])),
             Check("IG's top-k intersection above DeepLIFT's", kin["ig"] > kin["deeplift"], (kin["ig"], kin["deeplift"]))),
        ))
    eps = f"eps={INFLUENCE_EPS[-1]:g}"  # MNIST's near-binary digits move little at the paper's 8/255
    influence = {(kind, metric): results.mean("Natural", "influence", f"{kind}/{metric}", eps) for kind in ("attack", "random_sign") for metric in INFLUENCE_METRICS}
    out.append(Claim(
        "Section 5", "A gradient-sign perturbation changes a prediction's most influential training images far more than a random sign one",
        "Inception-v3 at eps 8: 2 of the top-5 influential images remain; random sign at eps about 10 keeps rank correlation about 0.8",
        f"at {INFLUENCE_EPS[-1]}/255: top-5 overlap {influence['attack', 'top_overlap']:.2f} (attack) vs {influence['random_sign', 'top_overlap']:.2f} (random); "
        f"rank correlation {influence['attack', 'rank_correlation']:.2f} vs {influence['random_sign', 'rank_correlation']:.2f}",
        (Check("top-5 overlap below random sign's by >= 0.1", influence["attack", "top_overlap"] <= influence["random_sign", "top_overlap"] - 0.1,
               (influence["attack", "top_overlap"], influence["random_sign", "top_overlap"])),
         Check("rank correlation below random sign's", influence["attack", "rank_correlation"] < influence["random_sign", "rank_correlation"],
               (influence["attack", "rank_correlation"], influence["random_sign", "rank_correlation"]))),
        "Influence through the last layer of a natural Small (exact 1,010 x 1,010 Hessian, damping 0.01) over the MNIST5k training split; "
        "the paper's model is Inception-v3 with a retrained last layer on two flower classes.",
    ))
    return out

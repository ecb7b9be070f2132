"""Reproduction of "Smoothed Geometry for Robust Attribution" (SSR): Tables 1, 2 and 4, the Hessian, the cost."""

from pathlib import Path

import torch

from ..attacks._explanation.attribution_attack import AttributionAttackConfig
from ..callbacks import AttributionAttackEval, AttributionMapLogger, EvaluationSchedule
from ..losses import top_hessian_eigenvalue
from ._claims import Check, Claim, mean_std
from ._collapse import collapse_reason
from ._context import DATASETS as DATASETS  # this paper runs on every dataset
from ._context import Context
from ._packaged_protocol import packaged_attribution_eval, packaged_init_args
from ._report import Results, markdown_table, plot_map_grids, plot_panels, write_report

TITLE = 'Reproduction of "Smoothed Geometry for Robust Attribution"'
METHODS = ("saliency", "ig", "smoothgrad", "unigrad")
OBJECTIVES = ("topk", "manipulate")
METRICS = {  # tag name: (label, larger is more robust)
    "topk_intersection": ("top-k intersection", True), "spearman": ("Spearman", True), "kendall_tau": ("Kendall tau", True),
    "mass_center_dislocation": ("mass-centre dislocation", False), "cosine_distance": ("cosine distance", False),
}
REGIMES = ("Natural", "SSR", "Madry", "IG-NORM")
KIN_AUC = "saliency/topk/topk_intersection_auc"
BETAS = (0.3, 0.5, 0.7, 0.9)
SCALES = (1.0, 4.0, 16.0)
# Table 2 (CIFAR-10, ResNet-20): AUC of top-k k-in / cor / cdl / cosd of the top-k attack on SM
TABLE2_SM_TOPK = {"SSR": (0.68, 2.21, 2.54, 0.45), "Madry": (0.43, 2.01, 3.09, 0.55), "IG-NORM": (1.55, 2.75, 1.25, 0.12)}
TABLE1_NATURAL_TOPK = {"saliency": (0.51, 1.85, 2.93, 0.70), "ig": (0.84, 1.96, 3.05, 0.60), "smoothgrad": (0.75, 1.67, 1.97, 0.62),
                       "unigrad": (2.94, 1.85, 3.08, 0.67)}


def protocol(ctx: Context, seed: int, *, methods=METHODS, objectives=OBJECTIVES) -> AttributionAttackEval:
    """``callbacks/attribution_ssr.yaml`` (the SSR protocol) at this budget's images, samples and steps."""
    init_args = packaged_init_args("callbacks/attribution_ssr.yaml")
    samples = ctx.pick(smoke=2, quick=4, full=8, paper=50)
    method_options = {
        m: {**o, **({"steps": samples} if m == "ig" else {"samples": samples} if "samples" in o else {})}
        for m, o in init_args["method_options"].items() if m in methods
    }
    attack = {"steps": ctx.pick(smoke=2, quick=10, full=50, paper=50)}
    if ctx.budget in ("smoke", "quick"):  # too few steps of 0.5/255 to reach 16/255: 2.5 eps / steps
        attack["step_size"] = None
    return packaged_attribution_eval(
        init_args, attack=attack,
        schedule=dict(num_samples=ctx.pick(smoke=4, quick=8, full=20, paper=500), batch_size=ctx.pick(quick=8, full=20, paper=50), seed=seed,
                      progress=False),
        methods=list(methods), objectives=list(objectives), transfer=ctx.pick(quick=[], full=[], paper=list(methods)),
        method_options=method_options, reference=ctx.pick(smoke="fast", quick="fast", full="standard", paper="standard"),
    )


def runs(ctx: Context) -> tuple[list, list, list]:
    """The regimes of Table 2, the beta / s sweep of Table 4, the cost runs."""
    one = ctx.pick(quick=None, full=1, paper=None)
    main = [
        ctx.run("Natural", ctx.pick_data(mnist5k="natural", cifar10="natural_resnet20"), epochs=ctx.pick(quick=2, full=10, paper=None)),
        ctx.run("SSR", "ssr", epochs=ctx.pick(quick=1, full=10, paper=None), seeds=one),
        ctx.run("Madry", ctx.pick_data(mnist5k="madry", cifar10="madry_l2_resnet20"), epochs=ctx.pick(quick=1, full=15, paper=None), seeds=one),
        ctx.run("IG-NORM", "ig_norm", *ctx.pick(quick=("--trainer.limit_train_batches=10",), full=(), paper=()),
                epochs=ctx.pick(quick=1, full=2, paper=None), seeds=one),
    ]
    sweep_epochs, cap = ctx.pick(quick=1, full=10, paper=None), one
    sweep = [  # the shipped beta 0.3, s 1 without overrides: the SSR model itself, from the cache
        ctx.run(_sweep_label(b, s), "ssr", *([f"--model.init_args.beta={b}"] if b != BETAS[0] else []),
                *([f"--model.init_args.scale={s}"] if s != SCALES[0] else []), epochs=sweep_epochs, seeds=cap)
        for b, s in [*((b, SCALES[0]) for b in BETAS), *((BETAS[0], s) for s in SCALES[1:])]
    ]
    timing = ("--trainer.max_epochs=1", f"--trainer.limit_train_batches={ctx.pick(quick=5, full=20, paper=20)}", "--trainer.limit_val_batches=0",
              "--data.init_args.batch_size=50")
    cost = [ctx.run(f"cost {label}", Path(config).stem, *extra, *timing, seeds=1) for label, config, extra in (
        ("Natural", main[0].config, ()), ("SSR", main[1].config, ()),
        ("Madry-30", main[2].config, ("--model.init_args.steps=30", "--model.init_args.step_size=" + ctx.pick_data(mnist5k="0.025", fashion_mnist="0.00833", cifar10="0.02083"))),
        ("IG-NORM", main[3].config, ()))]
    return main, sweep, cost


def reproduce(ctx: Context, command: str) -> Path:
    main, sweep, cost = runs(ctx)
    ctx.progress.total = 2 * ctx.tasks(main) + 2 * ctx.tasks(sweep) + ctx.tasks(cost) + 2
    models = ctx.train_all(main + sweep + cost)
    results = Results("ssr")
    by_label = {run.label: run for run in main + sweep}
    hessian_images = ctx.pick(smoke=4, quick=16, full=100, paper=500)
    collapsed: list[str] = []
    for run in main + sweep:
        sm_only = run in sweep
        for seed, model in models[run.label]:
            ctx.progress.begin(f"evaluating {run.label} seed {seed}: the SSR attribution protocol" + (" (saliency top-k)" if sm_only else ""))
            callback = protocol(ctx, seed, methods=("saliency",), objectives=("topk",)) if sm_only else protocol(ctx, seed)
            hx, hy = ctx.test_images(run, AttributionAttackEval(schedule=EvaluationSchedule(num_samples=hessian_images, seed=seed)).select)
            reason = collapse_reason(model.net, hx, hy)
            if reason:  # a failed training: flagged, never scored
                collapsed.append(f"- **{run.label}** seed {seed}: {reason}")
                continue
            x, y = ctx.test_images(run, callback.select)
            results.record(run.label, seed, "ssr_protocol", callback.evaluate(model.net, x, y))
            with torch.no_grad():
                results.add(run.label, seed, "accuracy", "test_acc", "", (model.net(hx).argmax(1) == hy).float().mean())
            results.add(run.label, seed, "accuracy", "train_acc", "", float("nan") if model.train_acc is None else model.train_acc)
            eigen = torch.cat([top_hessian_eigenvalue(model.net, part) for part in hx.split(50)])
            results.add(run.label, seed, "hessian", "top_eigenvalue_mean", "", eigen.mean())
            results.add(run.label, seed, "hessian", "top_eigenvalue_median", "", eigen.median())
    for run in cost:
        for seed, model in models[run.label]:
            results.add(run.label.removeprefix("cost "), seed, "cost", "seconds_per_step", "", model.seconds_per_step)
    ctx.progress.begin("plots")
    budgets = protocol(ctx, 0).budgets
    labels, eps = [label for label, _ in budgets], [e * 255 for _, e in budgets]
    sections = figures(ctx, results, models, by_label, labels, eps)
    ctx.progress.begin("report")
    seeds = {run.label: len(models[run.label]) for run in main + sweep}
    flagged = ["## Collapsed models (not scored)", "", *collapsed, ""] if collapsed else []
    return write_report(ctx.out, title=TITLE, command=command, revision=ctx.commit, budget=ctx.budget, data=ctx.data, minutes=ctx.progress.minutes,
                        claims=claims(results), sections=flagged + sections + tables(results), results=results, seeds=seeds)


def auc(results: Results, model: str, method: str, objective: str, metric: str, reference: bool = False) -> float:
    """The AUC over log2 eps of ``metric`` of ``method``'s maps under the protocol's ``objective``, or under the
    reference-strength ensemble (``reference``; the objective is then ignored)."""
    key = f"reference/{method}/{metric}_auc" if reference else f"{method}/{objective}/{metric}_auc"
    return results.mean(model, "ssr_protocol", key)


def mean_auc(results: Results, model: str, metric: str, reference: bool = False) -> float:
    """The metric's AUC averaged over the methods and objectives of the protocol (over the methods for the reference)."""
    objectives = ("reference",) if reference else OBJECTIVES
    return sum(auc(results, model, m, o, metric, reference) for m in METHODS for o in objectives) / (len(METHODS) * len(objectives))


def more_robust(value: float, reference: float, larger: bool) -> bool:
    """Whether ``value`` is more robust than ``reference`` for a metric where ``larger`` (or smaller) is more robust; False if either is NaN."""
    return value > reference if larger else value < reference


def figures(ctx: Context, results: Results, models, by_label, labels, eps) -> list[str]:
    out = ["## Figures", ""]
    for metric, (name, _) in METRICS.items():
        panels = {
            f"{method}, {objective}": {
                r: (eps, *results.curve(r, "ssr_protocol", f"reference/{method}/{metric}" if objective == "reference" else f"{method}/{objective}/{metric}",
                                        labels))
                for r in REGIMES if r in models
            }
            for method in METHODS for objective in (*OBJECTIVES, "reference")
        }
        plot_panels(ctx.out / f"{metric}.png", panels, xlabel="eps (/255)", ylabel=name, logx=True,
                    title=f"{name} against eps (SSR protocol, and the reference-strength ensemble)")
        out += [f"![{name}]({metric}.png)", ""]
    sweep = [(b, 1.0) for b in BETAS]
    scales = [(0.3, s) for s in SCALES]
    series = {
        "accuracy against beta (s = 1)": {
            "train": (list(BETAS), *_column(results, sweep, "accuracy", "train_acc")),
            "test": (list(BETAS), *_column(results, sweep, "accuracy", "test_acc")),
        },
        "saliency top-k k-in AUC against beta": {"s = 1": (list(BETAS), *_column(results, sweep, "ssr_protocol", KIN_AUC))},
        "top Hessian eigenvalue against beta": {"s = 1": (list(BETAS), *_column(results, sweep, "hessian", "top_eigenvalue_mean"))},
        "accuracy against s (beta = 0.3)": {
            "train": (list(SCALES), *_column(results, scales, "accuracy", "train_acc")),
            "test": (list(SCALES), *_column(results, scales, "accuracy", "test_acc")),
        },
        "saliency top-k k-in AUC against s": {"beta = 0.3": (list(SCALES), *_column(results, scales, "ssr_protocol", KIN_AUC))},
        "top Hessian eigenvalue against s": {"beta = 0.3": (list(SCALES), *_column(results, scales, "hessian", "top_eigenvalue_mean"))},
    }
    xlabels = {name: "beta" if name.split("against ")[1].startswith("beta") else "s" for name in series}
    ylabels = {name: "accuracy" if name.startswith("accuracy") else "AUC over log2 eps" if "AUC" in name else "mean top eigenvalue"
               for name in series}
    plot_panels(ctx.out / "beta_sweep.png", series, xlabel=xlabels, ylabel=ylabels, title="SSR beta and s sweep (Table 4)")
    out += ["![beta sweep](beta_sweep.png)", ""]
    logger = AttributionMapLogger(methods=["saliency"], objective="topk", eps="16/255",
                                  attack=AttributionAttackConfig(steps=ctx.pick(smoke=2, quick=50), k=0.02, constraint="rescale"),
                                  method_options={"saliency": {"multiply_by_inputs": True}}, schedule=EvaluationSchedule(num_samples=4))
    x, _ = ctx.test_images(by_label["Natural"], logger.select)
    grids = {r: logger.grids(models[r][0][1].net, x)["saliency"] for r in REGIMES if r in models}
    plot_map_grids(ctx.out / "maps.png", grids, title="gradient x input before and after the top-k attack at eps 16/255")
    return out + ["![maps](maps.png)", ""]


def _sweep_label(beta: float, scale: float) -> str:
    return f"SSR beta={beta:g} s={scale:g}"


def _column(results: Results, points, protocol: str, metric: str) -> tuple[list[float], list[float]]:
    stats = [mean_std(results.values(_sweep_label(b, s), protocol, metric)) for b, s in points]
    return [m for m, _ in stats], [s for _, s in stats]


def tables(results: Results) -> list[str]:
    out = ["## Table 2 analogue: AUC over log2 eps of each metric (SSR protocol; higher k-in/cor/tau, lower cdl/cosd = more robust)", ""]
    header = ["model", "metric", *[f"{o} {m}" for o in OBJECTIVES for m in METHODS]]
    rows = [[r, name, *[results.text(r, "ssr_protocol", f"{m}/{o}/{metric}_auc", digits=2) for o in OBJECTIVES for m in METHODS]]
            for r in REGIMES for metric, (name, _) in METRICS.items()]
    out += [markdown_table(header, rows), ""]
    out += ["Paper (CIFAR-10 ResNet-20, top-k attack on SM, k-in / cor / cdl / cosd): "
            + "; ".join(f"{r} " + " / ".join(f"{v:.2f}" for v in vals) for r, vals in TABLE2_SM_TOPK.items())
            + "; Natural (Table 1) " + " / ".join(f"{v:.2f}" for v in TABLE1_NATURAL_TOPK["saliency"]) + ".", ""]
    out += ["## Reference strength: AUC over log2 eps of each metric under `attacks.attribution_reference`", "",
            ("Per image the worst map an ensemble of APGD-style map attacks reached (label kept): a tighter upper bound on robustness "
             "than the protocol's top-k and manipulate attacks above."), ""]
    rows = [[r, name, *[results.text(r, "ssr_protocol", f"reference/{m}/{metric}_auc", digits=2) for m in METHODS]]
            for r in REGIMES for metric, (name, _) in METRICS.items()]
    out += [markdown_table(["model", "metric", *METHODS], rows), ""]
    out += ["## Table 4 analogue: the beta and s sweep (10 epochs of MNIST5k)", ""]
    rows = [[f"{b:g}", f"{s:g}", *[results.text(_sweep_label(b, s), p, m) for p, m in (
        ("accuracy", "train_acc"), ("accuracy", "test_acc"), ("ssr_protocol", "saliency/topk/topk_intersection_auc"),
        ("ssr_protocol", "saliency/topk/spearman_auc"), ("hessian", "top_eigenvalue_mean"))]]
        for b, s in [*((b, 1.0) for b in BETAS), *((0.3, s) for s in SCALES[1:])]]
    out += [markdown_table(["beta", "s", "train acc", "test acc", "SM top-k k-in AUC", "SM top-k cor AUC", "mean top eigenvalue"], rows), ""]
    out += ["Paper (CIFAR-10, s = 1e6 on 0-255, 25 epochs): training accuracy .81 / .78 / .70 / .62 for beta .3 / .5 / .7 / .9.", ""]
    out += ["## Hessian and cost", ""]
    rows = [[r, results.text(r, "accuracy", "test_acc"), results.text(r, "hessian", "top_eigenvalue_mean", digits=4),
             results.text(r, "hessian", "top_eigenvalue_median", digits=4)] for r in REGIMES]
    out += [markdown_table(["model", "test acc", "mean top eigenvalue", "median"], rows), ""]
    rows = [[r, results.text(r, "cost", "seconds_per_step", digits=3)] for r in ("Natural", "SSR", "Madry-30", "IG-NORM")]
    out += [markdown_table(["regime", "s / step (median, batch 50, one thread)"], rows), ""]
    return out


def claims(results: Results) -> list[Claim]:
    return [*robustness_claims(results, reference=False), *robustness_claims(results, reference=True), *other_claims(results)]


def robustness_claims(results: Results, *, reference: bool) -> list[Claim]:
    """The attribution-robustness claims (Tables 2 and 1), judged on the protocol's attacks or on the reference ensemble."""
    out, strength = [], " (reference strength)" if reference else ""
    for regime in ("SSR", "Madry", "IG-NORM"):
        ours = {metric: (mean_auc(results, regime, metric, reference), mean_auc(results, "Natural", metric, reference)) for metric in METRICS}
        checks = tuple(
            Check(f"{name} AUC {'above' if larger else 'below'} Natural's (mean over methods{'' if reference else ' and attacks'})",
                  more_robust(*ours[metric], larger), ours[metric])
            for metric, (name, larger) in METRICS.items()
        )
        out.append(Claim(
            "Table 2" + strength, f"{regime} gives more robust attributions than the natural model on every metric",
            f"SM top-k k-in / cor / cdl / cosd AUC: {regime} " + " / ".join(f"{v:.2f}" for v in TABLE2_SM_TOPK[regime])
            + ", Natural " + " / ".join(f"{v:.2f}" for v in TABLE1_NATURAL_TOPK["saliency"]),
            ", ".join(f"{name} {ours[metric][0]:.2f} vs {ours[metric][1]:.2f}" for metric, (name, _) in METRICS.items()),
            checks,
            "MNIST5k and a small CNN instead of CIFAR-10 and ResNet-20, 20 images and 8 samples for IG/SG/UG on the CPU budget; "
            "`--budget paper` (500 images, 50 samples) on a GPU decides small gaps." if regime == "SSR" and not reference
            else "The reference is `attacks.attribution_reference` (standard budget), each image's worst map over an ensemble of map attacks."
            if regime == "SSR" else "",
        ))
    natural = {m: {metric: auc(results, "Natural", m, "topk", metric, reference) for metric in METRICS} for m in METHODS}
    checks = tuple(
        Check(f"{smooth} {'cdl below' if metric == 'mass_center_dislocation' else 'Spearman above'} {plain}'s",
              (natural[smooth][metric] < natural[plain][metric]) if metric == "mass_center_dislocation" else (natural[smooth][metric] > natural[plain][metric]),
              (natural[smooth][metric], natural[plain][metric]))
        for metric in ("mass_center_dislocation", "spearman") for smooth in ("smoothgrad", "unigrad") for plain in ("saliency", "ig")
    )
    out.append(Claim(
        "Table 1" + strength,
        "On the natural model SmoothGrad and UniGrad are more robust than saliency and IG (" + ("reference" if reference else "top-k attack") + ")",
        "CIFAR cdl AUC SM 2.93, IG 3.05, SG 1.97, UG 3.08; ImageNet SM 22.45, IG 14.17, SG 9.74, UG 5.81",
        "cdl AUC " + ", ".join(f"{m} {natural[m]['mass_center_dislocation']:.2f}" for m in METHODS)
        + "; Spearman AUC " + ", ".join(f"{m} {natural[m]['spearman']:.2f}" for m in METHODS),
        checks,
    ))
    return out


def other_claims(results: Results) -> list[Claim]:
    """The claims on accuracy, the Hessian and cost, and the beta / s sweep (judged on the protocol's saliency top-k attack)."""
    out = []
    sweep = {b: {k: results.mean(_sweep_label(b, 1.0), p, m) for k, (p, m) in {
        "train": ("accuracy", "train_acc"), "kin": ("ssr_protocol", "saliency/topk/topk_intersection_auc")}.items()} for b in BETAS}
    scaled = {s: results.mean(_sweep_label(0.3, s), "ssr_protocol", "saliency/topk/topk_intersection_auc") for s in SCALES}
    scaled_acc = {s: results.mean(_sweep_label(0.3, s), "accuracy", "train_acc") for s in SCALES}
    natural_kin = auc(results, "Natural", "saliency", "topk", "topk_intersection")
    out.append(Claim(
        "Table 4", "A larger beta (or s) lowers accuracy and raises attribution robustness; at the shipped s = 1 the gain over natural is small",
        "training accuracy .81 / .78 / .70 / .62 for beta .3 / .5 / .7 / .9",
        "train acc " + " / ".join(f"{sweep[b]['train']:.3f}" for b in BETAS) + "; SM top-k k-in AUC " + " / ".join(f"{sweep[b]['kin']:.2f}" for b in BETAS)
        + f" (natural {natural_kin:.2f}); s = " + " / ".join(f"{s:g}" for s in SCALES) + ": k-in AUC " + " / ".join(f"{scaled[s]:.2f}" for s in SCALES)
        + ", train acc " + " / ".join(f"{scaled_acc[s]:.3f}" for s in SCALES),
        (Check("train accuracy at beta 0.9 below beta 0.3", sweep[0.9]["train"] < sweep[0.3]["train"], (sweep[0.9]["train"], sweep[0.3]["train"])),
         Check("k-in AUC at beta 0.9 above beta 0.3", sweep[0.9]["kin"] > sweep[0.3]["kin"], (sweep[0.9]["kin"], sweep[0.3]["kin"])),
         Check("train accuracy at the largest s below s = 1", scaled_acc[SCALES[-1]] < scaled_acc[1.0], (scaled_acc[SCALES[-1]], scaled_acc[1.0])),
         Check("k-in AUC at the largest s above s = 1", scaled[SCALES[-1]] > scaled[1.0], (scaled[SCALES[-1]], scaled[1.0]))),
        "One seed per sweep point; 10 epochs.",
    ))
    ref_key = "reference/saliency/topk_intersection_auc"
    ref_beta = {b: results.mean(_sweep_label(b, 1.0), "ssr_protocol", ref_key) for b in BETAS}
    ref_scale = {s: results.mean(_sweep_label(0.3, s), "ssr_protocol", ref_key) for s in SCALES}
    ref_natural = auc(results, "Natural", "saliency", "topk", "topk_intersection", reference=True)
    out.append(Claim(
        "Table 4 (reference strength)", "A larger beta (or s) raises attribution robustness; at the shipped s = 1 the gain over natural is small",
        "training accuracy .81 / .78 / .70 / .62 for beta .3 / .5 / .7 / .9",
        "SM reference k-in AUC " + " / ".join(f"{ref_beta[b]:.2f}" for b in BETAS) + f" (natural {ref_natural:.2f}); s = "
        + " / ".join(f"{s:g}" for s in SCALES) + ": " + " / ".join(f"{ref_scale[s]:.2f}" for s in SCALES),
        (Check("reference k-in AUC at beta 0.9 above beta 0.3", ref_beta[0.9] > ref_beta[0.3], (ref_beta[0.9], ref_beta[0.3])),
         Check("reference k-in AUC at the largest s above s = 1", ref_scale[SCALES[-1]] > ref_scale[1.0], (ref_scale[SCALES[-1]], ref_scale[1.0]))),
        "One seed per sweep point; 10 epochs; the reference is `attacks.attribution_reference` on saliency.",
    ))
    eig = {r: results.mean(r, "hessian", "top_eigenvalue_mean") for r in ("Natural", "SSR")}
    out.append(Claim(
        "Section 4", "SSR lowers the top eigenvalue of the input Hessian", "(the regulariser's purpose)",
        f"mean top eigenvalue: SSR {results.text('SSR', 'hessian', 'top_eigenvalue_mean', digits=4)}, "
        f"Natural {results.text('Natural', 'hessian', 'top_eigenvalue_mean', digits=4)}",
        (Check("SSR's mean top eigenvalue below Natural's", eig["SSR"] < eig["Natural"], (eig["SSR"], eig["Natural"])),),
    ))
    cost = {r: results.mean(r, "cost", "seconds_per_step") for r in ("Natural", "SSR", "Madry-30", "IG-NORM")}
    out.append(Claim(
        "Table 2 (time per epoch)", "Per epoch SSR is cheaper than Madry (30 steps), which is cheaper than IG-NORM",
        "SSR 0.18 h, Madry 0.24 h, IG-NORM 0.44 h per epoch",
        ", ".join(f"{r} {cost[r]:.3f} s ({cost[r] / cost['Natural']:.1f}x natural)" for r in ("SSR", "Madry-30", "IG-NORM")) + " per step",
        (Check("SSR < Madry-30", cost["SSR"] < cost["Madry-30"], (cost["SSR"], cost["Madry-30"])),
         Check("Madry-30 < IG-NORM", cost["Madry-30"] < cost["IG-NORM"], (cost["Madry-30"], cost["IG-NORM"]))),
        "Median seconds per optimiser step of the packaged configs at batch 50 on one CPU thread, measured in one process.",
    ))
    return out

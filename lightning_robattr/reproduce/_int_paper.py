"""Reproduction of "Proper Network Interpretability Helps Adversarial Robustness" (Int): Tables 1-4, Proposition 1, cost."""

from pathlib import Path

import torch

from ..attacks import AAIConfig, ISAConfig, PGDConfig, isa
from ..attacks._budget import budgets
from ..attacks._classification.autoattack import load_reference
from ..attacks._explanation.attribution_attack import AttributionAttackConfig
from ..callbacks import AAIEval, AttributionAttackEval, AttributionMapLogger, EvaluationSchedule, ISAEval, PGDEval
from ._claims import Check, Claim, mean_std
from ._collapse import collapse_reason
from ._context import Context
from ._report import Results, markdown_table, plot_map_grids, plot_panels, write_report

TITLE = 'Reproduction of "Proper Network Interpretability Helps Adversarial Robustness"'
MODELS = ("Normal", "Adv", "TRADES", "IG-Norm", "IG-Norm-Sum", "Int-1-class", "Int", "Int-Adv")
CONFIGS = dict(zip(MODELS, ("natural", "madry", "trades", "ig_norm", "ig_sum_norm", "int_1class", "int", "int_adv")))
# the datasets whose configs hold every regime of the paper (Fashion-MNIST has presets for five of its ten)
DATASETS = ("mnist5k", "cifar10")
EPS = {"mnist5k": (0.05, 0.1, 0.2, 0.3), "cifar10": (2, 4, 6, 8)}
EPS_SCALE = {"mnist5k": 1.0, "cifar10": 255.0}
PGD_STEPS = (1, 10, 100, 200)
SMOKE_PGD_STEPS = (1, 2)
# Table 3 (MNIST, Small, 200-step PGD of the authors: step 0.01, no random start), eps 0.05, 0.1, 0.2, 0.3
TABLE3 = {
    "Normal": (0.530, 0.045, 0.000, 0.000), "Adv": (0.960, 0.940, 0.925, 0.890), "TRADES": (0.970, 0.955, 0.930, 0.885),
    "IG-Norm": (0.950, 0.895, 0.410, 0.005), "IG-Norm-Sum": (0.955, 0.935, 0.910, 0.880),
    "Int-1-class": (0.635, 0.330, 0.140, 0.125), "Int": (0.930, 0.905, 0.840, 0.790), "Int-Adv": (0.945, 0.905, 0.880, 0.855),
}
# Table 4 (MNIST, eps 0.3): accuracy after 1, 10, 100, 200 steps
TABLE4 = {
    "Normal": (0.990, 0.070, 0.000, 0.000), "Adv": (0.975, 0.945, 0.890, 0.890), "TRADES": (0.970, 0.955, 0.885, 0.885),
    "IG-Norm": (0.970, 0.905, 0.005, 0.005), "IG-Norm-Sum": (0.970, 0.940, 0.880, 0.880),
    "Int-1-class": (0.950, 0.365, 0.125, 0.125), "Int": (0.935, 0.910, 0.790, 0.790), "Int-Adv": (0.950, 0.905, 0.855, 0.855),
}
# Table 2 (MNIST): Kendall tau of CAM under the top-k AAI (k = 8, 200 steps), eps 0.05, 0.1, 0.2, 0.3
TABLE2 = {
    "Normal": (0.907, 0.797, 0.366, -0.085), "Adv": (0.978, 0.955, 0.910, 0.857), "TRADES": (0.978, 0.955, 0.905, 0.847),
    "IG-Norm": (0.958, 0.894, 0.662, 0.278), "IG-Norm-Sum": (0.976, 0.951, 0.901, 0.850),
    "Int": (0.982, 0.968, 0.941, 0.913), "Int-Adv": (0.980, 0.965, 0.936, 0.912), "Int-1-class": (0.874, 0.818, 0.754, 0.692),
}
# Table 1 (MNIST): NDS / NSL of successful ISAs, (l1 1-class, l1 2-class, l1 all-class, l2 1-class, l2 2-class, l2 all-class)
TABLE1 = {
    "cam": ((3.0723, 0.0810), (3.2672, 0.0223), (2.5289, 0.0414), (0.3061, 0.1505), (0.5654, 0.0321), (0.4320, 0.0459)),
    "gradcampp": ((3.1264, 0.0814), (3.1867, 0.0221), (2.5394, 0.0366), (0.3308, 0.1447), (0.5531, 0.0289), (0.4392, 0.0456)),
    "ig": ((6.3604, 0.0330), (6.7884, 0.0233), (4.3667, 0.2314), (0.4476, 0.0082), (0.5766, 0.0064), (0.2160, 0.0337)),
}
VARIANTS = tuple((c, p) for p in (1, 2) for c in ("one", "two", "all"))


def runs(ctx: Context) -> list:
    """The eight regimes of Tables 2-4, trained on the budget's epochs (IG-Norm as the authors' code trains it)."""
    pgd_epochs = ctx.pick(quick=3, full=15, paper=None)
    ig = (
        "--model.init_args.ig_steps=5", "--model.init_args.approx_factor=1", "--model.init_args.gamma=1.0",
        "--model.init_args.ig_of=batch_mean_loss", "--model.init_args.steps=10", "--model.init_args.step_size=0.05",
        "--model.init_args.ramp_start=0.05", "--model.init_args.ramp_end=0.3",
        *ctx.pick(quick=("--trainer.limit_train_batches=10",), full=(), paper=()),
    )
    one = ctx.pick(quick=None, full=1, paper=None)
    return [
        ctx.run("Normal", "natural", epochs=ctx.pick(quick=2, full=10, paper=None)),
        ctx.run("Adv", "madry", epochs=pgd_epochs, seeds=one),
        ctx.run("TRADES", "trades", epochs=pgd_epochs, seeds=one),
        ctx.run("IG-Norm", "ig_norm", *ig, epochs=ctx.pick(quick=1, full=2, paper=None), seeds=one),
        # 2 epochs reach eps 0.3 at step 48 of 160 and collapse IG-Norm-Sum (and Madry) to one class; with 4 it trains
        ctx.run("IG-Norm-Sum", "ig_sum_norm", *ig, epochs=ctx.pick(quick=1, full=4, paper=None), seeds=one),
        ctx.run("Int-1-class", "int_1class", epochs=pgd_epochs, seeds=one),
        ctx.run("Int", "int", epochs=pgd_epochs, seeds=one),
        ctx.run("Int-Adv", "int_adv", epochs=pgd_epochs, seeds=one),
    ]


def reproduce(ctx: Context, command: str) -> Path:
    """Train, evaluate with the paper's protocols, write the report; return the report's path.

    Needs the ``autoattack`` extra (its robust accuracies are AutoAttack's): checked before any training.
    """
    load_reference()
    eps, scale = EPS[ctx.data], EPS_SCALE[ctx.data]
    images = ctx.pick(smoke=4, quick=32, full=100, paper=200)
    aa_eps = ctx.pick(quick=eps[-1:], full=(eps[1], eps[-1]), paper=eps)
    isa_images = ctx.pick(smoke=3, quick=6, full=20, paper=50)
    isa_methods = ctx.pick(quick=("cam",), full=("cam", "gradcampp"), paper=("cam", "gradcampp", "ig"))
    spelt = [e if scale == 1 else f"{e:g}/255" for e in eps]  # the budgets as the callbacks read them (pixel units)
    labels = [label for label, _ in budgets(spelt)]
    aa_spelt = [spelt[eps.index(e)] for e in aa_eps]
    all_runs = runs(ctx)
    ctx.progress.total = 2 * ctx.tasks(all_runs) + len(isa_methods) + 3
    models = ctx.train_all(all_runs)
    results = Results("int")
    by_label = {run.label: run for run in all_runs}
    collapsed: list[str] = []
    for label, trained in models.items():
        for seed, model in trained:
            ctx.progress.begin(f"evaluating {label} seed {seed}: PGD-{max(PGD_STEPS)} (authors' protocol), AutoAttack, AAI")
            results.add(label, seed, "cost", "seconds_per_step", "", model.seconds_per_step)
            schedule = EvaluationSchedule(num_samples=images, batch_size=100, seed=seed, progress=False)
            reason = collapse_reason(model.net, *ctx.test_images(by_label[label], PGDEval(schedule=schedule).select))
            if reason:  # a failed training: flagged, never scored
                collapsed.append(f"- **{label}** seed {seed}: {reason}")
                continue
            pgd = PGDEval(eps=spelt, steps=ctx.pick(smoke=SMOKE_PGD_STEPS, quick=PGD_STEPS), name="pgd_linf_int_repo",
                          attack=PGDConfig(random_start=False, step_size=0.01), schedule=schedule)  # the authors' evaluation code
            aa = PGDEval(eps=aa_spelt, steps=[], reference="autoattack", schedule=schedule)
            aai = AAIEval(method="cam", eps=spelt, attack=AAIConfig(steps=ctx.pick(smoke=2, quick=200)), schedule=schedule)
            # the reference-strength attack on the same CAMs and top-k size, judged by the same Kendall tau
            reference = AttributionAttackEval(methods=["cam"], objectives=[], eps=spelt, metrics=["kendall_tau"], attack=AttributionAttackConfig(k=8),
                                              reference=ctx.pick(smoke="fast", quick="fast", full="standard", paper="standard"), schedule=schedule)
            for callback, protocol in ((pgd, "pgd_int_repo"), (aa, "autoattack"), (aai, "aai_cam"), (reference, "aai_reference")):
                x, y = ctx.test_images(by_label[label], callback.select)
                values = callback.evaluate(model.net, x, y)
                results.record(label, seed, protocol, values)
    normal_seed, normal = models["Normal"][0]
    isa_schedule = EvaluationSchedule(num_samples=isa_images, batch_size=isa_images, seed=normal_seed, progress=False)
    x, y = ctx.test_images(by_label["Normal"], ISAEval(schedule=isa_schedule).select)
    for method in isa_methods:
        ctx.progress.begin(f"ISA on Normal with {method}: every class set and norm (Table 1)")
        options = {"steps": 10} if method == "ig" else None
        attack = ISAConfig(steps=ctx.pick(smoke=1, quick=5, full=10, paper=10), search_rounds=ctx.pick(smoke=1, quick=5, full=10, paper=10))
        attributed = "gradcampp_int_repo" if method == "gradcampp" else method  # the Int code's GradCAM++, kept as "gradcampp"
        callback = ISAEval(method=attributed, class_sets=("one", "two", "all"), norms=(1, 2), attack=attack, method_options=options,
                           schedule=isa_schedule)
        for tag, value in callback.evaluate(normal.net, x, y).items():
            _, _, _, classes, norm, name = tag.split("/")
            results.add("Normal", normal_seed, f"isa_{method}", f"{classes}_{norm}_{name}", "", value)
    ctx.progress.begin("Proposition 1 on every successful ISA (CAM summing to the logit, 2-class l1)")
    bound = proposition_1(normal.net, x, y, steps=ctx.pick(smoke=1, quick=5, full=10, paper=10))
    results.add("Normal", normal_seed, "proposition_1", "points", "", bound[0])
    results.add("Normal", normal_seed, "proposition_1", "violations", "", bound[1])
    ctx.progress.begin("plots")
    sections = write_figures(ctx, results, models, by_label, eps, scale, labels, [label for label, _ in budgets(aa_spelt)])
    claims = make_claims(results, labels, isa_methods)
    ctx.progress.begin("report")
    seeds = {label: len(trained) for label, trained in models.items()}
    flagged = ["## Collapsed models (not scored)", "", *collapsed, ""] if collapsed else []
    return write_report(ctx.out, title=TITLE, command=command, revision=ctx.commit, budget=ctx.budget, data=ctx.data, minutes=ctx.progress.minutes, claims=claims,
                        sections=flagged + sections + tables(results, labels, isa_methods), results=results, seeds=seeds)


def proposition_1(net, x: torch.Tensor, y: torch.Tensor, *, steps: int) -> tuple[int, int]:
    """ISA with CAM summing to the logit: ``(successful points, points with D_{2,l1} < (f_t(x) - f_t'(x)) / 2)``."""
    with torch.no_grad():
        logits = net(x)
    correct = logits.argmax(1) == y
    x, y, logits = x[correct], y[correct], logits[correct]
    if not len(x):
        return 0, 0
    _, result = isa(net, x, y, method="cam", classes="two", p=1, steps=steps, method_options={"scale": "sum_to_logit"},
                    generator=torch.Generator().manual_seed(0))
    margin = (logits.gather(1, y[:, None]) - logits.gather(1, result.target[:, None])).squeeze(1) / 2
    below = (result.discrepancy < margin - 1e-4) & result.success
    return int(result.success.sum()), int(below.sum())


def write_figures(ctx: Context, results: Results, models, by_label, eps, scale, labels, aa_labels) -> list[str]:
    unit = "eps (pixel units)" if scale == 1 else "eps (/255)"
    aa_eps = [e for e, label in zip(eps, labels) if label in aa_labels]
    panels = {
        f"PGD-{max(PGD_STEPS)}, step 0.01, no random start (the authors')": {
            m: (list(eps), *results.curve(m, "pgd_int_repo", f"pgd_linf_int_repo/steps={max(PGD_STEPS)}/acc", labels)) for m in models
        },
        "AutoAttack standard (reference strength)": {
            m: (aa_eps, *results.curve(m, "autoattack", "autoattack_linf/acc", aa_labels)) for m in models
        },
    }
    plot_panels(ctx.out / "robust_accuracy.png", panels, xlabel=unit, ylabel="robust accuracy", title="Robust accuracy against eps (Table 3)")
    curves = {m: [mean_std(results.values(m, "pgd_int_repo", f"pgd_linf_int_repo/steps={s}/acc", labels[-1])) for s in PGD_STEPS]
              for m in models}
    steps_panel = {f"accuracy at {labels[-1]} against PGD steps (Table 4)": {
        m: (list(PGD_STEPS), [mean for mean, _ in c], [std for _, std in c]) for m, c in curves.items()
    }}
    plot_panels(ctx.out / "pgd_steps.png", steps_panel, xlabel="PGD steps (step 0.01)", ylabel="accuracy", logx=True)
    aai = {
        "Kendall tau of CAM under the top-k AAI (Table 2)": {m: (list(eps), *results.curve(m, "aai_cam", "cam/aai/kendall_tau", labels)) for m in models},
        "Kendall tau of CAM under the reference ensemble": {
            m: (list(eps), *results.curve(m, "aai_reference", "reference/cam/kendall_tau", labels)) for m in models
        },
    }
    plot_panels(ctx.out / "aai_kendall_tau.png", aai, xlabel=unit, ylabel="Kendall tau (clean vs attacked CAM)")
    shown = [m for m in ("Normal", "Adv", "Int", "Int-Adv") if m in models]
    logger = AttributionMapLogger(methods=["cam"], objective="topk", eps=eps[-1] if scale == 1 else f"{eps[-1]:g}/255",
                                  attack=AttributionAttackConfig(steps=ctx.pick(smoke=2, quick=50), k=8), schedule=EvaluationSchedule(num_samples=4))
    x, _ = ctx.test_images(by_label["Normal"], logger.select)
    grids = {m: logger.grids(models[m][0][1].net, x)["cam"] for m in shown}
    plot_map_grids(ctx.out / "maps.png", grids, title=f"CAM before and after the top-k AAI at {labels[-1]} (50 steps)")
    return [
        "## Figures", "",
        "![robust accuracy](robust_accuracy.png)", "", "![PGD steps](pgd_steps.png)", "",
        "![AAI Kendall tau](aai_kendall_tau.png)", "", "![maps](maps.png)", "",
    ]


def _row(results: Results, model: str, protocol: str, metric: str, labels) -> list[str]:
    return [results.text(model, protocol, metric, label) for label in labels]


def tables(results: Results, labels, isa_methods) -> list[str]:
    models = list(dict.fromkeys(r["model"] for r in results.rows))
    out = ["## Table 3 analogue: robust accuracy (200-step PGD of the authors; AutoAttack)", ""]
    rows = [[m, results.text(m, "pgd_int_repo", "pgd_linf_int_repo/clean_acc"),
             *_row(results, m, "pgd_int_repo", "pgd_linf_int_repo/steps=200/acc", labels),
             *_row(results, m, "autoattack", "autoattack_linf/acc", labels),
             " / ".join(f"{v:.3f}" for v in TABLE3.get(m, ()))] for m in models]
    out += [markdown_table(["model", "clean", *[f"PGD-200 {l}" for l in labels], *[f"AA {l}" for l in labels], "paper (PGD-200)"], rows), ""]
    out += ["## Table 4 analogue: accuracy at the largest eps after 1, 10, 100, 200 steps", ""]
    rows = [[m, *[results.text(m, "pgd_int_repo", f"pgd_linf_int_repo/steps={s}/acc", labels[-1]) for s in PGD_STEPS],
             " / ".join(f"{v:.3f}" for v in TABLE4.get(m, ()))] for m in models]
    out += [markdown_table(["model", *[f"{s} steps" for s in PGD_STEPS], "paper"], rows), ""]
    out += ["## Table 2 analogue: Kendall tau of CAM under the top-k AAI (k = 8, 200 steps of 0.01)", ""]
    rows = [[m, *_row(results, m, "aai_cam", "cam/aai/kendall_tau", labels), " / ".join(f"{v:.3f}" for v in TABLE2.get(m, ()))] for m in models]
    out += [markdown_table(["model", *labels, "paper"], rows), ""]
    out += ["## Kendall tau of CAM under the reference-strength ensemble (`attacks.attribution_reference`, k = 8)", "",
            ("Per image the lowest tau any component reached with the label kept (over the correctly classified images): "
             "a tighter upper bound on interpretation robustness than the AAI above."), ""]
    rows = [[m, *_row(results, m, "aai_reference", "reference/cam/kendall_tau", labels)] for m in models]
    out += [markdown_table(["model", *labels], rows), ""]
    out += ["## Table 1 analogue: NDS / NSL of successful ISAs on Normal (NSL on the paper's scale)", ""]
    rows = []
    for method in isa_methods:
        cells = [f"{results.text('Normal', f'isa_{method}', f'{c}_l{p}_nds')} / {results.text('Normal', f'isa_{method}', f'{c}_l{p}_nsl', digits=4)}"
                 for c, p in VARIANTS]
        rows.append([method, *cells])
        if method in TABLE1:
            rows.append([f"{method} (paper)", *[f"{nds:.4f} / {nsl:.4f}" for nds, nsl in TABLE1[method]]])
    out += [markdown_table(["interpreter", *[f"l{p} {c}-class" for c, p in VARIANTS]], rows), ""]
    out += ["## Training cost (seconds per optimiser step, batch 50, one CPU thread)", ""]
    rows = [[m, results.text(m, "cost", "seconds_per_step", digits=3)] for m in models]
    out += [markdown_table(["model", "s / step"], rows), ""]
    return out


def make_claims(results: Results, labels, isa_methods) -> list[Claim]:
    top = labels[-1]
    pgd = {m: results.mean(m, "pgd_int_repo", "pgd_linf_int_repo/steps=200/acc", top) for m in MODELS}
    aa = {m: results.mean(m, "autoattack", "autoattack_linf/acc", top) for m in MODELS}
    claims = []
    for name, acc, source in (("200-step PGD (authors' protocol)", pgd, "Table 3"), ("AutoAttack", aa, "Table 3 (reference strength)")):
        strong = [acc["Adv"], acc["TRADES"], acc["Int"]]
        claims.append(Claim(
            source, f"At the largest eps, Adv ≈ TRADES ≈ Int ≫ Int-1-class > Normal ({name})",
            "Adv .890, TRADES .885, Int .790, Int-1-class .125, Normal .000 (eps 0.3)",
            ", ".join(f"{m} {results.text(m, *(('pgd_int_repo', 'pgd_linf_int_repo/steps=200/acc') if acc is pgd else ('autoattack', 'autoattack_linf/acc')), top)}"
                      for m in ("Adv", "TRADES", "Int", "Int-1-class", "Normal")),
            (Check("min(Adv, TRADES, Int) exceeds Int-1-class by >= 0.2", min(strong) - acc["Int-1-class"] >= 0.2, (*strong, acc["Int-1-class"])),
             Check("Int-1-class > Normal", acc["Int-1-class"] > acc["Normal"], (acc["Int-1-class"], acc["Normal"])),
             Check("Adv, TRADES and Int within 0.15 of each other", max(strong) - min(strong) <= 0.15, strong)),
            "A shorter training than the paper's 100 epochs of full MNIST (see the budget): the presets' 60-80 epochs "
            "(docs/presets.md) are the longer run that decides a gap in the absolute numbers.",
        ))
    low = labels[0]
    ig_low = results.mean("IG-Norm", "pgd_int_repo", "pgd_linf_int_repo/steps=200/acc", low)
    claims.append(Claim(
        "Table 3", "IG-Norm (the authors' IG-Norm, effective weight 1/B) collapses at the largest eps; IG-Norm-Sum does not",
        "IG-Norm .950 at 0.05, .005 at 0.3; IG-Norm-Sum .880 at 0.3",
        f"IG-Norm {results.text('IG-Norm', 'pgd_int_repo', 'pgd_linf_int_repo/steps=200/acc', low)} at {low}, "
        f"{results.text('IG-Norm', 'pgd_int_repo', 'pgd_linf_int_repo/steps=200/acc', top)} at {top}; "
        f"IG-Norm-Sum {results.text('IG-Norm-Sum', 'pgd_int_repo', 'pgd_linf_int_repo/steps=200/acc', top)}",
        (Check("IG-Norm PGD-200 accuracy at the largest eps < 0.2", pgd["IG-Norm"] < 0.2, (pgd["IG-Norm"],)),
         Check("IG-Norm loses >= 0.4 from the smallest to the largest eps", ig_low - pgd["IG-Norm"] >= 0.4, (ig_low, pgd["IG-Norm"])),
         Check("IG-Norm-Sum exceeds IG-Norm by >= 0.2 at the largest eps", pgd["IG-Norm-Sum"] - pgd["IG-Norm"] >= 0.2, (pgd["IG-Norm-Sum"], pgd["IG-Norm"]))),
        "IG-based regimes are trained for the fewest epochs (they cost ~100 natural steps per step on a CPU).",
    ))
    step_acc = {m: [results.mean(m, "pgd_int_repo", f"pgd_linf_int_repo/steps={s}/acc", top) for s in PGD_STEPS] for m in MODELS}
    plateau = [m for m in MODELS if abs(step_acc[m][2] - step_acc[m][3]) <= 0.03]
    claims.append(Claim(
        "Table 4", "With the authors' fixed step 0.01 and no random start, 1 step barely hurts Normal, 10 steps break it, and every model plateaus from 100 to 200 steps",
        "Normal .990 / .070 / .000 / .000 after 1 / 10 / 100 / 200 steps",
        "Normal " + " / ".join(f"{v:.3f}" for v in step_acc["Normal"]) + f"; plateau in {len(plateau)} of {len(MODELS)} models",
        (Check("Normal after 1 step >= 0.5", step_acc["Normal"][0] >= 0.5, step_acc["Normal"][:1]),
         Check("Normal after 10 steps <= 0.2", step_acc["Normal"][1] <= 0.2, step_acc["Normal"][1:2]),
         Check("|acc(100) - acc(200)| <= 0.03 for every model", len(plateau) == len(MODELS), [v for m in MODELS for v in step_acc[m][2:]])),
    ))
    for row, protocol, key, attack in (("Table 2", "aai_cam", "cam/aai/kendall_tau", "AAI"),
                                       ("Table 2 (reference strength)", "aai_reference", "reference/cam/kendall_tau", "the reference ensemble")):
        tau = {m: results.mean(m, protocol, key, top) for m in MODELS}
        claims.append(Claim(
            row, f"Int is the most interpretation-robust model at the largest eps (Kendall tau of CAM under {attack})",
            "Int .913, Int-Adv .912, Adv .857, TRADES .847, Int-1-class .692, Normal -.085",
            ", ".join(f"{m} {results.text(m, protocol, key, top)}" for m in ("Int", "Int-Adv", "Adv", "TRADES", "Int-1-class", "Normal")),
            (Check("tau(Int) >= tau(Adv)", tau["Int"] >= tau["Adv"], (tau["Int"], tau["Adv"])),
             Check("tau(Int) >= tau(TRADES)", tau["Int"] >= tau["TRADES"], (tau["Int"], tau["TRADES"])),
             Check("tau(Int) > tau(Int-1-class)", tau["Int"] > tau["Int-1-class"], (tau["Int"], tau["Int-1-class"])),
             Check("tau(Int) > tau(Normal)", tau["Int"] > tau["Normal"], (tau["Int"], tau["Normal"]))),
        ))
    for method in isa_methods:
        nds = {(c, p): results.mean("Normal", f"isa_{method}", f"{c}_l{p}_nds") for c, p in VARIANTS}
        nsl = {(c, p): results.mean("Normal", f"isa_{method}", f"{c}_l{p}_nsl") for c, p in VARIANTS}
        paper = TABLE1.get(method)
        claims.append(Claim(
            "Table 1", f"{method}: the l1 2-class measure has the largest NDS and the smallest NSL; l1 NDS exceeds l2 NDS",
            ("l1 NDS " + " / ".join(f"{paper[i][0]:.2f}" for i in range(3)) + ", NSL " + " / ".join(f"{paper[i][1]:.3f}" for i in range(3))
             + " (1 / 2 / all classes)") if paper else "—",
            "l1 NDS " + " / ".join(f"{nds[(c, 1)]:.2f}" for c in ("one", "two", "all")) + ", NSL "
            + " / ".join(f"{nsl[(c, 1)]:.3f}" for c in ("one", "two", "all")),
            (Check("l1 2-class NDS is the largest l1 NDS", nds[("two", 1)] >= max(nds[("one", 1)], nds[("all", 1)]),
                   [nds[(c, 1)] for c in ("one", "two", "all")]),
             Check("l1 2-class NSL is the smallest l1 NSL", nsl[("two", 1)] <= min(nsl[("one", 1)], nsl[("all", 1)]),
                   [nsl[(c, 1)] for c in ("one", "two", "all")]),
             Check("l1 NDS > l2 NDS for every class set", all(nds[(c, 1)] > nds[(c, 2)] for c in ("one", "two", "all")), list(nds.values()))),
            "Few images (ISA is the most expensive evaluation); the paper does not say which network Table 1 used (a natural one here).",
        ))
    points, violations = (results.values("Normal", "proposition_1", m) for m in ("points", "violations"))
    claims.append(Claim(
        "Proposition 1", "Every successful ISA has D_{2,l1}(x, x') >= (f_t(x) - f_t'(x)) / 2 for CAM summing to the logit",
        "holds for every interpreter with completeness", f"{int(sum(violations))} violations in {int(sum(points))} successful points",
        (Check("no successful point violates the bound", sum(violations) == 0 if sum(points) > 0 else None),),
    ))
    cost = {m: results.mean(m, "cost", "seconds_per_step") for m in MODELS}
    ratio = cost["IG-Norm"] / cost["Int-Adv"]
    claims.append(Claim(
        "Section 6 (cost)", "IG-based training costs about 3x Int-Adv per epoch; Adv, TRADES and Int cost about the same",
        "IG-Norm ≈ 3x Int-Adv", f"IG-Norm / Int-Adv = {ratio:.1f}x; Adv {cost['Adv']:.3f} s, TRADES {cost['TRADES']:.3f} s, Int {cost['Int']:.3f} s per step",
        (Check("IG-Norm / Int-Adv >= 2", ratio >= 2, (ratio,)),
         Check("Adv, TRADES, Int within 1.5x of each other", max(cost['Adv'], cost['TRADES'], cost['Int']) <= 1.5 * min(cost['Adv'], cost['TRADES'], cost['Int']),
               (cost['Adv'], cost['TRADES'], cost['Int']))),
        "Per-step medians of one CPU thread; the IG regimes use the authors' 5-point IG inside and outside.",
    ))
    return claims

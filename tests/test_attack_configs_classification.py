"""The options objects of the classification, patch and unforeseen attacks, of the causal detector and of
DetectionEval, GradientMaskingCheck and UnforeseenEval: bad values raise when built, an object gives the
same images as its fields given as keywords, and the nested YAML form parses through the command line."""

import re
from pathlib import Path

import pytest
import torch

from lightning_robattr.attacks import (
    APGDConfig,
    CWConfig,
    DeepFoolConfig,
    FGSMConfig,
    GaborConfig,
    JPEGConfig,
    PatchConfig,
    PGDConfig,
    SnowConfig,
    adversarial_patch,
    apgd,
    cw_l2,
    deepfool,
    fgsm,
    gabor,
    jpeg,
    lavan,
    snow,
)
from lightning_robattr.callbacks import (
    DetectionAttacks,
    DetectionEval,
    GradientMaskingCheck,
    MaskingProbes,
    UnforeseenAttacks,
    UnforeseenEval,
)
from lightning_robattr.cli import main
from lightning_robattr.detection import CausalConfig, CausalDetector, causal_robustness, masked_region
from lightning_robattr.models import Small

NATURAL = str(Path(__file__).resolve().parents[1] / "configs" / "natural.yaml")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FGSMConfig(loss="hinge"), "unknown loss 'hinge'"),
        (lambda: CWConfig(steps=0), "steps must be an integer >= 1"),
        (lambda: CWConfig(binary_search_steps=0), "binary_search_steps must be an integer >= 1"),
        (lambda: CWConfig(c=-1.0), "c must be a finite number >= 0"),
        (lambda: DeepFoolConfig(candidates=1), "candidates must be an integer >= 2"),
        (lambda: DeepFoolConfig(overshoot=-0.1), "overshoot must be a finite number >= 0"),
        (lambda: APGDConfig(loss="cw"), "unknown loss 'cw'; loss must be one of ce, dlr"),
        (lambda: APGDConfig(norm="l1"), "unknown norm 'l1'"),
        (lambda: APGDConfig(momentum=1.5), r"momentum must be a number in \[0, 1\]"),
        (lambda: APGDConfig(restarts=0), "restarts must be an integer >= 1"),
        (lambda: PatchConfig(size=2.0), r"size must be the patch's share of the image area in \(0, 1\]"),
        (lambda: PatchConfig(placement="centre"), "placement must be 'random' or a \\(row, col\\) corner"),
        (lambda: PatchConfig(placement=(1, -2)), "two integers >= 0"),
        (lambda: PatchConfig(batch_size=0), "batch_size must be an integer >= 1"),
        (lambda: GaborConfig(steps=0), "steps must be an integer >= 1"),
        (lambda: SnowConfig(budget=0.0), r"budget must lie in \(0, 1\]"),
        (lambda: JPEGConfig(step_size=-1.0), "step_size must be a finite number >= 0"),
        (lambda: JPEGConfig(loss="hinge"), "unknown loss 'hinge'"),
        (lambda: CausalConfig(granularity=0.0), r"granularity must lie in \(0, 1\]"),
        (lambda: CausalConfig(ig_steps=0), "ig_steps must be an integer >= 1"),
        (lambda: CausalConfig(fraction_of="pixels"), "unknown fraction_of 'pixels'"),
        (lambda: MaskingProbes(random_samples=0), "random_samples must be an integer >= 1"),
        (lambda: MaskingProbes(huge_eps="huge"), "huge_eps 'huge' is not a budget"),
        (lambda: DetectionAttacks(), "attacks must name at least one of fgsm, pgd"),
        (lambda: DetectionAttacks(fgsm=FGSMConfig(targeted=True)), "the detection attacks are untargeted"),
        (lambda: UnforeseenAttacks(), "attacks must name at least one of gabor, snow"),
        (lambda: DetectionEval(patch_masked_fraction=0.0), r"patch_masked_fraction must be a masked share in \(0, 1\]"),
        (lambda: DetectionEval(target_fprs=[0.5, 2.0]), r"target_fprs must be false-positive rates in \[0, 1\]"),
        (lambda: GradientMaskingCheck(attack=PGDConfig(targeted=True)), "set attack.targeted: false"),
        (lambda: GradientMaskingCheck(eps=[0.3, 0.1]), "eps must be strictly increasing"),
        (lambda: UnforeseenEval(eps={"gabor": 0.1}), "eps names attacks that are not run: \\['gabor'\\]"),
    ],
)
def test_a_bad_value_raises_when_the_options_are_built(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_a_config_of_another_attack_or_an_unknown_option_is_refused():
    net, x, y = Small().eval(), torch.rand(2, 1, 28, 28), torch.arange(2)
    with pytest.raises(TypeError, match="config must be a FGSMConfig, got PGDConfig"):
        fgsm(net, x, y, eps=0.1, config=PGDConfig())
    with pytest.raises(TypeError, match="CWConfig has no option 'stepz'"):
        cw_l2(net, x, y, stepz=3)
    with pytest.raises(TypeError, match="attacks.cw must be a CWConfig"):
        DetectionAttacks(cw=DeepFoolConfig())
    with pytest.raises(TypeError, match="attacks.jpeg_l1 must be a JPEGConfig"):
        UnforeseenAttacks(jpeg_l1=SnowConfig())


def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# (call with a config object, the same call with its fields as keywords); both draw from the same seed
SAME_CALLS = {
    "fgsm": (lambda m, x, y: fgsm(m, x, y, eps="8/255", config=FGSMConfig(loss="cw")),
             lambda m, x, y: fgsm(m, x, y, eps=8 / 255, loss="cw")),
    "cw_l2": (lambda m, x, y: cw_l2(m, x, y, config=CWConfig(steps=5, binary_search_steps=2, lr=0.01)),
              lambda m, x, y: cw_l2(m, x, y, steps=5, binary_search_steps=2, lr=0.01)),
    "deepfool": (lambda m, x, y: deepfool(m, x, y, config=DeepFoolConfig(steps=3, candidates=4)),
                 lambda m, x, y: deepfool(m, x, y, steps=3, candidates=4)),
    "apgd": (lambda m, x, y: apgd(m, x, y, eps=0.1, config=APGDConfig(steps=5, loss="dlr", restarts=2), generator=seeded()),
             lambda m, x, y: apgd(m, x, y, eps=0.1, steps=5, loss="dlr", restarts=2, generator=seeded())),
    "apgd_keyword_replaces_config": (
        lambda m, x, y: apgd(m, x, y, eps=0.1, config=APGDConfig(steps=50, norm="l2"), steps=4, generator=seeded()),
        lambda m, x, y: apgd(m, x, y, eps=0.1, steps=4, norm="l2", generator=seeded()),
    ),
    "gabor": (lambda m, x, y: gabor(m, x, y, eps="12/255", config=GaborConfig(steps=2, targeted=True), generator=seeded()),
              lambda m, x, y: gabor(m, x, y, eps=12 / 255, steps=2, targeted=True, generator=seeded())),
    "snow": (lambda m, x, y: snow(m, x, y, eps=0.5, config=SnowConfig(steps=2, budget=0.3), generator=seeded()),
             lambda m, x, y: snow(m, x, y, eps=0.5, steps=2, budget=0.3, generator=seeded())),
    "jpeg": (lambda m, x, y: jpeg(m, x, y, norm="l2", eps=4.0, config=JPEGConfig(steps=2, loss="cw"), generator=seeded()),
             lambda m, x, y: jpeg(m, x, y, norm="l2", eps=4.0, steps=2, loss="cw", generator=seeded())),
}


@pytest.mark.parametrize("name", sorted(SAME_CALLS))
def test_a_config_object_gives_the_images_of_its_fields_as_keywords(name):
    torch.manual_seed(0)
    net, x, y = Small().eval(), torch.rand(4, 1, 28, 28, generator=seeded()), torch.arange(4)
    with_config, with_keywords = SAME_CALLS[name]
    (a, record_a), (b, record_b) = with_config(net, x, y), with_keywords(net, x, y)
    assert torch.equal(a, b) and torch.equal(record_a.success, record_b.success)


@pytest.mark.parametrize("optimise", [adversarial_patch, lavan], ids=["brown", "lavan"])
def test_a_patch_config_gives_the_patch_of_its_fields_and_size_defaults_per_attack(optimise):
    torch.manual_seed(0)
    net, x, y = Small().eval(), torch.rand(8, 1, 28, 28, generator=seeded()), torch.arange(8)
    config = PatchConfig(steps=3, step_size=0.05, placement=(2, 3), batch_size=4)
    patch = optimise(net, x, y, target=0, config=config, generator=seeded())
    same = optimise(net, x, y, target=0, steps=3, step_size=0.05, placement=(2, 3), batch_size=4, generator=seeded())
    assert torch.equal(patch, same)
    assert patch.shape[-2:] == ((14, 14) if optimise is adversarial_patch else (4, 4))  # 25 % and 2 % of 28x28


def test_a_causal_config_gives_the_rho_of_its_fields_as_keywords():
    torch.manual_seed(0)
    net, x = Small().eval(), torch.rand(3, 1, 28, 28, generator=seeded())
    config = CausalConfig(granularity=0.1, ig_steps=4, fraction_of="all", batch_size=7)
    rho, flips = causal_robustness(net, x, config=config)
    rho_kw, flips_kw = causal_robustness(net, x, granularity=0.1, ig_steps=4, fraction_of="all", batch_size=7)
    assert torch.equal(rho, rho_kw) and torch.equal(flips, flips_kw) and flips.shape == (3, 10)
    assert torch.equal(masked_region(net, x, 0.2, config=config), masked_region(net, x, 0.2, ig_steps=4, fraction_of="all"))
    assert CausalDetector(net, config=config, ig_steps=2).config == config.updated(ig_steps=2)


def callback_set(tmp_path: Path, text: str) -> str:
    path = tmp_path / "callbacks.yaml"
    path.write_text("trainer:\n  callbacks:\n" + text)
    return str(path)


NESTED = """\
    - class_path: lightning_robattr.callbacks.DetectionEval
      init_args:
        attacks:
          fgsm: {}
          pgd: {steps: 10, norm: linf}
          lavan: {size: 0.1, steps: 20, placement: [3, 4]}
        eps: 8/255
        detector: {granularity: 0.1, ig_steps: 8, fraction_of: all}
        schedule: {num_samples: 16, every_n_epochs: 0}
    - class_path: lightning_robattr.callbacks.GradientMaskingCheck
      init_args:
        eps: [0.5, 1.0]
        steps: [5, 10]
        attack: {norm: l2}
        probes: {huge_eps: 20, random_samples: 10}
        schedule: {num_samples: 32, every_n_epochs: 2}
    - class_path: lightning_robattr.callbacks.UnforeseenEval
      init_args:
        attacks:
          jpeg_l2: {steps: 20, targeted: true}
          snow: {steps: 10, budget: 0.3}
        eps: {jpeg_l2: 4.0}
        schedule: {batch_size: 8}
"""


def test_the_nested_yaml_form_parses_and_builds_the_callbacks(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "-c", NATURAL, "-c", callback_set(tmp_path, NESTED), "--print_config"])
    assert done.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "placement:\n          - 3\n          - 4" in printed and "fraction_of: all" in printed and "budget: 0.3" in printed
    cli = main(["-c", NATURAL, "-c", callback_set(tmp_path, NESTED)], run=False)
    callbacks = {type(c).__name__: c for c in cli.trainer.callbacks}
    detection, masking, unforeseen = callbacks["DetectionEval"], callbacks["GradientMaskingCheck"], callbacks["UnforeseenEval"]
    assert detection.attacks == DetectionAttacks(
        fgsm=FGSMConfig(), pgd=PGDConfig(steps=10), lavan=PatchConfig(size=0.1, steps=20, placement=(3, 4))
    )
    assert detection.eps == 8 / 255 and detection.detector == CausalConfig(granularity=0.1, ig_steps=8, fraction_of="all")
    assert masking.norm == "l2" and masking.huge_eps == 20.0 and masking.probes.random_samples == 10
    assert masking.schedule.every_n_epochs == 2 and masking.schedule.num_samples == 32
    assert unforeseen.attacks == {"snow": SnowConfig(steps=10, budget=0.3), "jpeg_l2": JPEGConfig(steps=20, targeted=True)}
    assert unforeseen.tag("jpeg_l2") == "robust/jpeg_l2/eps=4/steps=20/acc" and unforeseen.budgets["snow"] == 2.0


@pytest.mark.parametrize(
    ("init_args", "message"),
    [
        ("{attacks: {pgd: {steps: 0}}}", "steps must be an integer >= 1, got 0"),
        ("{attacks: {pgdd: {steps: 3}}}", "'pgdd.steps' is not accepted"),
        ("{attacks: {}}", "attacks must name at least one of fgsm, pgd"),
        ("{detector: {granularity: 0}}", r"granularity must lie in \(0, 1\]"),
    ],
)
def test_a_bad_nested_value_fails_when_the_config_is_read(tmp_path, capsys, init_args, message):
    """A bad value is a ValueError naming it; an unknown key is the parser's usage error (exit 2) naming it."""
    text = f"    - class_path: lightning_robattr.callbacks.DetectionEval\n      init_args: {init_args}\n"
    with pytest.raises((ValueError, SystemExit)) as error:
        main(["-c", NATURAL, "-c", callback_set(tmp_path, text)], run=False)
    said = str(error.value) if error.type is ValueError else capsys.readouterr().err
    assert re.search(message, said), said[-2000:]

"""AutoAttack (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks"), run through the authors' reference code, PyPI ``pyautoattack``.

The reference is wrapped, not rewritten: FAB and Square are large and their exact behaviour is
what published numbers mean. The wrapper makes it follow this package's conventions, which the
reference alone does not: it runs the model in eval mode and fp32 (the reference never sets the
mode), leaves parameter ``.grad`` alone (FAB calls ``backward``), restores the global torch random
state (every sub-attack seeds it with ``torch.manual_seed``) and the Python trace function (its
dynamic-defence check calls ``sys.settrace(None)``, which would switch off a debugger or coverage).
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_choice, check_positive_int
from ...models import evaluation_mode
from .._records import SuccessRecord, with_success
from .._threat_models import threat_model

VERSIONS = ("standard", "rand")
REFERENCE_NORMS = {"linf": "Linf", "l2": "L2"}
INSTALL = 'pip install "lightning_robattr[autoattack]"'


def autoattack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: str = "linf",
    version: str = "standard",
    seed: int = 0,
    batch_size: int = 500,
) -> tuple[Tensor, SuccessRecord]:
    """AutoAttack's ensemble, the worst case per point: the reference robust accuracy.

    ``"standard"`` runs APGD-CE, APGD-T (targeted DLR against each of the top 9 other classes),
    FAB-T (9 targets) and Square (5000 queries, gradient-free), each on the points the previous
    ones left correctly classified; ``"rand"``, for randomised defences, runs APGD-CE and
    APGD-DLR averaging 20 gradient samples per step (EOT). All with 100 iterations, no tuning.

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1]; ``"standard"`` needs >= 10 classes
            (9 targets), ``"rand"`` >= 3 (DLR).
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: true labels ``(B,)``.
        eps: ball radius in pixel units.
        norm: ``"linf"`` or ``"l2"``.
        version: ``"standard"`` or ``"rand"``.
        seed: seed of the attacks' random starts and Square's proposals.
        batch_size: images per forward pass of the reference.

    Returns:
        ``(x_adv, record)``: for each point the first adversarial example found (the clean image
        where none was), and a ``SuccessRecord``; ``1 - success.float().mean()`` over correctly
        classified points is the robust accuracy.

    Raises:
        ImportError: ``pyautoattack`` is not installed; install the extra.

    Cost per image: up to ``100 + 900 + 900`` forward+backward passes and 5000 forward passes
    (``"standard"``), each later attack only on the points still unbroken.
    """
    x, y = _checked(model, x, y, eps=eps, norm=norm, seed=seed)
    check_choice(version, VERSIONS, name="version")
    check_positive_int(batch_size, "batch_size")
    reference = load_reference()
    with _as_this_package_runs(model):
        attack = reference(model, eps=float(eps), norm=REFERENCE_NORMS[norm], version=version, seed=seed, device=x.device)
        x_adv, _ = attack.run_standard_evaluation(x.detach(), y, batch_size=batch_size)
        return with_success(model, x_adv, y, targeted=False)


def square(
    model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str = "linf", queries: int = 5000, seed: int = 0
) -> tuple[Tensor, SuccessRecord]:
    """Square Attack (Andriushchenko et al.), AutoAttack's gradient-free member: random square-shaped
    updates at the ball's boundary, kept when they lower the margin loss; never looks at a gradient.

    Args:
        model, x, y, eps, norm, seed: as in :func:`autoattack`.
        queries: forward passes per image (AutoAttack: 5000).

    Returns:
        ``(x_adv, record)``: the adversarial example where one was found, else the last iterate, and a ``SuccessRecord``.
    """
    x, y = _checked(model, x, y, eps=eps, norm=norm, seed=seed)
    check_positive_int(queries, "queries")
    load_reference()
    from pyautoattack.square import SquareAttack

    with _as_this_package_runs(model):
        attack = SquareAttack(
            model, norm=REFERENCE_NORMS[norm], n_queries=queries, eps=float(eps), p_init=0.8, seed=seed, resc_schedule=False,
            device=x.device,
        )
        with torch.no_grad():
            x_adv = attack.perturb(x.detach(), y)
        return with_success(model, x_adv, y, targeted=False)


def _checked(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, seed: int) -> tuple[Tensor, Tensor]:
    """``check_batch``'s ``(x, y)``, after the budget, the norm and the seed are checked."""
    threat_model(norm, eps)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return check_batch(model, x, {"y": y}, required=("y",))


@contextmanager
def _as_this_package_runs(model: nn.Module) -> Iterator[None]:
    """``evaluation_mode`` with the parameters frozen and the global state kept, for code that knows neither."""
    with evaluation_mode(model), _parameters_frozen(model), _global_state_kept():
        yield


def load_reference() -> type:
    """``pyautoattack.AutoAttack``, or an ImportError that says how to install it."""
    try:
        from pyautoattack import AutoAttack
    except ImportError as error:
        raise ImportError(
            "autoattack needs the authors' reference implementation, PyPI pyautoattack, which is not installed; "
            f"install it with {INSTALL}"
        ) from error
    return AutoAttack


@contextmanager
def _parameters_frozen(model: nn.Module) -> Iterator[None]:
    """Switch off ``requires_grad`` of every parameter (so ``backward`` cannot reach ``.grad``); restore on exit."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextmanager
def _global_state_kept() -> Iterator[None]:
    """Restore the global torch random state (CPU and the current CUDA device) and the trace function on exit."""
    trace = sys.gettrace()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        sys.settrace(trace)

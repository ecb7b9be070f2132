"""Influence functions (Koh & Liang) on the last layer, with the exact Hessian: which training images a prediction rests on.

The parameters are those of the net's final ``nn.Linear`` named ``classifier`` (as every CAM net
has), the features its input; with the rest of the net fixed the training loss is convex in
them and its Hessian, ``(1/n) sum_i (diag(p_i) - p_i p_i^T) kron (phi_i phi_i^T) + damping I``, is
built and factorised exactly.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_batch, check_nonnegative
from ..models import evaluation_mode


def last_layer_inputs(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(features (B, d), logits (B, n_c))``: the input of ``model.classifier`` and the model's output, with their graph."""
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise TypeError(
            f"influence functions need a final nn.Linear named `classifier`, got {type(model).__name__}; "
            "wrap the net in lightning_robattr.models.CAMAdapter"
        )
    seen: list[Tensor] = []
    handle = head.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return seen[-1].flatten(1), logits


def loss_gradients(features: Tensor, logits: Tensor, y: Tensor, bias: bool) -> Tensor:
    """``(B, P)``: the gradient of each example's cross-entropy w.r.t. the flattened head ``[W | b]`` (closed form ``(p - e_y) phi^T``)."""
    residual = F.softmax(logits, dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)
    inputs = torch.cat([features, features.new_ones(len(features), 1)], dim=1) if bias else features
    return (residual[:, :, None] * inputs[:, None, :]).flatten(1)


class LastLayerInfluence:
    """Influence of each training example on a test example's loss, through the last layer.

    ``scores(x, y)[b, i] = grad L(z_b)^T H^{-1} grad L(z_i)``: by Koh & Liang, removing training
    example ``i`` changes the test loss by about ``scores / n`` (up-weighting it by ``e`` changes it by
    ``-e scores``), so the largest scores are the training examples that help the prediction most
    (``most_influential``). The score is differentiable in ``x`` (Ghorbani et al.'s attack on it,
    ``attacks.influence_attack``).

    Args:
        model: a net with a final ``nn.Linear`` named ``classifier`` (eval mode inside).
        train_x: training images ``(n, C, H, W)``; train_y: their labels ``(n,)``.
        damping: added to the Hessian's diagonal (also the L2 weight of the training loss it stands for).
        batch_size: images per forward pass when the training features are computed.

    Cost: one forward pass over the training set; a ``P x P`` Cholesky factorisation (``P`` = head size,
    1,000 for Small); then per test image one backward pass.
    """

    def __init__(self, model: nn.Module, train_x: Tensor, train_y: Tensor, *, damping: float = 0.01, batch_size: int = 256) -> None:
        check_nonnegative(damping, "damping")
        train_x, train_y = check_batch(model, train_x, {"train_y": train_y}, required=("train_y",), name="train_x")
        with evaluation_mode(model), torch.no_grad():
            parts = [last_layer_inputs(model, part) for part in train_x.split(batch_size)]
        self.model, self.bias = model, model.classifier.bias is not None
        features, logits = torch.cat([f for f, _ in parts]).double(), torch.cat([z for _, z in parts]).double()
        inputs = torch.cat([features, features.new_ones(len(features), 1)], dim=1) if self.bias else features
        p = F.softmax(logits, dim=1)
        curvature = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]  # (n, n_c, n_c)
        classes, width = curvature.shape[1], inputs.shape[1]
        hessian = inputs.new_zeros(classes, width, classes, width)
        for a in range(classes):  # block (a, b) = sum_n c_nab phi_n phi_n^T: no n x d^2 intermediate
            for b in range(classes):
                hessian[a, :, b, :] = inputs.T @ (curvature[:, a, b, None] * inputs)
        hessian = hessian.reshape(classes * width, -1) / len(inputs) + damping * torch.eye(classes * width, dtype=inputs.dtype)
        self.train_gradients = loss_gradients(features, logits, train_y, self.bias)  # (n, P)
        self.solved = torch.cholesky_solve(self.train_gradients.T, torch.linalg.cholesky(hessian)).T  # (n, P): H^-1 g_i

    def scores(self, x: Tensor, y: Tensor) -> Tensor:
        """``(B, n)`` influence scores of every training example on each test example ``(x, y)``; keeps ``x``'s graph."""
        features, logits = last_layer_inputs(self.model, x)
        gradients = loss_gradients(features.double(), logits.double(), y, self.bias)
        return (gradients @ self.solved.T.to(gradients.device)).to(x.dtype)

    def most_influential(self, x: Tensor, y: Tensor, k: int = 5) -> Tensor:
        """``(B, k)`` indices of the training examples with the largest scores."""
        with evaluation_mode(self.model), torch.no_grad():
            return self.scores(x, y).topk(k, dim=1).indices

"""``CAMAdapter``: gives any GAP-plus-linear classifier (e.g. a torchvision ResNet) the package's interface."""

from collections.abc import Sequence

from torch import Tensor, nn

from ._cam_net import CAMNet
from ._normalize import Normalize


class CAMAdapter(CAMNet):
    """Wrap ``net`` whose ``feature_layer`` output is globally average-pooled into the linear ``classifier``.

    ``features(x)`` runs ``net`` and returns what ``feature_layer`` produced; ``forward`` is
    ``net``'s own forward. Both take pixel-space images; the optional ``Normalize`` layer is
    applied first.

    Args:
        net: the classifier to wrap.
        feature_layer: dotted name of the module whose output is the last feature map ``(B, K, h, w)``.
        classifier: dotted name of the final ``nn.Linear`` (``K -> num_classes``).
        mean, std: per-channel normalisation; omit both for none.

    Example:
        >>> import torch, torchvision
        >>> net = CAMAdapter(torchvision.models.resnet18(num_classes=10), feature_layer="layer4", classifier="fc")
        >>> net.features(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 512, 2, 2])
    """

    def __init__(
        self,
        net: nn.Module,
        feature_layer: str,
        classifier: str,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std for the input normalisation, or neither")
        self.normalize = Normalize(mean, std) if mean is not None else nn.Identity()
        self.feature_layer, self.classifier_name = feature_layer, classifier
        _submodule(net, feature_layer, "feature_layer")
        head = _submodule(net, classifier, "classifier")
        if not isinstance(head, nn.Linear):
            raise TypeError(
                f"classifier {classifier!r} must name an nn.Linear, found {type(head).__name__}; "
                "give the dotted name of the final nn.Linear (e.g. 'fc' for a torchvision ResNet)"
            )

    @property
    def classifier(self) -> nn.Linear:  # type: ignore[override]
        return self.net.get_submodule(self.classifier_name)

    def features(self, x: Tensor) -> Tensor:
        captured: list[Tensor] = []
        hook = self.net.get_submodule(self.feature_layer).register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            self.net(self.normalize(x))
        finally:
            hook.remove()
        return captured[0]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))


def _submodule(net: nn.Module, name: str, argument: str) -> nn.Module:
    """``net``'s module called ``name``; an ``AttributeError`` naming ``argument`` and the candidates otherwise."""
    try:
        return net.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in net.named_children()]
        raise AttributeError(
            f"{argument} {name!r} is not a module of {type(net).__name__}; give a dotted module name, e.g. one of {names}"
        ) from None

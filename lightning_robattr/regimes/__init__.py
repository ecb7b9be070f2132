"""One LightningModule per training regime, all subclasses of ``RobustClassifier``."""

from ._adversarial import AdversarialRegime
from ._checkpoint import check_regime, read_checkpoint
from ._checkpoint_io import AtomicCheckpointIO
from ._ig_norm import IGNormModule
from ._int_module import IntModule
from ._madry import MadryModule
from ._natural import NaturalModule
from ._robust_classifier import RobustClassifier
from ._rts import RTSModule
from ._ssr import SSRModule
from ._trades import TRADESModule

__all__ = [
    "AdversarialRegime",
    "AtomicCheckpointIO",
    "IGNormModule",
    "IntModule",
    "MadryModule",
    "NaturalModule",
    "RTSModule",
    "RobustClassifier",
    "SSRModule",
    "TRADESModule",
    "check_regime",
    "read_checkpoint",
]

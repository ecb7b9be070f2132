"""One LightningModule per training regime, all subclasses of ``RobustClassifier``."""

from .adversarial import AdversarialRegime
from .checkpoint import check_regime, read_checkpoint
from .checkpoint_io import AtomicCheckpointIO
from .ig_norm import IGNormModule
from .int_module import IntModule
from .madry import MadryModule
from .natural import NaturalModule
from .robust_classifier import RobustClassifier
from .rts import RTSModule
from .ssr import SSRModule
from .trades import TRADESModule

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

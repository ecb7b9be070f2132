"""Silence the messages a normal run gets from how this package uses its dependencies, not from anything the user did."""

import logging
import warnings

# LightningCLI's advice against passing args (main() passes the command line after resolving --config paths);
# torch's _pytree deprecation, raised inside Lightning; ModelCheckpoint noting that a checkpoint from another
# version_N folder does not bring its top-k bookkeeping (every CLI run, a resumed one too, gets a folder of its own)
_WARNINGS = ("LightningCLI's args parameter", ".*isinstance\\(treespec, LeafSpec\\)", "The dirpath has changed from")
# Lightning's advertisement for its cloud logger, printed by every Trainer
_TIP = "💡 Tip: For seamless cloud logging"
_TIP_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero")


class _DropTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_TIP)


_DROP_TIP = _DropTip()


def quiet_dependencies() -> None:
    """Ignore the dependencies' warnings and tip above (idempotent); the command line and the reproductions call it."""
    for message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name in _TIP_LOGGERS:
        logger = logging.getLogger(name)
        if _DROP_TIP not in logger.filters:
            logger.addFilter(_DROP_TIP)

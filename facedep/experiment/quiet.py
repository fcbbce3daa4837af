"""A quiet console: exact filters for third-party messages that say nothing about the run.

Applied by the entry points (:func:`quiet_console`); every other warning still reaches the screen.
"""

from __future__ import annotations

import logging
import re
import warnings

LITLOGGER_TIP = "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]"
"""Lightning's advertisement, printed by every Trainer without a LitLogger."""

PYTREE_DEPRECATION = "`isinstance(treespec, LeafSpec)` is deprecated"
"""torch's FutureWarning, raised from Lightning's own ``utilities/_pytree.py`` (not from our code)."""

_RANK_ZERO_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


class DropMessage(logging.Filter):
    """Drops log records whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def quiet_console() -> None:
    """Filter exactly :data:`LITLOGGER_TIP` and :data:`PYTREE_DEPRECATION` (idempotent)."""
    warnings.filterwarnings("ignore", message=re.escape(PYTREE_DEPRECATION), category=FutureWarning)
    for name in _RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropMessage) and f.prefix == LITLOGGER_TIP for f in logger.filters):
            logger.addFilter(DropMessage(LITLOGGER_TIP))

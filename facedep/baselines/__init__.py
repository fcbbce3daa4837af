"""Classic time-series baselines: ROCKET/MiniRocket transforms, summary features, gradient boosting."""

from facedep.baselines.minirocket import MiniRocket
from facedep.baselines.rocket import Rocket

__all__ = ["MiniRocket", "Rocket"]

"""Classic time-series baselines: ROCKET/MiniRocket transforms, summary features, gradient boosting."""

from baselines.minirocket import MiniRocket
from baselines.rocket import Rocket

__all__ = ["MiniRocket", "Rocket"]

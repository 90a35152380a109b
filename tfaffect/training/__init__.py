"""Training: the :class:`Recipe` base (one frozen dataclass per published result), the generic
Keras trainer (:func:`train`), and the recipe registry behind ``tfaffect recipes`` / ``tfaffect train``.
"""

from tfaffect.training.recipe import LinearWarmup, Recipe, hparam
from tfaffect.training.trainer import train

__all__ = ["LinearWarmup", "Recipe", "hparam", "train"]

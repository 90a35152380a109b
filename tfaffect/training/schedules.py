"""Learning-rate schedules built from a recipe's fields (``lr_schedule``, ``warmup_epochs`` ...).

:func:`learning_rate` turns the fields into what the optimizer takes: a float for a constant rate
without warm-up, else a Keras schedule counting optimizer steps. The step counts come from the
recipe's derived values (:meth:`~tfaffect.training.recipe.Recipe.lr_boundary_steps` and friends).
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import ops

from tfaffect.errors import ConfigError


@keras.saving.register_keras_serializable(package="tfaffect")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Multiply a learning rate (a float or a schedule) by a factor rising linearly to 1 over
    ``warmup_steps``.

    The rate used at optimizer step ``s`` (0-based, Keras's ``optimizer.iterations``) is
    ``inner(s) * min(1, (s + 1) / warmup_steps)``: the first step already moves the weights, the
    step ``warmup_steps - 1`` uses the full rate. The inner schedule counts steps from the start of
    training, not from the end of the warm-up.
    """

    def __init__(self, schedule, warmup_steps: int):
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        target = self.schedule(step) if callable(self.schedule) else self.schedule
        factor = ops.minimum(1.0, (ops.cast(step, "float32") + 1.0) / float(self.warmup_steps))
        return ops.cast(target, "float32") * factor

    def get_config(self):
        schedule = self.schedule
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = keras.optimizers.schedules.serialize(schedule)
        return {"schedule": schedule, "warmup_steps": self.warmup_steps}


def learning_rate(recipe, steps_per_epoch: Optional[int]):
    """The learning rate to give ``recipe``'s optimizer: a float (constant, no warm-up) or a schedule."""
    needs_steps = recipe.lr_schedule != "constant" or recipe.warmup_epochs > 0
    if needs_steps and not steps_per_epoch:
        raise ConfigError(
            f"{type(recipe).__name__}: lr_schedule={recipe.lr_schedule!r} / warmup_epochs="
            f"{recipe.warmup_epochs} need the steps per epoch, which the training dataset does not "
            f"tell (unknown or infinite cardinality): define train_examples() or set "
            f"max_steps_per_epoch")
    schedules = keras.optimizers.schedules
    if recipe.lr_schedule == "exponential":
        rate = schedules.ExponentialDecay(
            recipe.learning_rate, decay_steps=recipe.decay_steps(steps_per_epoch),
            decay_rate=recipe.lr_decay_rate, staircase=recipe.lr_staircase)
    elif recipe.lr_schedule == "piecewise":
        boundaries = recipe.lr_boundary_steps(steps_per_epoch)
        if boundaries[0] < 0 or any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ConfigError(
                f"{type(recipe).__name__}.lr_boundaries = {recipe.lr_boundaries} epochs give steps "
                f"{boundaries} at {steps_per_epoch} steps per epoch: they must be distinct steps >= 0")
        rate = schedules.PiecewiseConstantDecay(boundaries, [recipe.learning_rate, *recipe.lr_values])
    else:
        rate = recipe.learning_rate
    if recipe.warmup_epochs > 0:
        rate = LinearWarmup(rate, max(1, recipe.warmup_steps(steps_per_epoch)))
    return rate

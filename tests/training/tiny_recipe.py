"""Tiny test recipe (not a published result): a 2-layer MLP regressing valence/arousal from 8x8 images.

Paper: none (test fixture for tfaffect.training). Table/row: none. Expected runtime: a few seconds
on 2 CPU cores. Command: ``python tests/training/tiny_recipe.py --run-dir runs/tiny``.

It follows the data contract: x["image"] uint8 [B, 8, 8, 3], y["va"] float32 [B, 2], sample_weight["va"]
float32 [B] with some frames invalid (weight 0). Data are generated in memory (seeded), shuffled each
epoch, and the model has dropout, so an exact resume needs the random and shuffle states.

If $TFAFFECT_TEST_KILL_AFTER_EPOCH is set to N, the process SIGKILLs itself at the end of epoch N
(1-based), after the trainer's callbacks have saved that epoch: the crash that the resume test repeats.
"""

import dataclasses
import os
import signal

import keras
import numpy as np
import tensorflow as tf

from tfaffect.errors import ConfigError
from tfaffect.training import Recipe, hparam
from tfaffect.launch import main


class KillAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


@dataclasses.dataclass(frozen=True)
class TinyRecipe(Recipe):
    """Tiny test recipe: MLP on 8x8 images -> valence/arousal (test fixture, not a published result)."""

    name = "tiny"
    paper = "none (test fixture)"
    table = "none"

    epochs: int = hparam(4, "test fixture: 4 epochs so a crash after epoch 2 leaves 2 to run")
    batch_size: int = hparam(8, "test fixture")
    learning_rate: float = hparam(0.01, "test fixture")
    deterministic: bool = hparam(True, "test fixture: resumed and uninterrupted runs must agree")
    num_examples: int = hparam(40, "training examples (5 batches of 8)")
    image_size: int = hparam(8, "image side in pixels")
    hidden_units: int = hparam(16, "hidden layer width")
    dropout: float = hparam(0.25, "dropout rate after the hidden layer")

    def validate(self):
        super().validate()
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"TinyRecipe.dropout = {self.dropout}: must be in [0, 1)")

    def build_model(self):
        image = keras.Input((self.image_size, self.image_size, 3), dtype="uint8", name="image")
        h = keras.layers.Rescaling(1 / 128, offset=-1)(image)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(self.hidden_units, activation="relu")(h)
        h = keras.layers.Dropout(self.dropout, seed=self.seed)(h)
        va = keras.layers.Dense(2, activation="tanh", name="va")(h)
        return keras.Model({"image": image}, {"va": va})

    def compile_args(self, learning_rate):
        return {"optimizer": keras.optimizers.Adam(learning_rate), "loss": {"va": "mse"},
                # weighted_metrics: Keras's plain `metrics` ignore sample_weight (invalid frames)
                "weighted_metrics": {"va": [keras.metrics.MeanSquaredError(name="mse")]}}

    def make_split(self, n: int, seed: int):
        """``(images, va, weights)`` arrays: VA is a fixed function of the mean colour."""
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, (n, self.image_size, self.image_size, 3), dtype=np.uint8)
        colour = images.reshape(n, -1, 3).mean(axis=1) / 255.0
        va = np.stack([colour[:, 0] - colour[:, 1], colour[:, 2] - 0.5], axis=1).astype(np.float32)
        weights = (np.arange(n) % 5 != 4).astype(np.float32)  # every 5th frame invalid
        va[weights == 0] = 0.0
        return images, va, weights

    def datasets(self):
        def dataset(n, seed, shuffle):
            images, va, weights = self.make_split(n, seed)
            ds = tf.data.Dataset.from_tensor_slices(({"image": images}, {"va": va}, {"va": weights}))
            if shuffle:
                ds = ds.shuffle(n, seed=self.seed)
            return ds.batch(self.batch_size)

        n = 16 if self.smoke else self.num_examples
        return dataset(n, 1, True), dataset(16, 2, False)

    def callbacks(self, run_dir):
        kill = os.environ.get("TFAFFECT_TEST_KILL_AFTER_EPOCH")
        return [KillAfterEpoch(int(kill))] if kill else []


if __name__ == "__main__":
    main(TinyRecipe)

"""Test recipe (not a published result): a small MLP on the prepared smoke SynthAffect shards that
records which frames each process trains and validates on.

Paper: none (test fixture for multi-worker training, tests/training/test_multiworker.py). Table/row:
none. Expected runtime: about 10 s per process on 2 CPU cores. Command (one worker):
``python tests/training/multiworker_recipe.py --run-dir runs/mw``; with ``TF_CONFIG`` and
``--distribute multiworker`` one per worker.

Data: the real pipeline (``tfaffect.data.pipeline.make_dataset``) over ``resolve_data(None, 32,
smoke=True)``: the tiny SynthAffect, generated and prepared in ``$TFAFFECT_CACHE`` by whichever
process gets there first (the others wait on its lock). Each example carries an id (video number x
1000 + frame, from the pipeline's index) that the model's first layer, :class:`RecordIds`, prints
to ``$TFAFFECT_TEST_ID_LOG/<task>-<train|validation>.txt``: one line per step with the ids of the
batch this process got. No dropout and Keras's "mse" loss (its per-replica reduction averages to
the global one), so N workers should train exactly as one, up to float rounding.
"""

import dataclasses
import json
import os

import keras
import tensorflow as tf

from tfaffect import metrics
from tfaffect.training import Recipe, hparam
from tfaffect.training.data import resolve_data
from tfaffect.launch import main


def task_name() -> str:
    """``worker-<index>`` from ``TF_CONFIG``, or ``single`` without one."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task")
    return f"{task['type']}-{task['index']}" if task else "single"


@keras.saving.register_keras_serializable(package="tfaffect_tests")
class RecordIds(keras.layers.Layer):
    """Identity on ``image``; prints the batch's ``ids`` to the id log (test fixture, TF only)."""

    def call(self, image, ids, training=None):
        folder = os.environ.get("TFAFFECT_TEST_ID_LOG")
        if folder:
            path = os.path.join(folder, f"{task_name()}-{'train' if training else 'validation'}.txt")
            tf.print(ids, output_stream=f"file://{path}", summarize=-1)
        return image


@dataclasses.dataclass(frozen=True)
class MultiWorkerTestRecipe(Recipe):
    """MLP on 32x32 smoke SynthAffect frames -> valence/arousal (test fixture, not a published result)."""

    name = "multiworker_test"
    paper = "none (test fixture)"
    table = "none"

    epochs: int = hparam(2, "test fixture: two epochs, so the second one reshuffles")
    batch_size: int = hparam(12, "test fixture: 6 frames per replica with 2 workers; the last validation batch has 4")
    learning_rate: float = hparam(0.01, "test fixture")
    deterministic: bool = hparam(True, "test fixture: runs must be comparable")
    image_size: int = hparam(32, "the smoke SynthAffect shards are prepared at this size")
    hidden_units: int = hparam(16, "hidden layer width")

    def build_model(self):
        image = keras.Input((self.image_size, self.image_size, 3), dtype="uint8", name="image")
        ids = keras.Input((), dtype="int64", name="id")
        h = RecordIds()(image, ids)
        h = keras.layers.Rescaling(1 / 128, offset=-1)(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(self.hidden_units, activation="relu")(h)
        va = keras.layers.Dense(2, activation="tanh", name="va")(h)
        return keras.Model({"image": image, "id": ids}, {"va": va})

    def compile_args(self, learning_rate):
        return {"optimizer": keras.optimizers.Adam(learning_rate), "loss": {"va": "mse"},
                "weighted_metrics": {"va": [
                    metrics.ConcordanceCC(name="ccc"), metrics.ConcordanceCC(dim=0, name="ccc_valence"),
                    metrics.MeanSquaredErrorPerDim(dim=1, name="mse_arousal"),
                    keras.metrics.MeanSquaredError(name="keras_mse")]}}

    def datasets(self):
        from tfaffect.data.pipeline import make_dataset

        data, _ = resolve_data(self.data, self.image_size, smoke=True)

        def with_ids(x, y, w, index):
            video = tf.strings.to_number(tf.strings.regex_replace(index["video_id"], r"\D", ""), tf.int64)
            return {**x, "id": video * 1000 + tf.cast(index["frame"], tf.int64)}, y, w

        common = {"batch_size": self.batch_size, "tasks": ("va",), "seed": self.seed, "with_index": True}
        train = make_dataset(data, "train", training=True, repeat=False, **common)
        val = make_dataset(data, "validation", training=False, **common)
        return train.map(with_ids), val.map(with_ids)


if __name__ == "__main__":
    main(MultiWorkerTestRecipe)

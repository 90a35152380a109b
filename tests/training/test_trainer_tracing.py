"""The trainer builds the optimizer's slots, the loss trackers and the metrics before ``fit``, so Keras traces the
train step once (tfaffect/training/trainer.py, ``_keras_distribution_fixes`` item 0).

Without a strategy scope Keras 3 builds that state inside the first trace; a ``tf.function`` that creates
variables is traced a second time, which doubled the graph building of every run (ResNet-50 at 64 px, stat_lstm
--smoke: 36 s against 18 s per stage on 2 loaded cores, 2026-12-04). Counted here: each trace calls the model's
Python ``train_step`` (and ``test_step``) once.
"""

import dataclasses

import keras

from tfaffect.training import trainer
from tiny_recipe import TinyRecipe


@dataclasses.dataclass(frozen=True)
class CountingRecipe(TinyRecipe):
    """TinyRecipe whose model counts the Python calls (traces) of its train and test steps."""

    def build_model(self):
        model = super().build_model()
        model.traces = {"train": 0, "test": 0}
        for kind in model.traces:
            step = getattr(model, f"{kind}_step")

            def counted(data, step=step, kind=kind):
                model.traces[kind] += 1
                return step(data)

            setattr(model, f"{kind}_step", counted)
        COUNTED.append(model)
        return model


COUNTED: list = []


def test_the_train_and_test_steps_are_traced_once_per_run(tmp_path):
    COUNTED.clear()
    keras.backend.clear_session()
    metrics = trainer.train(CountingRecipe(epochs=2, deterministic=False), tmp_path / "run", verbose=0)
    assert metrics["epochs"] == 2
    model, = COUNTED
    assert model.traces == {"train": 1, "test": 1}
    assert model.optimizer.iterations.numpy() == 2 * 5  # 40 examples in batches of 8, two epochs: it trained

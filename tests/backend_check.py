"""Streaming metrics, losses and one multi-task training step on fixed inputs, with whichever Keras
backend is active; ``python tests/backend_check.py`` prints the values as one JSON line.

Used by ``test_backend_jax.py``: once in a subprocess under ``KERAS_BACKEND=jax``, once under
TensorFlow, and the two must agree. Most values come out of compiled ``evaluate``/``fit`` steps (one
compilation each; eager JAX compiles every op separately and is slow); a few use the eager API.
"""

import json

import numpy as np


def compute() -> dict:
    """Returns {name: float or list of floats}, plus "backend"."""
    import keras

    from tfaffect import losses as L
    from tfaffect import metrics as M

    rng = np.random.default_rng(1234)
    t = rng.uniform(-1, 1, (4, 6, 2)).astype(np.float32)
    p = (0.5 * t + rng.normal(0, 0.3, t.shape)).astype(np.float32)
    w = (rng.random((4, 6)) > 0.3).astype(np.float32)
    t[w == 0] = np.nan  # invalid labels, as the importers write them
    labels = rng.integers(-1, 7, (4, 6)).astype(np.int32)
    scores = rng.random((4, 6, 7)).astype(np.float32)
    probs = scores / scores.sum(axis=-1, keepdims=True)
    out = {"backend": keras.backend.backend()}

    # Eager API: uneven batches into one metric, one loss call.
    metric = M.ConcordanceCC()
    for b in (slice(0, 1), slice(1, 4)):
        metric.update_state(t[b], p[b], w[b])
    out["eager_ccc"] = float(metric.result())
    out["eager_ccc_loss"] = float(L.CCCLoss()(t, p, w))

    # Compiled: an identity model with one output per loss; the metrics stream over 2 batches.
    va_in, expr_in = keras.Input((6, 2), name="va_in"), keras.Input((6, 7), name="expr_in")
    va, expr = keras.layers.Identity()(va_in), keras.layers.Identity()(expr_in)
    identity = keras.Model([va_in, expr_in], {"ccc": va, "ccc_sequence": va, "ccc_do2020": va,
                                              "mse": va, "cross_entropy": expr})
    identity.compile(
        loss={"ccc": L.CCCLoss(), "ccc_sequence": L.CCCLoss(over="sequence"),
              "ccc_do2020": L.CCCLoss(dim_weights=(0.4, 0.4)), "mse": L.MaskedMSE(),
              "cross_entropy": L.MaskedSparseCategoricalCrossentropy()},
        weighted_metrics={
            "ccc": [M.ConcordanceCC(), M.ConcordanceCC(dim=1, name="ccc_arousal"), M.PearsonCC(),
                    M.IntraclassCC(), M.MeanSquaredErrorPerDim(), M.RootMeanSquaredErrorPerDim(dim=0)],
            "cross_entropy": [M.ExpressionAccuracy(), M.ExpressionF1(),
                              M.ExpressionF1(average="weighted", name="f1_weighted"),
                              M.ABAWExpressionScore()]})
    names = ("ccc", "ccc_sequence", "ccc_do2020", "mse", "cross_entropy")
    y = {name: labels if name == "cross_entropy" else t for name in names}
    sample_weight = {name: w for name in names}
    result = identity.evaluate([p, probs], y, sample_weight=sample_weight, batch_size=2, verbose=0,
                               return_dict=True)
    out.update({f"stream_{name}": float(value) for name, value in result.items()})

    # One SGD step of a two-output model from fixed weights: gradients agree across backends.
    x = rng.normal(size=(8, 3)).astype(np.float32)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, {
        "va": keras.layers.Dense(2, activation="tanh", name="va")(inputs),
        "expression": keras.layers.Dense(7, activation="softmax", name="expression")(inputs),
    })
    model.set_weights([rng.normal(0, 0.5, v.shape).astype(np.float32) for v in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
                  **L.multitask_losses({"va": (L.CCCLoss(dim_weights=(0.4, 0.4)), 1.0),
                                        "expression": (L.MaskedSparseCategoricalCrossentropy(), 1.0)}))
    history = model.fit(x, {"va": t.reshape(-1, 2)[:8], "expression": labels.reshape(-1)[:8]},
                        sample_weight={"va": w.reshape(-1)[:8], "expression": np.ones(8, np.float32)},
                        batch_size=8, epochs=1, shuffle=False, verbose=0)
    out["fit_loss"] = float(history.history["loss"][0])
    out["weights_after_step"] = np.concatenate([v.reshape(-1) for v in model.get_weights()]).tolist()
    return out


if __name__ == "__main__":
    print(json.dumps(compute()))

"""The models build and run under KERAS_BACKEND=jax (the accelerator machines have JAX, not TF).

The backend is fixed when Keras is imported, so each check runs in a subprocess. Under JAX on CPU
every new weight shape and op compiles once, so building is slow (about 10 s per tiny model here):
the default test covers the layers the family adds (time folding, scaling, GRU and the peephole
LSTM) on one tiny AffWildNet; the whole registry plus a training step is a large test.
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")

SCRIPT = r"""
import json
import sys
import keras
import numpy as np
from tfaffect.models import build_model, example_inputs, model_names

everything = sys.argv[1] == "all"
result = {"backend": keras.backend.backend(), "shapes": {}}
names = model_names() if everything else ["affwildnet_vggface_lstm"]
for name in names:
    model = build_model(name, tiny=True)
    inputs = example_inputs(model, batch_size=2, time_steps=3)
    outputs = model(inputs, training=False)
    out = keras.ops.convert_to_numpy(outputs["va"] if "va" in outputs else outputs["expression"])
    result["shapes"][name] = [list(out.shape), bool(np.isfinite(out).all())]
if everything:
    keras.utils.set_random_seed(0)
    model = build_model("affwildnet_vggface_gru", tiny=True, landmarks=True)
    inputs = example_inputs(model, batch_size=2, time_steps=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss={"va": "mse"})
    history = model.fit(inputs, {"va": np.zeros((2, 4, 2), np.float32)}, epochs=1, verbose=0)
    result["fit_loss"] = float(history.history["loss"][0])
print("RESULT " + json.dumps(result))
"""


def _run_under_jax(mode, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
           "KERAS_HOME": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-c", SCRIPT, mode], env=env, cwd=tmp_path, capture_output=True,
                               text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["backend"] == "jax"
    for name, (shape, finite) in result["shapes"].items():
        assert finite, name
        assert shape in ([2, 2], [2, 3, 2], [2, 7], [2, 3, 7]), (name, shape)  # va, or expression
    return result


def test_affwildnet_runs_under_jax(tmp_path):
    result = _run_under_jax("one", tmp_path)
    assert result["shapes"] == {"affwildnet_vggface_lstm": [[2, 3, 2], True]}


@pytest.mark.large
def test_every_registered_model_runs_and_trains_under_jax(tmp_path):
    from tfaffect.models import model_names

    result = _run_under_jax("all", tmp_path)
    assert set(result["shapes"]) == set(model_names())
    assert abs(result["fit_loss"]) < float("inf")

"""The metrics and losses use keras.ops only: under KERAS_BACKEND=jax they give what TensorFlow gives."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

HELPER = Path(__file__).with_name("backend_check.py")


def run_helper(backend, tmp_path):
    """Runs tests/backend_check.py in a fresh interpreter with the given Keras backend."""
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
           "KERAS_HOME": str(tmp_path / "keras_home"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(HELPER)], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{backend} run failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_jax_backend_matches_tensorflow(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not importable, so the JAX backend cannot be checked")
    jax_values = run_helper("jax", tmp_path)
    if keras.backend.backend() == "tensorflow":
        spec = importlib.util.spec_from_file_location("backend_check", HELPER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tf_values = module.compute()
    else:
        tf_values = run_helper("tensorflow", tmp_path)
    assert jax_values.pop("backend") == "jax"
    assert tf_values.pop("backend") == "tensorflow"
    assert jax_values.keys() == tf_values.keys()
    for name, value in tf_values.items():
        np.testing.assert_allclose(jax_values[name], value, rtol=1e-5, atol=1e-5, err_msg=name)
    # the inputs are not degenerate: the comparison is between real numbers
    assert 0.1 < tf_values["stream_ccc_ccc"] < 0.99 and tf_values["stream_cross_entropy_expression_f1"] > 0

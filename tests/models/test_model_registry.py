"""Registry-driven tests: every registered model is built tiny, run, and round-tripped through .keras files."""

import keras
import numpy as np
import pytest

from tfaffect.errors import ConfigError
from tfaffect.models import MODELS, build_model, example_inputs, model_names, register_model

BATCH, TIME = 2, 3


OUTPUT_WIDTHS = {"va": 2, "expression": 7, "va_aux": 5}
"""Last-axis width of each output key a model may have (data contract; va_aux: Do 2020's 5-vector)."""


def _expected_shapes(model):
    """{output: shape}: [B, width] for frame models (image rank 4), [B, T, width] for sequence models (rank 5)."""
    lead = (BATCH,) if len(model.input["image"].shape) == 4 else (BATCH, TIME)
    return {key: lead + (OUTPUT_WIDTHS[key],) for key in model.output}


@pytest.mark.parametrize("name", model_names())
def test_tiny_forward_and_keras_file_round_trip(name, tmp_path):
    model = build_model(name, tiny=True)
    inputs = example_inputs(model, BATCH, TIME)
    assert inputs["image"].dtype == np.uint8
    outputs = {key: keras.ops.convert_to_numpy(value) for key, value in model(inputs, training=False).items()}
    assert {key: value.shape for key, value in outputs.items()} == _expected_shapes(model)
    assert {"va", "expression"} & set(outputs)
    assert all(np.all(np.isfinite(value)) for value in outputs.values())

    path = tmp_path / f"{name}.keras"
    keras.saving.save_model(model, path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    restored_outputs = restored(inputs, training=False)
    for key, value in outputs.items():
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored_outputs[key]), value, err_msg=key)


def test_registry_has_the_kollias_2019_models():
    assert {"cnn_m", "vgg16_cnn", "vggface_cnn", "resnet50_cnn", "affwildnet_vggface_gru",
            "affwildnet_vggface_lstm", "affwildnet_resnet50_gru"} <= set(model_names())
    assert all(entry.description for entry in MODELS.values())


def test_overrides_win_over_tiny_config():
    model = build_model("affwildnet_vggface_gru", tiny=True, units=5, num_layers=1)
    config = model.get_config()
    assert (config["units"], config["num_layers"], config["image_size"]) == (5, 1, 32)


def test_unknown_name_and_duplicate_registration_raise_config_error():
    with pytest.raises(ConfigError, match="affwildnet_vggface_gru"):
        build_model("no_such_model")
    with pytest.raises(ConfigError, match="already registered"):
        register_model("cnn_m", tiny={})(lambda **kwargs: None)


def test_example_inputs_follow_the_input_spec():
    model = build_model("affwildnet_vggface_gru", tiny=True, landmarks=True)
    inputs = example_inputs(model, batch_size=4, time_steps=5)
    assert inputs["image"].shape == (4, 5, 32, 32, 3) and inputs["image"].dtype == np.uint8
    assert inputs["landmarks"].shape == (4, 5, 68, 2) and inputs["landmarks"].dtype == np.float32


def test_import_families_imports_every_models_module_and_each_family_registers_itself():
    import pkgutil
    import sys

    import tfaffect.models
    from tfaffect.models import import_families

    import_families()
    import_families()  # idempotent
    modules = {f"tfaffect.models.{m.name}" for m in pkgutil.iter_modules(tfaffect.models.__path__)}
    assert {"tfaffect.models.affwild", "tfaffect.models.cnn_m", "tfaffect.models.stat_lstm"} <= modules
    assert modules <= set(sys.modules)
    homes = {entry.builder.__module__ for entry in MODELS.values()}
    assert homes == {"tfaffect.models.affwild", "tfaffect.models.cnn_m", "tfaffect.models.mmnet",
                     "tfaffect.models.stat_lstm"}

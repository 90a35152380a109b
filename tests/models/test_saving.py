"""tfaffect.models.saving.load_model: a .keras file loads whatever the caller imported before (every family's
classes are registered first), and a file that cannot be loaded is a typed error naming it."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tfaffect.errors import DataError, MissingResourceError
from tfaffect.models import build_model, example_inputs
from tfaffect.models.saving import load_model

FRESH_PROCESS = textwrap.dedent("""
    import sys
    import numpy as np
    from tfaffect.models.saving import load_model
    folder = sys.argv[1]
    model = load_model(folder + "/model.keras")
    out = model({"image": np.load(folder + "/image.npy")}, training=False)
    print(type(model).__name__)
    np.testing.assert_allclose(np.asarray(out["va"]), np.load(folder + "/va.npy"), rtol=0, atol=1e-6)
""")


def test_a_windowed_model_loads_in_a_process_that_imported_only_the_loader(tmp_path):
    model = build_model("stat_lstm_model6", tiny=True)
    inputs = example_inputs(model, batch_size=1, time_steps=4)
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "image.npy", inputs["image"])
    np.save(tmp_path / "va.npy", keras.ops.convert_to_numpy(model(inputs, training=False)["va"]))
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [type(model).__name__]


def test_a_file_that_is_not_a_model_is_a_typed_error_naming_it(tmp_path):
    with pytest.raises(MissingResourceError, match="no such model file"):
        load_model(tmp_path / "missing.keras")
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip archive")
    with pytest.raises(DataError, match="not a .keras archive") as error:
        load_model(garbage)
    assert str(garbage) in str(error.value)


def test_loading_skips_the_he_redraw_of_vgg_kernels_that_the_file_overwrites(tmp_path, monkeypatch):
    """A fresh VGG conv part draws its kernels He-normal (backbones.he_initialise_convs); a loaded model's come from
    its file, so loading does not draw them (start-up of tfaffect predict) and gives the saved weights exactly."""
    from tfaffect.models import backbones

    redraws = []
    original = backbones.he_initialise_convs
    monkeypatch.setattr(backbones, "he_initialise_convs", lambda model: (redraws.append(model.name), original(model)))
    model = build_model("affwildnet_vggface_gru", tiny=True, landmarks=False)
    assert redraws == ["vggface"]
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    assert redraws == ["vggface"] and not backbones.LOADING_SAVED.get()
    for saved, got in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(saved))
    build_model("affwildnet_vggface_gru", tiny=True, landmarks=False)  # a model built after a load draws again
    assert redraws == ["vggface", "vggface"]

"""Recipe base: command-line overrides, validation, smoke switch, serialisation, derived values.

Expected learning rates are derived by hand from the schedule definitions in the docstrings.
"""

import dataclasses
import json
import math

import keras
import numpy as np
import pytest

from tfaffect.errors import ConfigError
from tfaffect.training import LinearWarmup, Recipe, hparam
from tfaffect.training.options import argument_parser
from tfaffect.training.schedules import learning_rate
from tiny_recipe import TinyRecipe


def test_overrides_are_parsed_with_field_types():
    r = TinyRecipe.from_args([
        "--epochs", "3", "--learning_rate=0.5", "--lr-schedule", "piecewise",
        "--lr-boundaries", "1", "2.5", "--lr-values", "0.1", "1e-3", "--no-deterministic",
        "--max-steps-per-epoch", "5", "--max_validation_steps", "none", "--data", "some/dir",
        "--dropout", "0", "--monitor-mode", "max"])
    assert r.epochs == 3 and type(r.epochs) is int
    assert r.learning_rate == 0.5 and type(r.learning_rate) is float
    assert r.lr_schedule == "piecewise"
    assert r.lr_boundaries == (1.0, 2.5) and r.lr_values == (0.1, 0.001)
    assert r.deterministic is False
    assert r.max_steps_per_epoch == 5 and r.max_validation_steps is None
    assert r.data == "some/dir"
    assert r.dropout == 0.0 and type(r.dropout) is float
    assert r.monitor_mode == "max"
    # untouched fields keep the class defaults
    assert r.batch_size == 8 and r.smoke is False


def test_no_arguments_gives_the_defaults():
    assert TinyRecipe.from_args([]) == TinyRecipe()


@pytest.mark.parametrize("argv, expected", [
    (["--epoch", "3"], "unknown option --epoch (did you mean --epochs?)"),
    (["--learning-rat=0.1"], "unknown option --learning-rat (did you mean --learning-rate?)"),
    (["stray"], "unexpected argument 'stray'"),
    (["--epochs", "three"], "argument --epochs: invalid int value: 'three'"),
    (["--lr-schedule", "cosine"], "invalid choice: 'cosine'"),
    (["--max-steps-per-epoch", "many"], "invalid int value: 'many'"),
])
def test_bad_overrides_raise_config_error(argv, expected):
    with pytest.raises(ConfigError) as info:
        TinyRecipe.from_args(argv)
    assert expected in str(info.value)


@pytest.mark.parametrize("kwargs, expected", [
    ({"epochs": 0}, "TinyRecipe.epochs = 0: must be >= 1"),
    ({"batch_size": -2}, "TinyRecipe.batch_size = -2: must be >= 1"),
    ({"learning_rate": 0.0}, "learning_rate = 0.0: must be > 0"),
    ({"epochs": "3"}, "TinyRecipe.epochs = '3': expected int"),
    ({"deterministic": 1}, "expected bool"),
    ({"lr_schedule": "cosine"}, "expected one of 'constant', 'exponential', 'piecewise'"),
    ({"lr_schedule": "piecewise", "lr_boundaries": (1,), "lr_values": ()},
     "one lr_values entry per lr_boundaries entry"),
    ({"lr_schedule": "piecewise", "lr_boundaries": (2, 1), "lr_values": (0.1, 0.01)},
     "must be positive and increasing"),
    ({"lr_values": (0.1,)}, "only apply to lr_schedule='piecewise'"),
    ({"lr_schedule": "exponential", "lr_decay_rate": 1.5}, "lr_decay_rate = 1.5: must be in (0, 1]"),
    ({"max_steps_per_epoch": 0}, "max_steps_per_epoch = 0: must be >= 1"),
    ({"dropout": 1.0}, "TinyRecipe.dropout = 1.0: must be in [0, 1)"),  # the subclass's own check
])
def test_validate_rejects_bad_values(kwargs, expected):
    with pytest.raises(ConfigError) as info:
        TinyRecipe(**kwargs)
    assert expected in str(info.value)


def test_validate_can_be_called_again_and_passes_for_defaults():
    TinyRecipe().validate()


def test_python_values_are_coerced():
    r = TinyRecipe(learning_rate=1, lr_schedule="piecewise", lr_boundaries=[1, 2], lr_values=[1, 0.5])
    assert type(r.learning_rate) is float
    assert r.lr_boundaries == (1.0, 2.0) and type(r.lr_boundaries) is tuple
    assert all(type(v) is float for v in r.lr_values)


def test_smoke_shrinks_the_run_but_explicit_options_win():
    r = TinyRecipe.from_args(["--smoke"])
    assert (r.smoke, r.epochs, r.max_steps_per_epoch, r.max_validation_steps) == (True, 1, 2, 2)
    r = TinyRecipe.from_args(["--smoke", "--epochs", "3"])
    assert (r.smoke, r.epochs, r.max_steps_per_epoch) == (True, 3, 2)


def test_json_round_trip():
    r = TinyRecipe.from_args(["--lr-schedule", "piecewise", "--lr-boundaries", "1", "--lr-values",
                              "0.001", "--max-steps-per-epoch", "3"])
    text = r.to_json()
    assert json.loads(text)["lr_boundaries"] == [1.0]
    assert TinyRecipe.from_dict(json.loads(text)) == r
    with pytest.raises(ConfigError, match="unknown field"):
        TinyRecipe.from_dict({**json.loads(text), "not_a_field": 1})


def test_help_shows_defaults_citations_and_run_options(capsys):
    with pytest.raises(SystemExit) as info:
        TinyRecipe.from_args(["--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    assert "--epochs INT test fixture: 4 epochs so a crash after epoch 2 leaves 2 to run (default: 4)" in out
    assert "--lr-schedule {constant,exponential,piecewise}" in out
    assert "--max-steps-per-epoch INT|none" in out
    assert "--deterministic, --no-deterministic" in out
    assert "--run-dir DIR" in out and "--print-config" in out
    assert "Tiny test recipe: MLP on 8x8 images" in out  # the class docstring


def test_undecorated_subclass_is_refused():
    class Undecorated(TinyRecipe):
        epochs: int = hparam(7, "never becomes a field")

    with pytest.raises(ConfigError, match="must be decorated"):
        Undecorated()


def test_field_type_without_cli_form_is_refused():
    @dataclasses.dataclass(frozen=True)
    class WithDict(TinyRecipe):
        table_of_things: dict = dataclasses.field(default=None)

    with pytest.raises(TypeError, match="table_of_things"):
        argument_parser(WithDict)


def test_steps_per_epoch_is_derived():
    assert TinyRecipe().steps_per_epoch(5) == 5
    assert TinyRecipe(max_steps_per_epoch=2).steps_per_epoch(5) == 2
    assert TinyRecipe().steps_per_epoch(None) is None

    @dataclasses.dataclass(frozen=True)
    class Counted(TinyRecipe):
        def train_examples(self):
            return 41

    assert Counted().steps_per_epoch(None) == math.ceil(41 / 8) == 6
    assert Counted(max_steps_per_epoch=4).steps_per_epoch(None) == 4


def _rates(schedule, steps):
    return [float(keras.ops.convert_to_numpy(schedule(s))) for s in steps]


def test_exponential_schedule_values():
    r = TinyRecipe(learning_rate=0.1, lr_schedule="exponential", lr_decay_rate=0.5, lr_decay_epochs=1)
    assert r.decay_steps(2) == 2
    np.testing.assert_allclose(_rates(learning_rate(r, 2), range(5)),
                               [0.1, 0.1, 0.05, 0.05, 0.025], rtol=1e-6)
    smooth = dataclasses.replace(r, lr_staircase=False)
    np.testing.assert_allclose(_rates(learning_rate(smooth, 2), [1]), [0.1 * 0.5 ** 0.5], rtol=1e-6)


def test_piecewise_schedule_changes_at_the_first_step_of_the_next_epoch():
    r = TinyRecipe(learning_rate=0.1, lr_schedule="piecewise", lr_boundaries=(1, 2), lr_values=(0.01, 0.001))
    assert r.lr_boundary_steps(4) == [3, 7]
    np.testing.assert_allclose(_rates(learning_rate(r, 4), range(10)),
                               [0.1] * 4 + [0.01] * 4 + [0.001] * 2, rtol=1e-6)


def test_piecewise_schedule_in_keras_fit_uses_each_rate_for_whole_epochs():
    """SGD on loss = w * x with x = 1: every step lowers w by exactly that step's rate."""
    r = TinyRecipe(learning_rate=0.1, lr_schedule="piecewise", lr_boundaries=(1,), lr_values=(0.01,))
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False,
                                                                    kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(learning_rate(r, 4)), loss=lambda y, p: p)
    model.fit(np.ones((4, 1), "float32"), np.zeros((4, 1), "float32"), batch_size=1, epochs=2,
              shuffle=False, verbose=0)
    # epoch 1: 4 steps at 0.1, epoch 2: 4 steps at 0.01
    assert float(model.get_weights()[0][0, 0]) == pytest.approx(-(4 * 0.1 + 4 * 0.01), abs=1e-6)


def test_warmup_scales_the_schedule_linearly():
    r = TinyRecipe(learning_rate=0.1, warmup_epochs=0.5)
    schedule = learning_rate(r, 8)
    assert r.warmup_steps(8) == 4
    np.testing.assert_allclose(_rates(schedule, [0, 1, 3, 4, 20]), [0.025, 0.05, 0.1, 0.1, 0.1], rtol=1e-6)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, LinearWarmup)
    np.testing.assert_allclose(_rates(restored, [0, 1, 3]), [0.025, 0.05, 0.1], rtol=1e-6)


def test_warmup_wraps_a_decay_schedule():
    r = TinyRecipe(learning_rate=0.1, lr_schedule="exponential", lr_decay_rate=0.5, warmup_epochs=1)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(learning_rate(r, 2)))
    # steps 0, 1 warm up (1/2, 2/2 of 0.1); step 2 is in the second decay period (0.05)
    np.testing.assert_allclose(_rates(restored, [0, 1, 2]), [0.05, 0.1, 0.05], rtol=1e-6)


def test_constant_rate_is_a_plain_float_and_schedules_need_steps():
    assert learning_rate(TinyRecipe(learning_rate=0.02), None) == 0.02
    with pytest.raises(ConfigError, match="need the steps per epoch"):
        learning_rate(TinyRecipe(lr_schedule="exponential"), None)


def test_derived_values_for_config_json():
    r = TinyRecipe(lr_schedule="piecewise", lr_boundaries=(1, 3), lr_values=(0.1, 0.01), warmup_epochs=0.5)
    derived = r.derived(10)
    assert {k: derived[k] for k in ("steps_per_epoch", "lr_boundary_steps", "warmup_steps")} == {
        "steps_per_epoch": 10, "lr_boundary_steps": [9, 29], "warmup_steps": 5}
    assert set(derived["deviations"]) == {"lr_schedule", "lr_boundaries", "lr_values", "warmup_epochs"}


def test_rows_apply_their_values_unless_given_explicitly():
    @dataclasses.dataclass(frozen=True)
    class Grid(TinyRecipe):
        rows = {"small": {"hidden_units": 4}, "large": {"hidden_units": 64, "dropout": 0.5}}

    assert Grid.from_args([]).row == "small" and Grid.from_args([]).hidden_units == 4
    large = Grid.from_args(["--row", "large", "--dropout", "0.1"])
    assert (large.hidden_units, large.dropout) == (64, 0.1)  # explicit option wins over the row
    # relative to the row; TinyRecipe's dropout help cites no paper: a chosen value
    assert large.deviations() == {"dropout": {"published": 0.5, "used": 0.1, "source": "chosen (paper silent)"}}
    with pytest.raises(ConfigError, match="choose one of 'small', 'large'"):
        Grid.from_args(["--row", "medium"])
    with pytest.raises(ConfigError, match="--row does not apply"):
        TinyRecipe.from_args(["--row", "small"])


def test_recipe_name_comes_from_the_class_attribute_or_the_file():
    assert TinyRecipe.recipe_name() == "tiny"

    @dataclasses.dataclass(frozen=True)
    class Unnamed(TinyRecipe):
        pass

    assert Unnamed.recipe_name() == "test_training_recipe"  # the stem of this file


def test_base_class_is_abstract():
    with pytest.raises(TypeError):
        Recipe()


@pytest.mark.parametrize("help_text, source, expected", [
    ("dropout probability (section 4.2.1)", None, "paper"),
    ("recurrent layers (Table 8, Table 14: 2 best)", None, "paper"),
    ("frames per sequence: 80 in the released code (FORMATS.md); the paper does not fix it", None, "released code"),
    ("not given by the paper; one pass over the training set", None, "chosen (paper silent)"),
    ("cap on training steps per epoch (none = the whole training set)", None, "chosen (paper silent)"),
    ("'SGD, Adam optimizer' (section III.A); which for which row is not said", None, "chosen (paper silent)"),
    ("max min mean per section II.C's text; none as the released models 4 and 6", "paper", "paper"),
])
def test_a_fields_source_is_given_or_read_from_its_help(help_text, source, expected):
    from tfaffect.training.fields import value_source

    @dataclasses.dataclass
    class Holder:
        value: int = hparam(1, help_text, source=source)

    assert value_source(dataclasses.fields(Holder)[0]) == expected


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError, match="choose one of paper, released code"):
        hparam(1, "x", source="folklore")

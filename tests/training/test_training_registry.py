"""Recipe discovery, ``tfaffect recipes`` and ``tfaffect train`` (recipes in a tmp folder)."""

import json
import shutil
from pathlib import Path

import pytest

from tfaffect import cli
from tfaffect.errors import ConfigError
from tfaffect.training import registry

TINY = Path(__file__).with_name("tiny_recipe.py")

VARIANTS = '''\
"""Two variants of the tiny recipe in one file; the imported TinyRecipe is not registered again."""
import dataclasses

from tfaffect.training import hparam
from tiny_recipe import TinyRecipe


@dataclasses.dataclass(frozen=True)
class Alpha(TinyRecipe):
    name = "alpha"
    paper = "Alpha et al. 2001"
    table = "Table 2, row 1"
    hidden_units: int = hparam(4, "Alpha 2001, Table 2")


@dataclasses.dataclass(frozen=True)
class Beta(TinyRecipe):
    name = "beta"
    paper = ""  # unknown: the table shows "?"
'''


@pytest.fixture
def recipes(tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    shutil.copy(TINY, folder / "tiny_recipe.py")
    (folder / "variants.py").write_text(VARIANTS)
    (folder / "_helpers.py").write_text("raise RuntimeError('helpers are not imported')\n")
    (folder / "notes.py").write_text("NOTE = 'no recipe here'\n")
    (folder / "README.md").write_text("not python\n")
    return folder


def test_discover_finds_every_recipe_class(recipes):
    found = registry.discover(recipes)
    assert sorted(found) == ["alpha", "beta", "tiny"]
    assert found["alpha"].paper == "Alpha et al. 2001"
    assert found["alpha"]().hidden_units == 4
    assert found["tiny"].source_file() == (recipes / "tiny_recipe.py").resolve()


def test_find_by_name_or_path(recipes):
    assert registry.find("beta", recipes).recipe_name() == "beta"
    assert registry.find(str(recipes / "tiny_recipe.py")).recipe_name() == "tiny"
    with pytest.raises(ConfigError, match=r"unknown recipe 'gamma' .*known: alpha, beta, tiny"):
        registry.find("gamma", recipes)
    with pytest.raises(ConfigError, match="defines 2 recipes"):
        registry.find(str(recipes / "variants.py"))


def test_duplicate_names_and_broken_files_are_reported(recipes):
    (recipes / "again.py").write_text(VARIANTS.replace('name = "beta"', 'name = "tiny"'))
    with pytest.raises(ConfigError, match="recipe name 'tiny' is also used by"):
        registry.discover(recipes)
    (recipes / "again.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(ConfigError, match=r"again\.py: importing the recipe failed: ModuleNotFoundError"):
        registry.discover(recipes)


def test_absent_folder_raises_and_empty_folder_is_empty(tmp_path):
    with pytest.raises(ConfigError, match="no recipes folder at .*pass --recipes-dir DIR or set"):
        registry.discover(tmp_path / "missing")
    assert registry.discover(tmp_path) == {}


def test_recipes_dir_default_env_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    assert registry.recipes_dir() == Path(registry.__file__).resolve().parents[2] / "recipes"  # a checkout
    monkeypatch.setenv(registry.ENV_VAR, str(tmp_path))
    assert registry.recipes_dir() == tmp_path
    assert registry.recipes_dir("elsewhere") == Path("elsewhere")
    # an installed wheel: tfaffect/recipes beside the package wins over a folder of that name above it
    monkeypatch.delenv(registry.ENV_VAR)
    packaged = tmp_path / "site-packages" / "tfaffect" / "recipes"
    packaged.mkdir(parents=True)
    monkeypatch.setattr(registry, "packaged_recipes_dir", lambda: packaged)
    assert registry.recipes_dir() == packaged


def test_tfaffect_recipes_prints_the_table(recipes, capsys, monkeypatch):
    monkeypatch.chdir(recipes.parent)
    assert cli.main(["recipes", "--recipes-dir", str(recipes)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "PAPER", "TABLE/ROW", "RUNTIME"]
    assert max(len(line) for line in lines) <= registry.TABLE_WIDTH
    entries = [line for line in lines[1:] if line and not line.startswith(" ")]
    assert [line.split()[0] for line in entries[:3]] == ["alpha", "beta", "tiny"]
    assert entries[0].split("  ")[0:1] == ["alpha"] and "Alpha et al. 2001" in entries[0]
    assert "Table 2, row 1" in entries[0]
    # beta blanks its paper and inherits TinyRecipe's table and runtime
    assert " ? " in entries[1]
    assert "run one: tfaffect train NAME" in out and "e.g. python recipes/variants.py --smoke" in out
    # $TFAFFECT_RECIPES is used when no folder is passed
    monkeypatch.setenv(registry.ENV_VAR, str(recipes))
    assert cli.main(["recipes"]) == 0
    assert capsys.readouterr().out == out


def test_recipes_table_fits_100_columns_and_shows_runtimes():
    """Issue #14: `tfaffect recipes` printed ~230-character lines and no runtime."""
    found = registry.discover()
    text = registry.format_table(found)
    assert max(len(line) for line in text.splitlines()) <= 100
    flagship = next(line for line in text.splitlines() if line.startswith("affwildnet "))
    assert "RUNTIME" in text.splitlines()[0]
    assert found["affwildnet"].runtime.split(" (")[0] in flagship  # its measured runtime, e.g. "9 min measured"
    assert registry.short_paper("Kollias et al. 2019, IJCV (Aff-Wild)") == "Kollias et al. 2019"


def test_tfaffect_recipes_with_empty_or_absent_folder(tmp_path, capsys):
    assert cli.main(["recipes", "--recipes-dir", str(tmp_path)]) == 0
    assert f"no recipes in {tmp_path}" in capsys.readouterr().out
    assert cli.main(["recipes", "--recipes-dir", str(tmp_path / "missing")]) == 1
    assert "no recipes folder at" in capsys.readouterr().err


def test_tfaffect_train_passes_overrides_to_the_recipe(recipes, capsys):
    assert cli.main(["train", "--recipes-dir", str(recipes), "alpha", "--print-config",
                     "--epochs", "2", "--lr_schedule", "exponential"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["epochs"], config["lr_schedule"], config["hidden_units"]) == (2, "exponential", 4)


def test_tfaffect_train_errors(recipes, capsys):
    assert cli.main(["train", "--recipes-dir", str(recipes), "gamma"]) == 2
    assert "unknown recipe 'gamma'" in capsys.readouterr().err
    assert cli.main(["train", "--recipes-dir", str(recipes), "tiny", "--epoch", "2"]) == 2
    assert "unknown option --epoch (did you mean --epochs?)" in capsys.readouterr().err


def test_tfaffect_train_runs_a_smoke_training(recipes, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert cli.main(["train", "--recipes-dir", str(recipes), "tiny", "--smoke", "--no-deterministic",
                     "--run-dir", str(run_dir)]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["recipe"] == "tiny"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["fields"]["smoke"] is True and config["derived"]["steps_per_epoch"] == 2
    assert '"best_epoch": 1' in capsys.readouterr().out  # the summary printed at the end

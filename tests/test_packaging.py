"""Installed like any package (issue #14 item 10): a wheel built from the repository carries the recipes, and an
installed tfaffect finds them (``tfaffect recipes``, ``tfaffect train NAME``) without a source checkout.

The wheel is built with pip (``pip wheel . --no-deps``; pip fetches the build backend, setuptools, from the
package index, so the test is skipped where that is unreachable and no copy is cached). The installed layout is
checked by unpacking the wheel (a wheel is a zip of the installed files) and importing tfaffect from there in a
fresh process whose working folder is outside the repository. The full install into a fresh virtual
environment, with a smoke training and a prediction, is the manual check in the issue's report.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


SOURCES = ("pyproject.toml", "setup.py", "README.md", "tfaffect", "recipes")
"""What the build reads; copied to a temporary folder so that setuptools' build/ and egg-info stay out of the tree."""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet",
                             "--disable-pip-version-check", "-w", str(out)], capture_output=True, text=True,
                            timeout=300, cwd=out)
    if result.returncode != 0:
        text = result.stderr + result.stdout
        if any(hint in text for hint in ("Could not find a version", "Failed to establish", "No matching distribution",
                                          "Temporary failure in name resolution", "NewConnectionError")):
            pytest.skip(f"pip cannot fetch the build backend (no package index?): {text.strip().splitlines()[-1]}")
        raise AssertionError(f"pip wheel failed:\n{text[-3000:]}")
    (path,) = out.glob("tfaffect-*.whl")
    return path


def test_the_wheel_carries_every_recipe(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    recipes = sorted(p.name for p in (REPO / "recipes").glob("*.py"))
    assert recipes and all(f"tfaffect/recipes/{name}" in names for name in recipes), recipes
    assert "tfaffect/cli.py" in names and "tfaffect/data/faces.py" in names
    assert "tfaffect/export/signatures.py" in names and "tfaffect/models/saving.py" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "recipes/"))]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "Provides-Extra: parquet" in zipfile.ZipFile(wheel).read(metadata).decode()


def test_an_installed_tfaffect_finds_its_recipes(wheel, tmp_path):
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"  # not the checkout: no recipes/ folder above the package
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TFAFFECT_RECIPES", None)
    code = ("import json, tfaffect\n"
            "from tfaffect.training import registry\n"
            "found = registry.discover()\n"
            "print(json.dumps({'package': tfaffect.__file__, 'folder': str(registry.recipes_dir()),\n"
            "                  'names': sorted(found),\n"
            "                  'files': sorted({str(c.source_file()) for c in found.values()})}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=elsewhere, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["package"]).parent == site / "tfaffect"
    assert Path(report["folder"]) == site / "tfaffect" / "recipes"
    assert all(Path(f).parent == site / "tfaffect" / "recipes" for f in report["files"])
    assert "affwildnet" in report["names"] and "stat_lstm" in report["names"]
    listed = subprocess.run([sys.executable, "-m", "tfaffect", "recipes"], capture_output=True, text=True,
                            cwd=elsewhere, env=env, timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "affwildnet " in listed.stdout and "e.g. tfaffect train affwild_cnn --smoke" in listed.stdout

"""Packaging metadata lives in pyproject.toml; this file only lists the packages (see the comment there).

tfaffect.recipes is the repository's recipes/ folder (``package-dir`` in pyproject.toml): installed wheels carry
the recipes, while a checkout keeps running them as ``python recipes/NAME.py``.
"""
from setuptools import find_packages, setup

setup(packages=sorted(find_packages(include=["tfaffect", "tfaffect.*"])) + ["tfaffect.recipes"])

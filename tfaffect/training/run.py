"""``tfaffect train NAME [overrides...]``: the same as ``python recipes/NAME.py [overrides...]``.

``NAME`` is a recipe name from ``tfaffect recipes`` or a path to a recipe file. Everything after it
goes to the recipe's own parser (``tfaffect train NAME --help`` lists the fields), so options of this
command (``--recipes-dir``) come before ``NAME``.
"""

from __future__ import annotations

import argparse
import sys

from tfaffect.errors import ConfigError
from tfaffect.training import registry


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes-dir", default=None, metavar="DIR",
                        help=f"folder of recipe files (default: ${registry.ENV_VAR}, else the recipes an "
                             f"installed tfaffect carries, else recipes/ in the source checkout)")
    parser.add_argument("recipe", metavar="NAME",
                        help="recipe name (see `tfaffect recipes`) or path to a recipe .py file")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, metavar="...",
                        help="field overrides and run options, e.g. --epochs 3 --smoke --run-dir DIR; "
                             "`tfaffect train NAME --help` lists the recipe's fields with their published "
                             "values and those a SynthAffect run uses")


def cli_main(args: argparse.Namespace) -> int:
    try:
        cls = registry.find(args.recipe, args.recipes_dir)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from tfaffect.training.runner import run_cli  # loads Keras: not for `tfaffect train --help`

    return run_cli(cls, args.overrides, prog=f"tfaffect train {cls.recipe_name()}")

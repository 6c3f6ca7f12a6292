"""``--recipe``: a dataset's rules fill the options not given on the command line, each setting
checked against the type of value its option takes."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from collector.cli.arguments import int_list, json_object
from shared.cli import storage_options_arg

__all__ = ["apply_recipe", "command_parsers", "option_dests"]


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action._name_parser_map)
    return {}


def option_dests(parser: argparse.ArgumentParser) -> set[str]:
    return {a.dest for a in parser._actions if a.option_strings}


def _kind(action: argparse.Action) -> Any:
    """The type of value an option takes, for checking recipe settings."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return bool
    return {
        int: int,
        float: float,
        int_list: tuple[int, ...],
        json_object: dict[str, Any],
        storage_options_arg: dict[str, Any],
    }.get(action.type, str)


def apply_recipe(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str], known: set[str]
) -> dict | None:
    """Fill this command's options not given on the command line from ``--recipe`` (validated
    against ``known``, every setting ``collect`` accepts); returns the recipe's record."""
    if not getattr(args, "recipe", None):
        return None
    from collector.plan.recipes import check_setting_types, load_recipe

    mine = option_dests(parser)
    given = {
        a.dest
        for a in parser._actions
        for opt in a.option_strings
        if any(arg == opt or arg.startswith(opt + "=") for arg in argv)
    }
    recipe = load_recipe(args.recipe, known)
    check_setting_types(recipe, {a.dest: _kind(a) for a in parser._actions if a.dest in mine})
    for key, value in recipe.settings.items():
        if key in mine and key not in given:
            setattr(args, key, tuple(value) if isinstance(value, list) else value)
    resolved = {k: getattr(args, k) for k in recipe.settings if k in mine}
    return recipe.record({k: list(v) if isinstance(v, tuple) else v for k, v in resolved.items()})

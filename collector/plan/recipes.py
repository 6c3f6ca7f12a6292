"""Recipes: the collection rules of published datasets, as small reviewed TOML files.

``datasets/recipes/<name>.toml`` holds a ``[recipe]`` table (title, what it cites, the facts it
carries over, where it deliberately differs) and a ``[collect]`` table of collection settings
named like the ``collect`` command's options. ``--recipe NAME`` (or a path) supplies those
settings; options given on the command line win. The resolved recipe is recorded in the store.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Recipe",
    "RecipeError",
    "load_recipe",
    "check_setting_types",
    "recipe_names",
    "RECIPES_DIR",
]

RECIPES_DIR = Path(__file__).resolve().parents[2] / "datasets" / "recipes"

#: settings a recipe may not carry: credentials and endpoints (a recipe is recorded in the store)
NOT_IN_RECIPES = frozenset({"storage_options"})


class RecipeError(ValueError):
    """A recipe is missing, malformed, or names settings that do not exist."""


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    cites: str
    facts: str
    differences: tuple[str, ...]
    settings: dict[str, Any]

    def record(self, resolved: dict[str, Any]) -> dict[str, Any]:
        """What the store keeps: the recipe's identity and the settings finally used."""
        return {
            "name": self.name,
            "title": self.title,
            "cites": self.cites,
            "differences": list(self.differences),
            "settings": self.settings,
            "resolved": resolved,
        }


def recipe_names() -> list[str]:
    """Names of the recipes shipped in ``datasets/recipes``."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def load_recipe(name_or_path: str, known: set[str]) -> Recipe:
    """Read a recipe by name or path; ``known`` are the setting names it may use."""
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise RecipeError(
            f"recipe {name_or_path!r} not found: use one of {', '.join(recipe_names())} or a .toml path"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"recipe {path} is not valid TOML: {e}") from e
    meta, settings = data.get("recipe", {}), data.get("collect", {})
    if not isinstance(settings, dict) or not settings:
        raise RecipeError(f"recipe {path} has no [collect] table")
    private = sorted(set(settings) & NOT_IN_RECIPES)
    if private:
        raise RecipeError(
            f"recipe {path.stem}: {', '.join(private)} is not a dataset's rule and would be "
            "recorded in the store; pass --storage-options (or the AWS_*/GOOGLE_* environment "
            "variables) instead"
        )
    unknown = sorted(set(settings) - known)
    if unknown:
        raise RecipeError(f"recipe {path.stem}: unknown setting(s) {', '.join(unknown)}")
    return Recipe(
        name=path.stem,
        title=str(meta.get("title", path.stem)),
        cites=str(meta.get("cites", "")),
        facts=str(meta.get("facts", "")),
        differences=tuple(str(d) for d in meta.get("differences", [])),
        settings=dict(settings),
    )


def check_setting_types(recipe: Recipe, kinds: dict[str, Any]) -> None:
    """Check each setting of ``recipe`` named in ``kinds`` against its type there (``int``,
    ``float``, ``str``, ``bool``, ``tuple[int, ...]``, ``dict[str, Any]``): the same checks as
    the configuration classes run (:func:`shared.validate.check_value`); ranges are checked
    there once the settings are resolved.

    Raises:
        ConfigValueError: a setting of the wrong type, named with its recipe.
    """
    from shared.validate import check_value

    for key, value in recipe.settings.items():
        if key in kinds:
            check_value(f"recipe {recipe.name}: {key}", value, kinds[key])

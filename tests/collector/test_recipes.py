"""Recipes resolve, plan offline, run at tiny scale, and lose to the command line."""

from __future__ import annotations

import pytest

from collector.cli import main
from collector.plan.candidates import read_plan
from collector.plan.recipes import RecipeError, load_recipe, recipe_names
from shared.store.handle import open_store
from tests.conftest import collect_args


def test_shipped_recipes():
    assert recipe_names() == ["demo", "seco-100k", "seco-1m", "ssl4eo-s12"]
    seco = load_recipe(
        "seco-100k",
        {
            "n",
            "region",
            "seasons",
            "offsets_months",
            "window_days",
            "bands",
            "granule_cloud_max",
            "clear_threshold",
            "cities",
            "sigma_km",
            "size",
            "reference_start",
            "reference_end",
        },
    )
    assert seco.settings["n"] == 20000 and seco.settings["offsets_months"] == [0, -3, -6, -9, -12]
    assert "ICCV 2021" in seco.cites and any("least cloudy" in d for d in seco.differences)


@pytest.mark.parametrize("name", ["demo", "seco-100k", "seco-1m", "ssl4eo-s12"])
def test_each_recipe_plans_offline_and_runs_tiny(tmp_path, name, capsys):
    assert main(["plan", "--recipe", name, "--n", "24", "--out", str(tmp_path / "plan")]) == 0
    plan, info = read_plan(tmp_path / "plan" / "plan.parquet")
    recipe = load_recipe(name, set(info["recipe"]["settings"]))
    for key in ("seasons", "window_days", "sigma_km", "cities"):
        if key in recipe.settings:
            assert info["config"][key] == recipe.settings[key]
    assert info["recipe"]["name"] == name and info["config"]["n"] == 24
    out = tmp_path / "tiny.zarr"
    argv = collect_args(
        out,
        "--recipe",
        name,
        "--n",
        "8",
        "--size",
        "24",
        "--source",
        "synthetic",
        "--shard-samples",
        "4",
        "--spares",
        "3",
    )
    assert main(argv) == 0, capsys.readouterr().err
    store = open_store(out)
    assert not store.pending_shards()
    record = store.attrs["recipe"]
    assert (
        record["name"] == name and record["resolved"]["n"] == 8 and record["resolved"]["size"] == 24
    )
    assert store.spec.n_seasons == recipe.settings.get("seasons", 4)


def test_command_line_wins_over_the_recipe(tmp_path):
    assert (
        main(
            [
                "plan",
                "--recipe",
                "seco-100k",
                "--n",
                "12",
                "--window-days",
                "10",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    _, info = read_plan(tmp_path / "plan.parquet")
    assert info["config"]["window_days"] == 10 and info["config"]["seasons"] == 5
    assert info["recipe"]["resolved"]["window_days"] == 10
    assert info["recipe"]["settings"]["window_days"] == 15


def test_bad_recipes(tmp_path, capsys):
    assert main(["plan", "--recipe", "nope", "--out", str(tmp_path)]) == 2
    assert "use one of demo, seco-100k" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[collect]\nn = 5\nfoo = 1\n")
    with pytest.raises(RecipeError, match="unknown setting"):
        load_recipe(str(broken), {"n"})
    assert main(["plan", "--out", str(tmp_path)]) == 2
    assert "--n is required" in capsys.readouterr().err


def test_a_recipe_cannot_carry_storage_options(tmp_path, capsys):
    # a recipe is recorded in the store: credentials or endpoints must come from the command
    # line (remembered as secrets, never stored), not from a recipe file
    leaky = tmp_path / "leaky.toml"
    leaky.write_text('[collect]\nn = 4\nstorage_options = {key = "AKIAEXAMPLE"}\n')
    out = tmp_path / "s.zarr"
    code = main(["collect", "--recipe", str(leaky), "--source", "synthetic", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "not a dataset's rule" in err and "AKIAEXAMPLE" not in err
    assert "Traceback" not in err and not out.exists()

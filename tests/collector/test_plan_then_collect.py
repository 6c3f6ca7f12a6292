"""A plan folder is a store in the making: ``collect`` continues from a plan made by ``plan``
with the same settings, refuses one made with others in one line, and ``shared info`` says
what the folder is."""

from __future__ import annotations

import json

import pytest

from collector.cli import main
from shared.cli import main as shared_main

PLAN = ["--region=europe", "--seed", "3", "--size", "36", "--shard-samples", "4", "--n", "8"]
RUN = ["--source", "synthetic", "--no-progress", "--scheduler", "threads", "--workers", "1"]


def test_collect_continues_from_the_plan_folder(tmp_path, capsys):
    out = tmp_path / "eu"
    assert main(["plan", *PLAN, "--out", str(out)]) == 0
    planned = (out / "plan.parquet").read_bytes()
    capsys.readouterr()
    assert shared_main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"plan       {out} (a store in the making: no data yet)")
    assert "8 locations" in text and "python -m collector collect" in text
    assert shared_main(["info", "--json", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "plan" and info["locations"] == 8 and info["config"]["seed"] == 3

    assert main(["collect", *PLAN, *RUN, "--out", str(out)]) == 0
    assert (out / "zarr.json").is_file() and (out / "plan.parquet").read_bytes() == planned
    # collect writes the card as import does, with the README's install line
    from pathlib import Path

    from shared.publish.card import INSTALL

    assert INSTALL in (out / "card.md").read_text()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert 'pip install -e ".[collect,train]"' in readme and "make install" in readme
    capsys.readouterr()
    assert shared_main(["verify", str(out)]) == 0


def test_collect_refuses_a_plan_made_with_other_settings(tmp_path, capsys):
    out = tmp_path / "eu"
    assert main(["plan", *PLAN, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    other = [*PLAN[:-1], "16"]
    assert main(["collect", *other, *RUN, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {out} holds a plan made with other settings (differs in n;")
    assert "\n" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _damaged_plans():
    import pyarrow as pa
    import pyarrow.parquet as pq

    def garbage(path):
        path.write_bytes(b"not a parquet file at all")

    def truncated(path):
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])

    def metadata(text):
        def edit(path):
            table = pq.read_table(path)
            meta = dict(table.schema.metadata)
            meta[b"seco_plan"] = text
            pq.write_table(table.replace_schema_metadata(meta), path)

        return edit

    def drop_column(path):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["transform"]), path)

    def foreign(path):
        pq.write_table(pa.table({"a": [1, 2]}), path)

    return {
        "garbage": (garbage, "is not a readable plan"),
        "truncated": (truncated, "is not a readable plan"),
        "metadata-not-json": (metadata(b"{oops"), "metadata is damaged"),
        "metadata-a-list": (metadata(b"[1, 2]"), "metadata is damaged"),
        "column-missing": (drop_column, "no column transform"),
        "foreign-parquet": (foreign, "is not a SeCo plan"),
    }


DAMAGED = _damaged_plans()


@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_a_damaged_plan_folder_is_refused_in_one_line_and_left_alone(tmp_path, capsys, kind):
    damage, words = DAMAGED[kind]
    out = tmp_path / "eu"
    assert main(["plan", *PLAN, "--out", str(out)]) == 0
    damage(out / "plan.parquet")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["collect", *PLAN, *RUN, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_stores_damaged_plan_is_one_line_and_deleting_it_remakes_it(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert main(["collect", *PLAN, *RUN, "--out", str(out)]) == 0
    planned = (out / "plan.parquet").read_bytes()
    (out / "plan.parquet").write_bytes(planned[:100])
    capsys.readouterr()
    assert main(["collect", *PLAN, *RUN, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "plan.parquet is not a readable plan" in err and "delete it and rerun" in err
    assert "\n" not in err
    (out / "plan.parquet").unlink()
    assert main(["collect", *PLAN, *RUN, "--out", str(out)]) == 0
    assert (out / "plan.parquet").read_bytes() == planned  # the same plan, made again

"""Every row of the source table: the class declares its facts, and the configuration, the
command line and the engine ask them (no name compared)."""

from __future__ import annotations

import dataclasses

import pytest

from collector.config import CollectConfig
from collector.plan.candidates import PlanConfig
from collector.sources import SOURCES, Source, SourceFacts, make_source, source_class, source_facts

#: options a source cannot be built without (offline: nothing is contacted on construction)
NEEDS = {"earthengine": {"project": "test-project"}}


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_source_declares_its_facts_and_the_config_asks_them(name):
    facts = source_facts(name)
    cls = source_class(name)
    assert isinstance(facts, SourceFacts) and cls.name == name
    assert cls.synthetic is facts.synthetic and facts.levels
    assert facts.default_bands == facts.levels[0].lower()
    source = make_source(name, facts.levels[0], ("B4", "B3", "B2"), NEEDS.get(name, {}))
    assert isinstance(source, Source) and source.name == name
    assert source.synthetic is facts.synthetic and source.collection == facts.levels[0]

    plan = PlanConfig(n=4)
    cfg = CollectConfig(plan=plan, source=name, collection=facts.levels[0], bands="rgb")
    for field in dataclasses.fields(facts.runtime):
        assert cfg.runtime(field.name) == getattr(facts.runtime, field.name)
    for level in {"L1C", "L2A"} - set(facts.levels):
        with pytest.raises(ValueError, match=f"SOURCE={name} serves"):
            CollectConfig(plan=plan, source=name, collection=level)
    if not facts.truth:
        with pytest.raises(ValueError, match="--truth needs"):
            CollectConfig(plan=plan, source=name, collection=facts.levels[0], truth=True)
    else:
        assert CollectConfig(plan=plan, source=name, collection=facts.levels[0], truth=True).truth


def test_an_unknown_source_lists_the_table():
    with pytest.raises(ValueError, match="earthengine"):
        source_facts("sentinelhub")

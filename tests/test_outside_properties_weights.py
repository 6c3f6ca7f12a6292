"""Property-based tests of the readers of foreign weights (band scaling, export folders,
``imagenet:`` files) and of edited store attributes, with Hypothesis: a malformed input is
read correctly or refused with the reader's typed one-line error (see
``tests/test_outside_properties.py``)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import OutsideFileError
from tests.outside_strategies import JSONISH, SETTINGS, WRONG, Quiet, mutations, one_line

# -- weights: band scaling, export config.json, imagenet: files ------------------------------------------

_GOOD_SCALING = {
    "bands": ["B4", "B3", "B2"],
    "p2": [1, 2, 3],
    "p98": [9, 9, 9],
    "mean": [5, 5, 5],
    "std": [1, 1, 1],
}


@st.composite
def _broken_mapping(draw, good: dict) -> dict:
    """``good`` with some keys deleted, given wrong values, or their lists shortened."""
    out = json.loads(json.dumps(good))
    for key in draw(st.lists(st.sampled_from(sorted(good)), min_size=1, max_size=3, unique=True)):
        action = draw(st.sampled_from(["delete", "wrong", "short", "nested", "nan"]))
        if action == "delete":
            out.pop(key)
        elif action == "wrong":
            out[key] = draw(WRONG)
        elif action == "short" and isinstance(out[key], list):
            out[key] = out[key][:-1]
        elif action == "nested":
            out[key] = {"value": out[key]}
        elif action == "nan" and isinstance(out[key], list) and out[key]:
            out[key][0] = draw(st.sampled_from([math.nan, math.inf, "1", None]))
    return out


@SETTINGS
@given(_broken_mapping(_GOOD_SCALING) | JSONISH)
def test_band_scaling_from_any_dict(d):
    from trainer.scaling import BandScaling

    try:
        s = BandScaling.from_dict(d, "config.json")
    except OutsideFileError as e:
        one_line(e)
    else:
        assert len(s.bands) == len(s.p2) == len(s.std)
        assert all(math.isfinite(v) for v in (*s.p2, *s.p98, *s.mean, *s.std))


@pytest.fixture(scope="module")
def export_folder(tmp_path_factory):
    import timm

    from trainer.export import write_export
    from trainer.scaling import BandScaling

    folder = tmp_path_factory.mktemp("export") / "e"
    model = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=3)
    write_export(
        folder, model, "resnet18", BandScaling.from_dict(_GOOD_SCALING), 32, {"objective": "x"}
    )
    return Quiet(
        folder,
        json.loads((folder / "config.json").read_text()),
        (folder / "model.safetensors").read_bytes(),
    )


def _load_then_restore(export_folder) -> None:
    """Load the (damaged) export: any refusal is one line; the good files are put back."""
    from trainer.checkpoint import CheckpointError
    from trainer.export import load_encoder

    folder, good, weights = export_folder
    try:
        load_encoder(folder)
    except (OutsideFileError, CheckpointError) as e:
        one_line(e)
    finally:
        (folder / "config.json").write_text(json.dumps(good))
        (folder / "model.safetensors").write_bytes(weights)


@SETTINGS
@given(st.data())
def test_export_folder_with_any_config(export_folder, data):

    folder, good, weights = export_folder
    keys = {
        k: good[k]
        for k in ("architecture", "scaling", "in_chans", "pretrained_cfg", "weights_sha256")
    }
    meta = {**{k: v for k, v in good.items() if k not in keys}, **data.draw(_broken_mapping(keys))}
    (folder / "config.json").write_text(json.dumps(meta, allow_nan=True))
    _load_then_restore(export_folder)


@SETTINGS
@given(st.data())
def test_export_folder_with_damaged_weights(export_folder, data):

    folder, good, weights = export_folder
    meta = {k: v for k, v in good.items() if k != "weights_sha256"}  # so the file itself is read
    (folder / "config.json").write_text(json.dumps(meta))
    (folder / "model.safetensors").write_bytes(data.draw(mutations(weights[:4096])))
    _load_then_restore(export_folder)


@SETTINGS
@given(
    obj=st.one_of(
        st.lists(st.integers(0, 3), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        st.just({}),
        st.integers(),
        st.just({"state_dict": [1, 2]}),
        st.just({"conv1.weight": "x"}),
    )
)
def test_imagenet_file_of_any_content(tmp_path_factory, obj):
    import torch

    from trainer.weights import WeightsError
    from trainer.weights_imagenet import imagenet_encoder

    path = tmp_path_factory.mktemp("w") / "w.pt"
    torch.save(obj, path)
    with pytest.raises(WeightsError) as info:
        imagenet_encoder(f"imagenet:resnet18={path}")
    one_line(info.value)


# -- store attributes and what the card does with them ---------------------------------------------------

_ATTR_KEYS = [
    "title",
    "source",
    "software",
    "synthetic",
    "stats",
    "config",
    "recipe",
    "imported_from",
    "plan",
]


@st.composite
def _attrs(draw) -> dict:
    plan = draw(
        st.dictionaries(
            st.sampled_from(["cities", "region", "seed", "sigma_km", "spares", "offsets_months"]),
            JSONISH | WRONG,
            max_size=4,
        )
    )
    attrs = {
        "config": draw(
            st.sampled_from([{"plan": plan}, {"plan": plan, "clear_threshold": 0.9}, plan, None])
        ),
        "recipe": draw(
            st.none()
            | st.dictionaries(
                st.sampled_from(["name", "title", "cites", "differences"]),
                JSONISH | WRONG,
                max_size=3,
            )
        ),
        "imported_from": draw(
            st.none()
            | st.dictionaries(
                st.sampled_from(["dataset", "format", "locations_listed", "skipped_files"]),
                JSONISH | WRONG,
                max_size=3,
            )
        ),
    }
    for key in draw(st.lists(st.sampled_from(_ATTR_KEYS), max_size=3, unique=True)):
        attrs[key] = draw(WRONG | JSONISH)
    return attrs


@SETTINGS
@given(_attrs())
def test_store_attributes_checked_before_the_card_uses_them(attrs):
    """Whatever passes :func:`check_store_attrs` renders; whatever does not is one typed line."""
    from shared.errors import AttributeTypeError
    from shared.outside import check_store_attrs
    from shared.publish.card import _collection, _provenance

    try:
        checked = check_store_attrs(attrs, "store.zarr")
    except AttributeTypeError as e:
        one_line(e)
        return
    _collection(checked)
    _provenance(checked)

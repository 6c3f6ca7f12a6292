"""Checked root attributes of a store (``stats``, ``config``, ``recipe``, ``imported_from`` …):
an edited store is an outside file too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import AttributeTypeError
from shared.outside.values import (
    Schema,
    apply_schema,
    check_int,
    check_mapping,
    check_number,
    check_number_list,
    check_str_list,
    shown,
)

# -- store attributes ---------------------------------------------------------------------------


def _stats_rule(where: str, name: str, value: Any) -> Any:
    stats = check_mapping(
        where,
        name,
        value,
        required={"bands": list, "mean": list, "std": list, "p2": list, "p98": list},
        error=AttributeTypeError,
    )
    bands = check_str_list(where, f"{name}.bands", stats["bands"], error=AttributeTypeError)
    for key in ("mean", "std", "p2", "p98"):
        check_number_list(where, f"{name}.{key}", stats[key], len(bands), error=AttributeTypeError)
    if any(s < 0 for s in stats["std"]):
        raise AttributeTypeError(where, f"{name}.std holds a negative value")
    return stats


def _dict_or_none(where: str, name: str, value: Any) -> Any:
    if value is not None:
        check_mapping(where, name, value, error=AttributeTypeError)
    return value


def _str_list(where: str, name: str, value: Any) -> Any:
    return check_str_list(where, name, value, 10_000, AttributeTypeError)


def _number_or_none(where: str, name: str, value: Any) -> Any:
    if value is not None:
        check_number(where, name, value, error=AttributeTypeError)
    return value


def _int_list_or_none(where: str, name: str, value: Any) -> Any:
    if value is None:
        return value
    if not isinstance(value, list):
        raise AttributeTypeError(where, f"{name} must be a list of integers, found {shown(value)}")
    for i, v in enumerate(value):
        check_int(where, f"{name}[{i}]", v, error=AttributeTypeError)
    return value


_NUMBER = (int, float)
#: ``config.plan`` as a collection writes it (card: "top N cities", "σ km" …)
_PLAN: Schema = {
    "region": str,
    "n": int,
    "seed": int,
    "sigma_km": _NUMBER,
    "cities": int,
    "weighting": str,
    "spares": _NUMBER,
    "shard_samples": int,
    "size": int,
    "seasons": int,
    "offsets_months": _int_list_or_none,
    "window_days": int,
    "reference_start": str,
    "reference_end": str,
}


def _config_rule(where: str, name: str, value: Any) -> Any:
    cfg = check_mapping(
        where,
        name,
        value,
        optional={
            "plan": dict,
            "source": str,
            "collection": str,
            "bands": _str_list,
            "clear_threshold": _number_or_none,
            "granule_cloud_max": _number_or_none,
            "import": str,
            "locations": int,
            "limit": (int, type(None)),
        },
        error=AttributeTypeError,
    )
    if "plan" in cfg:
        check_mapping(where, f"{name}.plan", cfg["plan"], optional=_PLAN, error=AttributeTypeError)
    return cfg


def _recipe_rule(where: str, name: str, value: Any) -> Any:
    if value is None:
        return value
    check_mapping(
        where,
        name,
        value,
        optional={"title": str, "cites": (list, str), "name": str, "differences": _str_list},
        error=AttributeTypeError,
    )
    return value


def _imported_rule(where: str, name: str, value: Any) -> Any:
    if value is None:
        return value
    text: tuple[str, ...] = ("dataset", "format", "folder", "cite", "quantisation", "dn_mapping")
    text += ("resampling", "georeferencing", "cloud_mask", "seasons", "time_and_product_id")
    check_mapping(
        where,
        name,
        value,
        optional={
            **dict.fromkeys(text, str),
            "locations_listed": int,
            "skipped_files": _str_list,
        },
        error=AttributeTypeError,
    )
    return value


#: the root attributes readers rely on, with the shape each must have
_ATTRS: dict[str, Any] = {
    "title": str,
    "source": str,
    "software": str,
    "synthetic": bool,
    "stats": _stats_rule,
    "config": _config_rule,
    "recipe": _recipe_rule,
    "imported_from": _imported_rule,
    "collection_report": _dict_or_none,
    "plan": _dict_or_none,
}


def check_store_attrs(attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The root attributes of a store with the known ones checked for type and shape
    (``stats`` arrays as long as its band list and finite, ``config``/``recipe``/
    ``imported_from``/``plan`` objects …); raises :class:`AttributeTypeError`."""
    apply_schema(where, "attribute ", attrs, _ATTRS, AttributeTypeError)
    return dict(attrs)


def checked_attrs(store: Any) -> dict[str, Any]:
    """``store.attrs`` checked by :func:`check_store_attrs`, named by the store's location."""
    return check_store_attrs(store.attrs, str(getattr(store, "location", "store")))

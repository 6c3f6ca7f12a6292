"""Hypothesis settings and strategies shared by the property tests of outside-file readers:
any JSON-like value, a wrong value for a field, damaged bytes; and the one-line check."""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: examples per reader: 25 in CI; SECO_HYPOTHESIS_EXAMPLES=300 for a deeper search by hand
SETTINGS = settings(
    max_examples=int(os.environ.get("SECO_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- strategies ----------------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
#: any JSON-like value, nested a few levels (lists and objects, empty ones included)
JSONISH = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
#: a value of the wrong kind for almost any field
WRONG = st.sampled_from(
    [
        None,
        True,
        0,
        -1,
        2**63,
        1.5,
        math.nan,
        math.inf,
        -math.inf,
        "",
        "text",
        [],
        [1],
        {},
        {"a": 1},
    ]
)


def one_line(e: BaseException) -> None:
    text = str(e)
    assert text and "\n" not in text and "Traceback" not in text, repr(text)


def mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` truncated, with bytes flipped, or with junk appended."""
    n = len(data)
    truncated = st.integers(0, max(n - 1, 0)).map(lambda k: data[:k])
    flipped = st.lists(
        st.tuples(st.integers(0, n - 1), st.integers(0, 255)), min_size=1, max_size=8
    ).map(lambda edits: _flip(data, edits))
    appended = st.binary(min_size=1, max_size=64).map(lambda junk: data + junk)
    return truncated | flipped | appended


def _flip(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for i, v in edits:
        out[i] = v
    return bytes(out)


class Quiet(tuple):
    """A fixture value whose repr stays short in Hypothesis' failure reports."""

    def __new__(cls, *items):
        return super().__new__(cls, items)

    def __repr__(self) -> str:
        return f"<{len(self)} items>"

"""jsonio: orjson output is the standard library's ``indent=2`` text; errors keep their precision."""

from __future__ import annotations

import gc
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastradius import jsonio

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_dumps_is_the_standard_librarys_indented_form(document: object) -> None:
    text = jsonio.dumps(document)
    assert json.loads(text) == document
    if not _has_float(document):  # float repr may differ in digits (both round-trip exactly)
        assert text == json.dumps(document, indent=2, ensure_ascii=False)


def _has_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def test_dumps_beyond_64_bit_integers_falls_back() -> None:
    assert json.loads(jsonio.dumps({"n": 2**80})) == {"n": 2**80}


def test_loads_is_exact_for_any_integer() -> None:
    assert jsonio.loads('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert jsonio.loads('{"big": 123456789012345678901234567890}') == {"big": 123456789012345678901234567890}


def test_loads_error_is_the_standard_librarys() -> None:
    with pytest.raises(json.JSONDecodeError) as found:
        jsonio.loads('{"a": [1, 2,\n "unterminated')
    assert found.value.msg.startswith("Unterminated string")
    assert found.value.lineno == 2


def test_gc_paused_restores_the_previous_state() -> None:
    assert gc.isenabled()
    with jsonio.gc_paused():
        assert not gc.isenabled()
        with jsonio.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # re-entrant: the outer block still holds it
    assert gc.isenabled()
    gc.disable()
    try:
        with jsonio.gc_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_gc_paused_restores_on_error() -> None:
    with pytest.raises(RuntimeError), jsonio.gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


@given(JSON)
def test_compact_dumps_is_the_standard_librarys_compact_form(document: object) -> None:
    text = jsonio.dumps(document, indent=False)
    assert json.loads(text) == document
    if not _has_float(document):
        assert text == json.dumps(document, separators=(",", ":"), ensure_ascii=False)

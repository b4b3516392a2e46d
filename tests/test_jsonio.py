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


class _Kept:
    """A tracked object a bulk block builds and keeps."""


def _generation(obj: object) -> int | None:
    for generation in range(3):
        if any(o is obj for o in gc.get_objects(generation)):
            return generation
    return None


def test_what_a_paused_block_keeps_goes_to_the_oldest_generation_without_a_scan() -> None:
    # gc.freeze() then gc.unfreeze(): "put them back into the oldest generation".
    with jsonio.gc_paused():
        kept = _Kept()
        assert _generation(kept) == 0
        with jsonio.gc_paused():
            inner = _Kept()
        assert _generation(inner) == 0  # an inner block leaves it to the outer one
    assert _generation(kept) == 2 and _generation(inner) == 2
    assert gc.get_count()[0] < 50  # no collection is due at once
    # Without the pause, the object would still be young.
    young = _Kept()
    assert _generation(young) == 0


def test_a_cycle_made_in_a_paused_block_is_still_collected() -> None:
    with jsonio.gc_paused():
        cycle: list[object] = []
        cycle.append(cycle)
        ref = id(cycle)
        del cycle
    gc.collect()
    assert not any(id(o) == ref and isinstance(o, list) and o and o[0] is o for o in gc.get_objects())


def test_objects_the_host_froze_stay_frozen() -> None:
    # A host that froze its heap before forking workers keeps it frozen: no unfreeze behind its back.
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with jsonio.gc_paused():
            kept = _Kept()
        assert gc.get_freeze_count() == frozen
        assert _generation(kept) == 0
    finally:
        gc.unfreeze()


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

"""JSON in and out at the size of a large organisation, and the garbage collector around bulk work.

A 10,000-principal snapshot is ~90 MB of JSON and a broad key's report several hundred MB: the standard
library's encoder falls back to pure Python as soon as ``indent`` is set, and Python's cyclic garbage
collector rescans the whole (acyclic, long-lived) heap again and again while millions of small objects
are being built. So:

* ``dumps`` (and ``dumps_bytes``, for output written as it is) writes with orjson, in the same form
  as ``json.dumps(document, indent=2)`` (2-space indent, ``": "`` after keys, insertion order kept),
  UTF-8 rather than ``\\u`` escapes, or compact;
* ``loads`` parses with the standard library (orjson would read integers beyond 64 bits as floats), with
  the collector paused;
* ``gc_paused`` suspends the cyclic collector during bulk building (snapshot loading, analysis, report
  serialisation). Reference counting still frees everything that is not in a cycle; cycles made in the
  meantime are collected after the block, by the collector's next full pass (what the block kept goes
  to the oldest generation: see ``gc_paused``).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager

import orjson


def dumps(document: object, *, indent: bool = True) -> str:
    """``document`` (plain JSON data: dict/list/str/int/float/bool/None) as 2-space indented JSON, or
    compact (``indent=False``: no whitespace at all, for snapshots that tools rather than people read)."""
    return dumps_bytes(document, indent=indent).decode("utf-8")


def dumps_bytes(document: object, *, indent: bool = True) -> bytes:
    """``dumps`` as UTF-8 bytes, for output that goes to a file or a pipe as it is: a large report's
    text is never made (decoding 372 MB that hold a few non-ASCII characters builds a two-byte-per-
    character string, and writing it encodes it all again)."""
    try:
        option = orjson.OPT_INDENT_2 if indent else 0
        data = orjson.dumps(document, option=option)
    except TypeError:  # not plain JSON data (e.g. an integer beyond 64 bits): the standard library
        if indent:
            return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # A caller that passes a document it keeps no reference to (``dumps(report.to_json())``) has it
    # freed here, before the bytes are returned: a large report's dicts and text are never all alive.
    del document
    return data


def loads(text: str) -> object:
    """Parse JSON text with the standard library (exact for integers of any size, precise errors) while
    the cyclic collector is paused: without collections, parsing is about twice as fast."""
    with gc_paused():
        return json.loads(text)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector for the block (re-entrant; restores the previous state).

    What the block built and kept (a snapshot, a report: hundreds of thousands of acyclic objects) is
    then moved to the collector's oldest generation rather than left in the youngest: otherwise the
    next collection scans it all at once, then the middle generation's scans it again, finding no
    garbage (``gc.freeze`` then ``gc.unfreeze``: "put them back into the oldest generation", without a
    scan). Not when the host process has frozen objects of its own (``gc.get_freeze_count``: e.g. before
    forking workers): unfreezing would release those too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


__all__ = ["dumps", "gc_paused", "loads"]

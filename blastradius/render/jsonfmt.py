"""The JSON report (``--format json``): the ``blastradius.report/v1`` contract, for scripts."""

from __future__ import annotations

from blastradius.jsonio import dumps, dumps_bytes, gc_paused
from blastradius.render.common import sections
from blastradius.report import Report


@gc_paused()
def render_json(
    report: Report, *, color: bool = False, width: int | None = None, only: str | None = None
) -> str:
    """``report.to_json()`` with 2-space indent; field order is the contract's, so output is deterministic.

    ``only`` keeps ``schema``, ``generated_at``, ``key`` and that one section.
    """
    del color, width
    if only is None:
        return dumps(report.to_json())  # no reference kept: the document is freed before the text is made
    (section,) = sections(only)
    document = report.to_json()
    return dumps({k: document[k] for k in ("schema", "generated_at", "key", section)})


@gc_paused()
def render_json_bytes(report: Report, *, only: str | None = None) -> bytes:
    """``render_json`` as UTF-8 bytes (``jsonio.dumps_bytes``): what the CLI writes to a file or stdout."""
    if only is None:
        return dumps_bytes(report.to_json())
    (section,) = sections(only)
    document = report.to_json()
    return dumps_bytes({k: document[k] for k in ("schema", "generated_at", "key", section)})

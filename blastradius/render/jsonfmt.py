"""The JSON report (``--format json``): the ``blastradius.report/v1`` contract, for scripts."""

from __future__ import annotations

from blastradius.jsonio import dumps, gc_paused
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
    document = report.to_json()
    if only is not None:
        (section,) = sections(only)
        document = {k: document[k] for k in ("schema", "generated_at", "key", section)}
    return dumps(document)

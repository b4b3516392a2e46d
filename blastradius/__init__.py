"""blastradius: leaked AWS access key → which data it can reach, by which path, and what to do now.

The Python API mirrors the CLI: ``collect`` (live, read-only), ``analyze`` (offline or live),
``load_snapshot`` / ``save_snapshot``. Imports are lazy so that ``import blastradius`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "LiveOptions",
    "analyze",
    "analyze_snapshot",
    "audit",
    "audit_snapshot",
    "collect",
    "load_snapshot",
    "save_snapshot",
]


def __getattr__(name: str) -> Any:
    if name in ("LiveOptions", "analyze", "audit", "collect", "save_snapshot"):
        from blastradius import api

        return getattr(api, name)
    if name == "load_snapshot":
        from blastradius.importers import load_snapshot

        return load_snapshot
    if name == "analyze_snapshot":
        from blastradius.analyze import analyze_snapshot

        return analyze_snapshot
    if name == "audit_snapshot":
        from blastradius.audit import audit_snapshot

        return audit_snapshot
    raise AttributeError(f"module 'blastradius' has no attribute {name!r}")

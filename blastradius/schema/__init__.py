"""JSON Schemas shipped with the package: ``report.schema.json`` describes ``blastradius.report/v1``,
``audit.schema.json`` describes ``blastradius.audit/v1``."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

REPORT_SCHEMA_FILE = "report.schema.json"
AUDIT_SCHEMA_FILE = "audit.schema.json"


def _load(name: str) -> dict[str, Any]:
    text = (importlib.resources.files(__name__) / name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``blastradius.report/v1`` document."""
    return _load(REPORT_SCHEMA_FILE)


def audit_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``blastradius.audit/v1`` document (``blastradius audit``)."""
    return _load(AUDIT_SCHEMA_FILE)

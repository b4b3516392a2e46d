"""JSON Schemas shipped with the package: ``report.schema.json`` describes ``blastradius.report/v1``."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

REPORT_SCHEMA_FILE = "report.schema.json"


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``blastradius.report/v1`` document."""
    text = (importlib.resources.files(__name__) / REPORT_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema

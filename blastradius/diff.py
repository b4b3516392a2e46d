"""``blastradius diff BEFORE.json AFTER.json``: did remediation shrink the blast radius?

Pure over two ``blastradius.report/v1`` JSON documents: datasets that appeared or disappeared, datasets
whose access levels, certainty or sensitivity changed, principals (paths) that appeared or
disappeared, and what the after-report says about why (key status, warnings). Rendered as table,
markdown or json by this module (a diff is not a report, so the report renderers do not apply).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blastradius.errors import SnapshotError, UsageError
from blastradius.model import load_json_file
from blastradius.report import REPORT_SCHEMA, sensitivity_rank

DIFF_SCHEMA = "blastradius.diff/v1"
FORMATS = ("table", "json", "markdown")


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetChange:
    """One dataset in one or both reports."""

    arn: str
    name: str
    type: str
    change: str  # appeared | disappeared | changed | unchanged
    sensitivity: str
    before_access: tuple[str, ...] = ()
    after_access: tuple[str, ...] = ()
    before_certainty: str | None = None
    after_certainty: str | None = None
    before_path: str = ""
    after_path: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "arn": self.arn,
            "name": self.name,
            "type": self.type,
            "change": self.change,
            "sensitivity": self.sensitivity,
            "before": {
                "access": list(self.before_access),
                "certainty": self.before_certainty,
                "path": self.before_path,
            },
            "after": {
                "access": list(self.after_access),
                "certainty": self.after_certainty,
                "path": self.after_path,
            },
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportDiff:
    """The difference between two reports of the same key."""

    key: str
    before_generated: str
    after_generated: str
    before_status: str | None
    after_status: str | None
    datasets: tuple[DatasetChange, ...]
    principals_appeared: tuple[str, ...]
    principals_disappeared: tuple[str, ...]
    after_warnings: tuple[str, ...]
    would_reach_if_reactivated: int

    @property
    def remaining(self) -> tuple[DatasetChange, ...]:
        """Datasets the after-report still reaches."""
        return tuple(d for d in self.datasets if d.change != "disappeared")

    def at_or_above(self, threshold: str) -> tuple[DatasetChange, ...]:
        """Remaining datasets at or above a sensitivity."""
        rank = sensitivity_rank(threshold)
        return tuple(d for d in self.remaining if sensitivity_rank(d.sensitivity) >= rank)

    def why(self) -> str:
        """One sentence on the state after."""
        left = self.remaining
        if not left:
            if self.after_status == "Inactive":
                return (
                    f"The blast radius is now empty: key {self.key} is Inactive, so AWS refuses it "
                    f"(it would reach {self.would_reach_if_reactivated} dataset(s) if re-activated)."
                )
            return "The blast radius is now empty: the after-report reaches no dataset."
        return f"{len(left)} dataset(s) remain reachable after remediation."

    def to_json(self) -> dict[str, Any]:
        """JSON form (``blastradius.diff/v1``)."""
        counts: dict[str, int] = {}
        for d in self.datasets:
            counts[d.change] = counts.get(d.change, 0) + 1
        return {
            "schema": DIFF_SCHEMA,
            "key": self.key,
            "before": {"generated_at": self.before_generated, "key_status": self.before_status},
            "after": {"generated_at": self.after_generated, "key_status": self.after_status},
            "summary": {c: counts.get(c, 0) for c in ("appeared", "disappeared", "changed", "unchanged")},
            "why": self.why(),
            "datasets": [d.to_json() for d in self.datasets],
            "principals": {
                "appeared": list(self.principals_appeared),
                "disappeared": list(self.principals_disappeared),
            },
            "after_warnings": list(self.after_warnings),
            "would_reach_if_reactivated": self.would_reach_if_reactivated,
        }


def load_report(path: Path) -> dict[str, Any]:
    """A report JSON file, checked to be a ``blastradius.report/v1`` document."""
    try:
        data = load_json_file(path)
    except SnapshotError as e:  # names the file and the position; a report is not a snapshot, though
        raise UsageError(str(e), hint="Give two reports written with `--format json`.") from e
    if not isinstance(data, dict) or data.get("schema") != REPORT_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise UsageError(
            f"{path}: not a {REPORT_SCHEMA} report (schema {found!r})",
            hint="Write reports with `blastradius analyze --format json -o FILE`.",
        )
    if not isinstance(data.get("datasets"), list) or not isinstance(data.get("key"), dict):
        raise UsageError(f"{path}: field 'datasets' or 'key' is missing or malformed")
    return data


def _path_text(dataset: Mapping[str, Any]) -> str:
    steps = dataset.get("path") or []
    return " → ".join(
        f"{s.get('from', '?').rsplit('/', 1)[-1]} ─{s.get('kind', '?')}→"
        for s in steps
        if isinstance(s, dict)
    ) + (f" {dataset.get('name', '')}" if steps else "")


def diff_reports(before: Mapping[str, Any], after: Mapping[str, Any]) -> ReportDiff:
    """Compare two report documents (of the same key, normally before and after remediation)."""
    b = {d["arn"]: d for d in before["datasets"]}
    a = {d["arn"]: d for d in after["datasets"]}
    changes: list[DatasetChange] = []
    for arn in sorted(set(b) | set(a)):
        old, new = b.get(arn), a.get(arn)
        ref = new or old
        assert ref is not None
        if old is None:
            change = "appeared"
        elif new is None:
            change = "disappeared"
        elif (
            tuple(old.get("access", ())) != tuple(new.get("access", ()))
            or old.get("certainty") != new.get("certainty")
            or _path_text(old) != _path_text(new)
        ):
            change = "changed"
        else:
            change = "unchanged"
        changes.append(
            DatasetChange(
                arn=arn,
                name=str(ref.get("name", arn)),
                type=str(ref.get("type", "")),
                change=change,
                sensitivity=str(ref.get("sensitivity", "none")),
                before_access=tuple(old.get("access", ())) if old else (),
                after_access=tuple(new.get("access", ())) if new else (),
                before_certainty=old.get("certainty") if old else None,
                after_certainty=new.get("certainty") if new else None,
                before_path=_path_text(old) if old else "",
                after_path=_path_text(new) if new else "",
            )
        )
    order = {"appeared": 0, "changed": 1, "disappeared": 2, "unchanged": 3}
    changes.sort(key=lambda c: (order[c.change], -sensitivity_rank(c.sensitivity), c.name))
    bp = {p["arn"] for p in before.get("principals", []) if p.get("via") != "origin"}
    ap = {p["arn"] for p in after.get("principals", []) if p.get("via") != "origin"}
    return ReportDiff(
        key=str(after["key"].get("access_key_id") or before["key"].get("access_key_id")),
        before_generated=str(before.get("generated_at", "")),
        after_generated=str(after.get("generated_at", "")),
        before_status=before["key"].get("status"),
        after_status=after["key"].get("status"),
        datasets=tuple(changes),
        principals_appeared=tuple(sorted(ap - bp)),
        principals_disappeared=tuple(sorted(bp - ap)),
        after_warnings=tuple((after.get("coverage") or {}).get("warnings", ())),
        would_reach_if_reactivated=len(after.get("if_reactivated") or ()),
    )


def render_diff(diff: ReportDiff, fmt: str) -> str:
    """``table`` (terminal text), ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(diff.to_json(), indent=2)
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} for diff", hint="Choose among: " + ", ".join(FORMATS))
    md = fmt == "markdown"
    out: list[str] = []
    title = f"blastradius diff: {diff.key}"
    out += [f"# {title}", ""] if md else [title]
    out.append(
        f"{'- ' if md else ''}before {diff.before_generated} (key {diff.before_status or 'unknown'}) → "
        f"after {diff.after_generated} (key {diff.after_status or 'unknown'})"
    )
    counts = diff.to_json()["summary"]
    out.append(
        f"{'- ' if md else ''}datasets: {counts['disappeared']} disappeared, {counts['appeared']} appeared, "
        f"{counts['changed']} changed, {counts['unchanged']} unchanged"
    )
    out += ["", f"{'**' if md else ''}{diff.why()}{'**' if md else ''}", ""]
    if diff.datasets:
        if md:
            out.append("| Change | Sensitivity | Type | Name | Before | After |")
            out.append("|---|---|---|---|---|---|")
        for d in diff.datasets:
            before = "+".join(d.before_access) or "-"
            after = "+".join(d.after_access) or "-"
            if d.before_certainty and d.after_certainty and d.before_certainty != d.after_certainty:
                before += f" ({d.before_certainty})"
                after += f" ({d.after_certainty})"
            if md:
                out.append(f"| {d.change} | {d.sensitivity} | {d.type} | `{d.name}` | {before} | {after} |")
            else:
                out.append(
                    f"  {d.change:<11} {d.sensitivity:<6} {d.type:<22} {d.name:<40} {before} → {after}"
                )
        out.append("")
    for label, items in (
        ("principals no longer reachable", diff.principals_disappeared),
        ("principals newly reachable", diff.principals_appeared),
    ):
        if items:
            out.append(f"{label}: " + ", ".join(items))
    for w in diff.after_warnings:
        out.append(f"{'- ' if md else ''}after: {w}")
    return "\n".join(out).rstrip("\n") + "\n"


def diff_files(before: Path, after: Path) -> ReportDiff:
    """Load and compare two report files."""
    return diff_reports(load_report(before), load_report(after))


__all__: Sequence[str] = (
    "DIFF_SCHEMA",
    "ReportDiff",
    "diff_files",
    "diff_reports",
    "load_report",
    "render_diff",
)

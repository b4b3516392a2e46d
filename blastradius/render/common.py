"""Wording shared by the human renderers: paths as sentences, short names, ranking, counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from blastradius.errors import UsageError
from blastradius.report import (
    CONDITIONAL,
    DatasetFinding,
    KeyInfo,
    PathStep,
    Report,
    level_rank,
    sensitivity_rank,
)

# The report's sections, in the order the human renderers print them; ``only`` picks one.
SECTIONS = ("datasets", "escalations", "credential_pivots", "coverage", "rotation_plan")


def sections(only: str | None) -> tuple[str, ...]:
    """The sections to render: all, or just ``only`` (validated)."""
    if only is None:
        return SECTIONS
    if only not in SECTIONS:
        raise UsageError(f"unknown report section {only!r}", hint="Sections: " + ", ".join(SECTIONS))
    return (only,)


# How a dataset ARN reads in a sentence ("bucket tconnect-exports").
_DATASET_NOUNS = {
    "s3-bucket": "bucket",
    "dynamodb-table": "table",
    "secretsmanager-secret": "secret",
    "ssm-parameter": "parameter",
    "kms-key": "key",
}


def short_name(arn: str) -> str:
    """A principal or resource ARN as a responder reads it: ``user/alice``, ``role/data-sync``, ``bucket x``.

    IAM paths are dropped (``role/team/x`` → ``role/x``); assumed-role sessions read as their role.
    Anything that is not an ARN is returned unchanged.
    """
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return arn
    service, account, resource = parts[2], parts[4], parts[5]
    if service in ("iam", "sts"):
        kind, _, rest = resource.partition("/")
        if kind == "assumed-role":
            return f"role/{rest.split('/')[0]}"
        if kind == "root" or resource == "root":
            return f"account {account}"
        return f"{kind}/{rest.rsplit('/', 1)[-1]}" if rest else resource
    if service == "s3":
        return f"bucket {resource.split('/')[0]}"
    if service == "dynamodb" and resource.startswith("table/"):
        return f"table {resource.split('/')[1]}"
    if service == "secretsmanager" and resource.startswith("secret:"):
        return f"secret {resource[len('secret:') :]}"
    if service == "ssm" and resource.startswith("parameter"):
        return f"parameter {resource[len('parameter') :] or '/'}"
    if service == "kms":
        return resource.replace("/", " ", 1)
    return resource


def _join_actions(actions: Sequence[str], limit: int = 3) -> str:
    if len(actions) <= limit:
        return ", ".join(actions)
    return ", ".join(actions[:limit]) + f" +{len(actions) - limit} more"


def _evidence(step: PathStep) -> str:
    """Why an edge exists: the policy and statement that allow it."""
    if step.policy and step.statement:
        return f" (policy {step.policy}, statement '{step.statement}')"
    if step.policy:
        return (
            f" (policy {step.policy})" if not step.policy.startswith("trust policy") else f" ({step.policy})"
        )
    if step.kind == "assume":
        return f" (trust policy of {short_name(step.to)})"
    if step.statement:
        return f" (statement '{step.statement}')"
    return ""


def describe_step(step: PathStep, labels: Mapping[str, str] | None = None) -> str:
    """One edge as ``─action (evidence)→ target``."""
    target = (labels or {}).get(step.to) or short_name(step.to)
    if step.kind == "escalate":
        what = f"escalate {step.technique or _join_actions(step.actions) or 'privileges'}"
        if step.technique and step.actions:
            what += f" [{_join_actions(step.actions)}]"
    else:
        what = _join_actions(step.actions) or step.kind
    conditional = (
        " if " + "; ".join(step.conditions) if step.certainty == CONDITIONAL and step.conditions else ""
    )
    return f"─{what}{_evidence(step)}{conditional}→ {target}"


def describe_path(steps: Sequence[PathStep], labels: Mapping[str, str] | None = None) -> str:
    """A path as one sentence.

    ``user/alice ─sts:AssumeRole (trust policy of role/data-sync)→ role/data-sync ─s3:GetObject (policy
    ExportsRead, statement 'Read')→ bucket tconnect-exports``. ``labels`` maps ARNs to better names
    (the dataset's own name, which the ARN of a secret does not give cleanly).
    """
    if not steps:
        return "(no path recorded)"
    names = labels or {}
    start = names.get(steps[0].from_) or short_name(steps[0].from_)
    return " ".join([start, *(describe_step(s, names) for s in steps)])


def dataset_label(finding: DatasetFinding) -> str:
    """``bucket tconnect-exports``: the noun of its type and its name."""
    return f"{_DATASET_NOUNS.get(finding.type, finding.type)} {finding.name}"


def describe_finding_path(finding: DatasetFinding, steps: Sequence[PathStep] | None = None) -> str:
    """A finding's path (or one of its grants' paths) with the dataset named by its own name."""
    return describe_path(finding.path if steps is None else steps, {finding.arn: dataset_label(finding)})


def rank_key(finding: DatasetFinding) -> tuple[int, int, int, str, str]:
    """Sort key: sensitivity (high first), strongest access, certainty (definite first), name."""
    strongest = max((level_rank(a) for a in finding.access), default=-1)
    return (
        -sensitivity_rank(finding.sensitivity),
        -strongest,
        1 if finding.certainty == CONDITIONAL else 0,
        finding.name,
        finding.arn,
    )


def ranked(findings: Iterable[DatasetFinding]) -> list[DatasetFinding]:
    """Findings in report order: most sensitive, strongest, surest first."""
    return sorted(findings, key=rank_key)


def access_text(finding: DatasetFinding) -> str:
    """``read+write``, weakest to strongest."""
    return "+".join(sorted(finding.access, key=level_rank))


def records_text(records: int | None) -> str:
    """``296,019 records`` / ``records unknown``."""
    return f"{records:,} records" if records is not None else "records unknown"


def extra_grants(finding: DatasetFinding) -> list[tuple[str, str]]:
    """(level, path sentence) of the grants whose path differs from the finding's main path.

    These show "read directly, admin only after escalating".
    """
    out: list[tuple[str, str]] = []
    for grant in sorted(finding.grants, key=lambda g: level_rank(g.level)):
        if tuple(grant.path) != tuple(finding.path):
            text = describe_finding_path(finding, grant.path)
            if grant.certainty == CONDITIONAL and grant.conditions:
                text += " if " + "; ".join(grant.conditions)
            out.append((grant.level, text))
    return out


def key_line(key: KeyInfo) -> str:
    """``AKIA… → user/alice in 123456789012 (Active, created …, last used …)``."""
    owner = short_name(key.principal_arn) if key.principal_arn else "owner unknown"
    facts = [key.kind]
    if key.status:
        facts.append(key.status)
    if key.created:
        facts.append(f"created {key.created}")
    last = key.last_used
    if last.get("date"):
        used = f"last used {last['date']}"
        extra = ", ".join(v for v in (last.get("service"), last.get("region")) if v)
        facts.append(used + (f" ({extra})" if extra else ""))
    account = f" in {key.account_id}" if key.account_id else ""
    how = f"; identified by {key.identified_by}" if key.identified_by else ""
    return f"{key.access_key_id} → {owner}{account} ({', '.join(facts)}{how})"


def coverage_summary(report: Report) -> str:
    """``complete: 6 services ok in 2 regions`` or ``INCOMPLETE: 2 gaps (rds AccessDenied, …)``."""
    cov = report.coverage
    regions = f"{len(cov.regions)} region{'s' if len(cov.regions) != 1 else ''}"
    ok = sum(1 for v in cov.services.values() if v == "ok")
    if cov.complete:
        return f"complete: {ok} service{'s' if ok != 1 else ''} ok in {regions} (source: {cov.source})"
    bad = [f"{s} {v}" for s, v in sorted(cov.services.items()) if v != "ok"]
    parts = [f"{len(cov.gaps)} gap{'s' if len(cov.gaps) != 1 else ''}"] if cov.gaps else []
    parts.extend(bad)
    return (
        f"INCOMPLETE: {', '.join(parts)}; {ok} service{'s' if ok != 1 else ''} ok in {regions} — "
        "what could not be seen is unknown, not safe"
    )


def summary_counts(report: Report) -> str:
    """``3 principals reachable (1 by assume, 1 by escalate) — 7 datasets: 2 high, 1 medium``."""
    via: dict[str, int] = {}
    for p in report.principals:
        if p.via != "origin":
            via[p.via] = via.get(p.via, 0) + 1
    how = ", ".join(f"{n} by {v}" for v, n in sorted(via.items()))
    counts: dict[str, int] = {}
    for d in report.datasets:
        counts[d.sensitivity] = counts.get(d.sensitivity, 0) + 1
    by_level = ", ".join(f"{counts[s]} {s}" for s in ("high", "medium", "low", "none") if counts.get(s))
    n_p, n_d = len(report.principals), len(report.datasets)
    return (
        f"{n_p} principal{'s' if n_p != 1 else ''} reachable"
        + (f" ({how})" if how else "")
        + f" — {n_d} dataset{'s' if n_d != 1 else ''}"
        + (f": {by_level}" if by_level else "")
    )


def touched_text(finding: DatasetFinding) -> str:
    """ "Did touch" for one reachable dataset, in words (from the CloudTrail evidence)."""
    if finding.touched is None:
        return "unknown (no CloudTrail evidence)"
    events = ", ".join(
        f"{t.event_name} x{t.count}" + (f" ({t.errors} refused)" if t.errors else "")
        for t in finding.touched_by
    )
    if finding.touched:
        first = min(t.first for t in finding.touched_by)
        last = max(t.last for t in finding.touched_by)
        return f"TOUCHED: {events}, {first} → {last}"
    text = "not seen touching it" + (f" (only refused calls: {events})" if events else "")
    if finding.touch_note:
        text += f"; {finding.touch_note}"
    return text


def touched_flag(touched: bool | None) -> str:
    """A one-word "did touch" column: yes / not seen / unknown."""
    return "unknown" if touched is None else "yes" if touched else "not seen"

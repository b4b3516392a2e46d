"""The rotation plan: ``policies/rotation.toml`` filled with this incident's facts (DESIGN.md §7).

``rotation_plan`` is pure: it turns the key, what the key reaches and the coverage into ordered
``RotationStep``s — contain, investigate, eradicate, recover, notify — each with why and the exact
commands for this incident (user name, key id, every reachable role, secret ARNs, regions). The
wording lives in the TOML so responders can adapt it; this module only computes the facts the
templates refer to and shell-quotes them. It never prints a secret value: commands that set one read
it from a file.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from blastradius.render.common import short_name
from blastradius.report import (
    LEVELS,
    ApplyAction,
    Coverage,
    CredentialPivot,
    DatasetFinding,
    Escalation,
    KeyInfo,
    PersistenceEvent,
    PrincipalReach,
    RotationStep,
    level_rank,
)
from blastradius.rules import (
    LineTemplate,
    RotationTemplates,
    RuleSet,
)

# Obvious placeholders for what the analysis does not know (shell-quoted in commands, so a command
# pasted unchanged fails instead of doing something unexpected).
UNKNOWN_USER = "<UNKNOWN-USER-NAME>"
UNKNOWN_PRINCIPAL = "<UNKNOWN-PRINCIPAL-ARN>"
UNKNOWN_ACCOUNT = "<ACCOUNT-ID>"
UNKNOWN_SINCE = "YYYY-MM-DDTHH:MM:SSZ"

# Variables whose values are already shell words (lists of quoted regions); all others get quoted.
_PRE_QUOTED = frozenset({"regions_words", "event_regions", "check_command"})

# Services whose management events are recorded in the partition's IAM region, not per region.
_GLOBAL_SERVICES = frozenset({"iam", "organizations", "account"})

# Region of IAM and global STS events, per partition.
_IAM_REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def rotation_plan(
    *,
    key: KeyInfo,
    principals: Sequence[PrincipalReach],
    datasets: Sequence[DatasetFinding],
    escalations: Sequence[Escalation],
    user_name: str | None,
    account_id: str | None,
    rules: RuleSet | RotationTemplates,
    exposed_since: str | None = None,
    coverage: Coverage | None = None,
    regions: Sequence[str] = (),
    now: datetime | str | None = None,
    actions_seen: Sequence[tuple[str, Sequence[str]]] = (),
    records: Mapping[str, str] | None = None,
    persistence: Sequence[PersistenceEvent] = (),
    pivots: Sequence[CredentialPivot] = (),
) -> tuple[RotationStep, ...]:
    """The ordered runbook for this incident, from the rotation templates.

    ``pivots`` are the credential pivots of the report; those in compute environment variables get
    their own rotation commands (secrets and parameters are already covered by the datasets).

    ``coverage`` gives the blind spots to close and, with ``regions``, where to search CloudTrail
    (plus the IAM region, the key's last-used region and the datasets' regions). ``now`` is the
    cut-off of the deny-old-sessions policy (pass the report's clock for a deterministic report;
    default: the current time). Without ``exposed_since`` the window starts at the key's creation
    date, or at an obvious placeholder.
    """
    templates = rules.rotation if isinstance(rules, RuleSet) else rules
    facts = _Facts(
        key=key,
        principals=principals,
        datasets=datasets,
        escalations=escalations,
        user_name=user_name,
        account_id=account_id,
        exposed_since=exposed_since,
        coverage=coverage,
        regions=regions,
        now=_timestamp(now or datetime.now(UTC)),
        templates=templates,
        actions_seen=actions_seen,
        records=records or {},
        persistence=persistence,
        pivots=pivots,
    )
    steps: list[RotationStep] = []
    for template in templates.steps:
        if not facts.holds(template.when):
            continue
        commands = facts.lines(template.commands, quote=True)
        if template.commands and not commands:
            continue  # every command was per-item over an empty collection
        steps.append(
            RotationStep(
                step=len(steps) + 1,
                id=template.id,
                phase=template.phase,
                title=template.title.format_map(facts.variables),
                why=template.why.format_map(facts.variables),
                commands=commands,
                details=facts.lines(template.details, quote=False),
                actions=facts.actions(template.automate),
            )
        )
    return tuple(steps)


def compromised_description(now: str) -> str:
    """The access key description (a user tag keyed by the key id) that marks the key compromised.

    Only characters IAM allows in tag values: letters, digits, spaces and ``_ . : / = + - @``.
    """
    return f"COMPROMISED - contained {now} by blastradius"


class _Facts:
    """The values, collections and conditions the templates refer to, computed once per plan."""

    def __init__(
        self,
        *,
        key: KeyInfo,
        principals: Sequence[PrincipalReach],
        datasets: Sequence[DatasetFinding],
        escalations: Sequence[Escalation],
        user_name: str | None,
        account_id: str | None,
        exposed_since: str | None,
        coverage: Coverage | None,
        regions: Sequence[str],
        now: str,
        templates: RotationTemplates,
        actions_seen: Sequence[tuple[str, Sequence[str]]] = (),
        records: Mapping[str, str] | None = None,
        persistence: Sequence[PersistenceEvent] = (),
        pivots: Sequence[CredentialPivot] = (),
    ) -> None:
        sized = records or {}
        account = account_id or key.account_id
        principal_arn = key.principal_arn
        if principal_arn is None and user_name and account:
            principal_arn = f"arn:aws:iam::{account}:user/{user_name}"
        partition = principal_arn.split(":")[1] if principal_arn and principal_arn.count(":") >= 5 else "aws"
        iam_region = _IAM_REGION.get(partition, "us-east-1")
        since, since_source = _window_start(exposed_since, key.created)
        regions = _regions(iam_region, (*regions, *(coverage.regions if coverage else ())), key, datasets)
        settings = templates.settings
        of_type: dict[str, list[DatasetFinding]] = {}  # a report can hold 100,000 datasets: one pass
        for d in datasets:
            of_type.setdefault(d.type, []).append(d)

        self.collections: dict[str, list[dict[str, str]]] = {
            "region": [{"region": r} for r in regions],
            "role": _roles(principals, principal_arn, partition),
            "other_user": _other_users(principals, user_name),
            "secret": [
                {"secret_arn": d.arn, "secret_name": d.name, "region": d.region, "access": _access(d.access)}
                for d in _touched(of_type.get("secretsmanager-secret", []), "secretsmanager-secret")
            ],
            "parameter": [
                {
                    "parameter_name": _parameter_name(d),
                    "parameter_arn": d.arn,
                    "region": d.region,
                    "access": _access(d.access),
                }
                for d in _touched(of_type.get("ssm-parameter", []), "ssm-parameter")
            ],
            "kms_admin": [
                {"kms_key_arn": d.arn, "kms_key_name": d.name, "region": d.region}
                for d in of_type.get("kms-key", [])
                if "admin" in d.access
            ],
            "personal_dataset": [
                {
                    "dataset_name": d.name,
                    "dataset_type": d.type,
                    "dataset_arn": d.arn,
                    "region": d.region,
                    "records": sized.get(d.arn)
                    or (
                        f"{d.estimated_records:,} records"
                        if d.estimated_records is not None
                        else "unknown number of records"
                    ),
                    "reasons": ", ".join(d.sensitivity_reasons) or "no reason recorded",
                    "sensitivity": d.sensitivity,
                    "certainty": d.certainty,
                    "access": _access(d.access),
                }
                for d in datasets
                if _personal(d)
            ],
            "pivot_object": [
                {
                    "dataset_name": d.name,
                    "dataset_type": d.type,
                    "dataset_arn": d.arn,
                    "region": d.region,
                    "reasons": ", ".join(d.sensitivity_reasons),
                }
                for d in datasets
                if d.credential_pivot
                and d.type not in ("secretsmanager-secret", "ssm-parameter")
                and _can_read(d)
            ],
            "escalation_event": _escalation_events(escalations, templates, iam_region, regions),
            "escalation_check": [],
            "lambda_pivot": _compute_pivots(pivots, "lambda-function"),
            "codebuild_pivot": _compute_pivots(pivots, "codebuild-project"),
            "ecs_pivot": _compute_pivots(pivots, "ecs-task-definition"),
            "gap": [{"gap": g} for g in _gaps(coverage)],
            "created_key": [
                {"created_key_user": _created_user(p), "created_key_id": p.created_access_key_id}
                for p in persistence
                if p.error_code is None and p.created_access_key_id
            ],
            "persistence_event": [
                {
                    "persistence_time": p.time,
                    "persistence_event": p.event_name,
                    "persistence_target": p.target,
                }
                for p in persistence
                if p.error_code is None
            ],
            "seen_action": [
                {"seen_action": action, "seen_resources": ", ".join(resources)}
                for action, resources in actions_seen
            ],
        }
        owner = (
            f"user/{user_name}"
            if user_name
            else short_name(principal_arn)
            if principal_arn
            else "the key's unknown owner"
        )
        deny_policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenySessionsIssuedBeforeContainment",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}},
                }
            ],
        }
        self.variables: dict[str, str] = {
            "key_id": key.access_key_id,
            "compromised_description": compromised_description(now),
            "key_kind": key.kind,
            "key_status": key.status or "unknown",
            "user_name": user_name or UNKNOWN_USER,
            "principal_arn": principal_arn or UNKNOWN_PRINCIPAL,
            "owner": owner,
            "account_id": account or UNKNOWN_ACCOUNT,
            "partition": partition,
            "iam_region": iam_region,
            "now": now,
            "since": since,
            "since_source": since_source,
            "deny_policy_name": settings["deny_policy_name"],
            "deny_policy_json": json.dumps(deny_policy, separators=(",", ":")),
            "narrowed_policy_json": json.dumps(_narrowed_policy(actions_seen), separators=(",", ":")),
            "compromised_tag_key": settings["compromised_tag_key"],
            "incident_tag_key": settings["incident_tag_key"],
            "regions_words": " ".join(shlex.quote(r) for r in regions),
            "role_count": str(len(self.collections["role"])),
            "secret_count": str(len(self.collections["secret"])),
            "parameter_count": str(len(self.collections["parameter"])),
            "personal_dataset_count": str(len(self.collections["personal_dataset"])),
            "dataset_count": str(len(datasets)),
            "escalation_count": str(len(escalations)),
            "gap_count": str(len(self.collections["gap"])),
            "seen_action_count": str(len(self.collections["seen_action"])),
        }
        self._quoted = _shell_quoted(self.variables)
        self.collections["escalation_check"] = _escalation_checks(escalations, self._quoted, regions)
        long_term = key.kind != "session"
        complete = not self.collections["gap"]
        self.conditions: set[str] = {
            "long_term_key" if long_term else "session_key",
            "exposure_known" if exposed_since else "exposure_unknown",
            "coverage_complete" if complete else "coverage_incomplete",
        }
        if user_name:
            self.conditions.add("user_known")
        if not user_name and not key.principal_arn:
            self.conditions.add("owner_unknown")
        for name, items in self.collections.items():
            self.conditions.add(f"has_{name}" if items else f"no_{name}")

    def actions(self, automate: str | None) -> tuple[ApplyAction, ...]:
        """The write calls ``rotate --apply`` makes for a step (``automate`` from rotation.toml).

        Only what is safe and within the auditor's account: a role of another account needs that
        account's credentials, so its command is printed and not executed; nothing is done when the
        key's user is unknown (the commands carry placeholders then).
        """
        v = self.variables
        user = v["user_name"] if self.holds(("user_known",)) else None
        user_arn = v["principal_arn"]
        if automate is None or user is None:
            return ()
        if automate == "deactivate-key":
            return (
                ApplyAction(
                    operation="iam:UpdateAccessKey",
                    target=user_arn,
                    parameters={"UserName": user, "AccessKeyId": v["key_id"], "Status": "Inactive"},
                    description=f"deactivate access key {v['key_id']} of user/{user}",
                ),
            )
        if automate == "tag-compromised":
            return (
                ApplyAction(
                    operation="iam:TagUser",
                    target=user_arn,
                    parameters={
                        "UserName": user,
                        "TagKey": v["key_id"],
                        "TagValue": v["compromised_description"],
                    },
                    description=f"describe key {v['key_id']} as compromised (user/{user} tag {v['key_id']})",
                ),
            )
        policy = {"PolicyName": v["deny_policy_name"], "PolicyDocument": v["deny_policy_json"]}
        out = [
            ApplyAction(
                operation="iam:PutUserPolicy",
                target=user_arn,
                parameters={"UserName": user, **policy},
                description=f"deny sessions issued before {v['now']} to user/{user}",
            )
        ]
        for other in self.collections["other_user"]:
            if other["other_user_arn"].split(":")[4] == v["account_id"]:
                out.append(
                    ApplyAction(
                        operation="iam:PutUserPolicy",
                        target=other["other_user_arn"],
                        parameters={"UserName": other["other_user_name"], **policy},
                        description=f"deny sessions issued before {v['now']} to "
                        f"user/{other['other_user_name']}",
                    )
                )
        for role in self.collections["role"]:
            if role["role_account"] != v["account_id"]:
                continue  # another account's credentials are needed: the printed command covers it
            out.append(
                ApplyAction(
                    operation="iam:PutRolePolicy",
                    target=role["role_arn"],
                    parameters={"RoleName": role["role_name"], **policy},
                    description=f"deny sessions issued before {v['now']} to role/{role['role_name']}",
                )
            )
        return tuple(out)

    def holds(self, when: Iterable[str]) -> bool:
        """Whether every condition holds."""
        return all(c in self.conditions for c in when)

    def lines(self, templates: Sequence[LineTemplate], *, quote: bool) -> tuple[str, ...]:
        """Render command (``quote``: values shell-quoted) or detail lines, expanding ``for_each``."""
        base = self._quoted if quote else self.variables
        out: list[str] = []
        for line in templates:
            if not self.holds(line.when):
                continue
            if line.for_each is None:
                out.append(line.text.format_map(base))
                continue
            items = self.collections[line.for_each]
            used = _names_read(line.text)
            if used is None:  # positional fields: let format_map refuse them as it would
                for item in items:
                    values = _shell_quoted(item) if quote else item
                    out.append(line.text.format_map({**base, **values}))
                continue
            # A collection can hold thousands of items (datasets): each is formatted with only the names
            # the line reads, quoted once, instead of a copy of every value of the plan.
            shared = {k: base[k] for k in used if k in base}
            for item in items:
                values = _shell_quoted({k: item[k] for k in used if k in item}) if quote else item
                out.append(line.text.format_map(values if used <= values.keys() else {**shared, **values}))
        return tuple(dict.fromkeys(out))


_FORMATTER = string.Formatter()


@functools.lru_cache(maxsize=1024)
def _names_read(text: str) -> frozenset[str] | None:
    """The names a template reads (``{a}``, ``{a.b}``, ``{a[0]}`` and ``{a:{b}}`` read ``a`` and ``b``);
    None when it has positional fields (``{}``, ``{0}``), which a mapping cannot fill."""
    names: set[str] = set()
    for _, field, spec, _ in _FORMATTER.parse(text):
        if field is None:
            continue
        name = re.split(r"[.\[]", field, maxsplit=1)[0]
        if not name or name.isdigit():
            return None
        names.add(name)
        if spec:
            nested = _names_read(spec)
            if nested is None:
                return None
            names |= nested
    return frozenset(names)


def _created_user(event: PersistenceEvent) -> str:
    """The user a CreateAccessKey event created the key for ("user NAME" in its target)."""
    for part in event.target.split(", "):
        if part.startswith("user "):
            return part[len("user ") :]
    return UNKNOWN_USER


def _narrowed_policy(actions_seen: Sequence[tuple[str, Sequence[str]]]) -> dict[str, object]:
    """A draft policy with only the actions the key was seen using, on the resources seen."""
    by_resources: dict[tuple[str, ...], list[str]] = {}
    for action, resources in actions_seen:
        by_resources.setdefault(tuple(resources) or ("*",), []).append(action)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": f"Seen{n}", "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}
            for n, (resources, actions) in enumerate(sorted(by_resources.items()), 1)
        ],
    }


def _shell_quoted(values: Mapping[str, str]) -> dict[str, str]:
    """Values as single shell words (lists that are already words stay as they are)."""
    return {k: v if k in _PRE_QUOTED else shlex.quote(v) for k, v in values.items()}


def _window_start(exposed_since: str | None, created: str | None) -> tuple[str, str]:
    if exposed_since:
        return exposed_since, f"the exposure date given, {exposed_since}"
    if created:
        return created, (
            f"the key's creation date, {created}, because no exposure date was given "
            "(pass --exposed-since DATE to narrow it)"
        )
    return UNKNOWN_SINCE, (
        f"unknown: replace {UNKNOWN_SINCE} with the earliest time the key could have been exposed"
    )


def _timestamp(now: datetime | str) -> str:
    """``2026-11-25T00:00:00Z``: the form aws:TokenIssueTime compares with."""
    if isinstance(now, str):
        return now
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _regions(
    iam_region: str, covered: Iterable[str], key: KeyInfo, datasets: Sequence[DatasetFinding]
) -> list[str]:
    """The IAM region first (global events), then every other region the report covers, sorted."""
    found = set(covered)
    found.update(d.region for d in datasets)
    last_used = key.last_used.get("region")
    if last_used:
        found.add(last_used)
    return [iam_region, *sorted(r for r in found if _REGION.match(r) and r != iam_region)]


def _roles(principals: Sequence[PrincipalReach], origin: str | None, partition: str) -> list[dict[str, str]]:
    """Every role the key can act as (including its own, for a session key), by ARN."""
    found: dict[str, dict[str, str]] = {}
    candidates: list[tuple[str, str]] = [(p.arn, p.via) for p in principals]
    if origin:
        candidates.insert(0, (origin, "origin"))
    for arn, via in candidates:
        arn = arn.split("@", 1)[-1]  # an escalated variant (without-boundary@<role ARN>) is that role
        parts = arn.split(":", 5)
        if len(parts) < 6:
            continue
        resource = parts[5]
        if resource.startswith("assumed-role/"):
            name = resource.split("/")[1]
            arn = f"arn:{partition}:iam::{parts[4]}:role/{name}"
        elif resource.startswith("role/"):
            if resource.startswith("role/aws-service-role/"):
                continue  # service-linked roles cannot be assumed by a key, nor given inline policies
            name = resource.rsplit("/", 1)[-1]
        else:
            continue
        found.setdefault(arn, {"role_name": name, "role_arn": arn, "role_account": parts[4], "role_via": via})
    return sorted(found.values(), key=lambda r: r["role_arn"])


def _other_users(principals: Sequence[PrincipalReach], user_name: str | None) -> list[dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for p in principals:
        arn = p.arn.split("@", 1)[-1]  # an escalated variant (member-of-admins@<user ARN>) is that user
        resource = arn.split(":", 5)[-1]
        if not resource.startswith("user/"):
            continue
        name = resource.rsplit("/", 1)[-1]
        if name != user_name and p.via != "origin":
            found.setdefault(arn, {"other_user_name": name, "other_user_arn": arn})
    return sorted(found.values(), key=lambda u: u["other_user_arn"])


def _compute_pivots(pivots: Sequence[CredentialPivot], kind: str) -> list[dict[str, str]]:
    """Compute resources of ``kind`` whose environment holds credentials the key can read."""
    return [
        {
            "resource_name": p.name,
            "resource_arn": p.arn,
            "region": p.region,
            "env_names": ", ".join(p.names),
            "reader": short_name(p.path[-1].from_) if p.path else "the key",
        }
        for p in sorted(pivots, key=lambda p: p.arn)
        if p.kind == kind
    ]


def _can_read(d: DatasetFinding) -> bool:
    # admin can grant itself read (a bucket policy, a key policy), so it counts as exposure too.
    return "read" in d.access or "admin" in d.access


def _touched(datasets: Sequence[DatasetFinding], dataset_type: str) -> list[DatasetFinding]:
    """Datasets of a type the key can do more than list: read (exposed) or write/admin (plantable)."""
    return sorted(
        (d for d in datasets if d.type == dataset_type and any(a != LEVELS[0] for a in d.access)),
        key=lambda d: d.arn,
    )


def _personal(d: DatasetFinding) -> bool:
    """Readable data whose rules say personal data, or which is high for another reason than a credential."""
    if d.type == "kms-key" or not _can_read(d):
        return False
    return d.personal_data or (d.sensitivity == "high" and not d.credential_pivot)


def _parameter_name(d: DatasetFinding) -> str:
    """The parameter's name as SSM wants it: hierarchical names start with '/', the ARN drops it."""
    if d.name:
        return d.name
    resource = d.arn.split(":parameter", 1)[-1]
    return resource if resource.count("/") > 1 else resource.lstrip("/")


def _access(levels: Iterable[str]) -> str:
    """``read+write``: the levels, weakest first (remembered: datasets share a few combinations)."""
    key = tuple(levels)
    text = _ACCESS_TEXT.get(key)
    if text is None:
        text = "+".join(sorted(key, key=level_rank))
        if len(_ACCESS_TEXT) < 256:
            _ACCESS_TEXT[key] = text
    return text


_ACCESS_TEXT: dict[tuple[str, ...], str] = {}


def _escalation_events(
    escalations: Sequence[Escalation], templates: RotationTemplates, iam_region: str, regions: Sequence[str]
) -> list[dict[str, str]]:
    """The CloudTrail events that would show each escalation's actions being used."""
    techniques: dict[str, list[str]] = {}
    services: dict[str, str] = {}
    for escalation in escalations:
        actions = escalation.actions or ((escalation.technique,) if ":" in escalation.technique else ())
        for action in actions:
            service, _, name = action.partition(":")
            if not name or "*" in name:
                continue
            event = templates.cloudtrail_events.get(action.lower(), name)
            if not event:
                continue
            techniques.setdefault(event, [])
            if escalation.technique not in techniques[event]:
                techniques[event].append(escalation.technique)
            services[event] = service
    everywhere = " ".join(shlex.quote(r) for r in regions)
    return [
        {
            "event_name": event,
            "event_regions": shlex.quote(iam_region) if services[event] in _GLOBAL_SERVICES else everywhere,
            "technique": ", ".join(techniques[event]),
        }
        for event in sorted(techniques)
    ]


def _escalation_checks(
    escalations: Sequence[Escalation], quoted: Mapping[str, str], regions: Sequence[str]
) -> list[dict[str, str]]:
    """Each fired technique's own checks (escalation.toml ``check``), filled in and shell-quoted."""
    out: dict[str, dict[str, str]] = {}
    for escalation in escalations:
        resource = escalation.resource or escalation.to
        role = escalation.role or ""
        region = _region_of(resource) or (regions[0] if regions else "us-east-1")
        values = {
            **quoted,
            **_shell_quoted(
                {
                    "actor_arn": escalation.from_,
                    "actor_name": short_name(escalation.from_).rsplit("/", 1)[-1],
                    "target_arn": resource,
                    "target_name": _resource_name(resource),
                    "role_arn": role,
                    "role_name": role.rsplit("/", 1)[-1],
                }
            ),
            "region": region,
        }
        for template in escalation.checks:
            command = template.format_map(values)
            entry = out.setdefault(command, {"check_command": command, "technique": escalation.technique})
            if escalation.technique not in entry["technique"].split(", "):
                entry["technique"] += f", {escalation.technique}"
    return list(out.values())


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and _REGION.match(parts[3]) else None


def _resource_name(arn: str) -> str:
    """The name an AWS CLI option wants: ``alice`` of ``user/alice``, the bucket, the instance id."""
    resource = arn.split(":", 5)[-1]
    return resource.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _gaps(coverage: Coverage | None) -> list[str]:
    """What the analysis could not see: collection gaps, and services that are not ``ok``."""
    if coverage is None:
        return []
    gaps = [g.describe() for g in coverage.gaps]
    described = {g.service for g in coverage.gaps}
    gaps.extend(
        f"{service}: {status}"
        for service, status in sorted(coverage.services.items())
        if status != "ok" and service not in described
    )
    return gaps

"""The Python API: ``collect``, ``analyze``, ``load_snapshot``, ``save_snapshot``.

These compose the stages (identify → collect → analyze) for the CLI and for scripts; the stages
themselves stay pure where they can. Live mode talks to AWS with boto3 (read-only calls only).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from blastradius import aws
from blastradius.analyze import analyze_snapshot, key_info_from_owner, utc_now
from blastradius.apply import ApplyObserver, ApplyResult, apply_plan, default_audit_log
from blastradius.audit import AuditReport
from blastradius.collect.cloudtrail import (
    EVENT_HISTORY_DAYS,
    CloudTrailEvidence,
    collect_key_evidence,
    evidence_from_lookup_output,
    parse_time,
)
from blastradius.collect.runner import Observer, collect_account
from blastradius.errors import IdentifyError, UsageError
from blastradius.evidence import ObjectCount, readable_prefixes
from blastradius.importers import load_snapshot
from blastradius.keys import (
    KeyOwner,
    Secret,
    identify_offline,
    identify_with_auditor,
    identify_with_secret,
    parse_access_key_id,
    principal_in_snapshot,
)
from blastradius.merge import merge_snapshots
from blastradius.model import Snapshot, dump_snapshot
from blastradius.report import KeyInfo, NotificationRow, Report

if TYPE_CHECKING:
    from blastradius.explain import Explanation
from blastradius.rules import RuleSet, load_rules

__all__ = [
    "LeakedCredentials",
    "LiveOptions",
    "analyze",
    "apply_containment",
    "audit",
    "collect",
    "explain",
    "load_snapshot",
    "load_snapshots",
    "save_snapshot",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveOptions:
    """How to reach AWS: the auditor's profile(s), roles to assume, regions and endpoint.

    Each of ``profiles`` (or ``profile``, or the default credential chain when neither is given) is one
    account; each of ``role_arns`` is assumed with the first of them and is one more account. Several
    accounts are collected one after the other and merged into one snapshot (``merge_snapshots``).
    """

    profile: str | None = None
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    endpoint_url: str | None = None
    profiles: tuple[str, ...] = ()
    role_arns: tuple[str, ...] = ()

    def profile_names(self) -> tuple[str | None, ...]:
        """The profiles to use, ``(None,)`` meaning the default credential chain."""
        return self.profiles or (self.profile,)


@dataclass(frozen=True, slots=True)
class _Account:
    """One account to collect: its session and how it was reached (for messages)."""

    session: boto3.Session
    label: str


def _accounts(live: LiveOptions) -> list[_Account]:
    """A session per profile, then one per role assumed with the first profile's credentials."""
    accounts = [
        _Account(aws.make_session(name), f"profile {name}" if name else "the default credentials")
        for name in dict.fromkeys(live.profile_names())
    ]
    base = accounts[0].session
    for role_arn in dict.fromkeys(live.role_arns):
        region = live.regions[0] if live.regions else None
        session = aws.assume_role_session(base, role_arn, endpoint_url=live.endpoint_url, region=region)
        accounts.append(_Account(session, f"role {role_arn}"))
    return accounts


@dataclass(frozen=True, slots=True, kw_only=True)
class LeakedCredentials:
    """The leaked secret (and session token), masked in every repr."""

    secret: Secret
    session_token: Secret | None = None

    @classmethod
    def from_input(cls, secret: str, token: str | None) -> LeakedCredentials:
        """Wrap raw input at once so that nothing downstream can print it."""
        return cls(secret=Secret(secret), session_token=Secret(token) if token else None)


def collect(
    live: LiveOptions, *, services: Iterable[str] | None = None, observer: Observer | None = None
) -> Snapshot:
    """Collect the auditor's account(s) (read-only) into a snapshot; several accounts are merged."""
    accounts = _accounts(live)
    regions = aws.resolve_regions(accounts[0].session, live.regions, live.all_regions, live.endpoint_url)
    return _collect(accounts, regions, live.endpoint_url, services=services, observer=observer)


def _collect(
    accounts: Sequence[_Account],
    regions: tuple[str, ...],
    endpoint_url: str | None,
    *,
    services: Iterable[str] | None = None,
    observer: Observer | None = None,
) -> Snapshot:
    """``collect`` with the sessions made and the regions resolved: one account after the other."""
    if observer is not None and hasattr(observer, "set_total"):
        from blastradius.collect.runner import select_collectors

        chosen = select_collectors(services)
        observer.set_total(len(accounts) * sum(len(regions) if c.regional else 1 for c in chosen))
    snapshots = []
    for account in accounts:
        watcher = observer
        if observer is not None and len(accounts) > 1:
            identity = aws.caller_identity(account.session, endpoint_url=endpoint_url, region=regions[0])
            watcher = _InAccount(observer, identity.account_id)
        snapshots.append(
            collect_account(
                account.session,
                regions=regions,
                endpoint_url=endpoint_url,
                services=services,
                observer=watcher,
            )
        )
    return merge_snapshots(snapshots, sources=[a.label for a in accounts])


class _InAccount:
    """Progress of one of several accounts: regions are reported as ``<account>/<region>``."""

    def __init__(self, observer: Observer, account_id: str) -> None:
        self._observer = observer
        self._account = account_id

    def on_start(self, service: str, region: str) -> None:
        """Forward, naming the account."""
        self._observer.on_start(service, f"{self._account}/{region}")

    def on_done(self, service: str, region: str, count: int, error: str | None) -> None:
        """Forward, naming the account."""
        self._observer.on_done(service, f"{self._account}/{region}", count, error)


def load_snapshots(paths: Sequence[Path]) -> Snapshot:
    """Load snapshot files (or GAAD output) and merge them: one account each, or merged ones."""
    if not paths:
        raise UsageError("no snapshot file given")
    return merge_snapshots([load_snapshot(p) for p in paths], sources=[str(p) for p in paths])


def _key_account(accounts: Sequence[_Account], key_id: str, live: LiveOptions) -> _Account:
    """The account whose credentials identify the key: the one the key id decodes to, when several."""
    parsed = parse_access_key_id(key_id)
    if len(accounts) == 1 or parsed.account_id is None:
        return accounts[0]
    region = live.regions[0] if live.regions else None
    seen: list[str] = []
    for account in accounts:
        identity = aws.caller_identity(account.session, endpoint_url=live.endpoint_url, region=region)
        if identity.account_id == parsed.account_id:
            return account
        seen.append(identity.account_id)
    raise IdentifyError(
        f"access key {parsed.masked} belongs to account {parsed.account_id} (decoded from the key id), "
        f"which is not among the accounts to collect ({', '.join(seen)})",
        hint=f"Add a --profile or --role-arn for account {parsed.account_id}.",
    )


def _identify_before_collect(
    session: boto3.Session, key_id: str, live: LiveOptions, leaked: LeakedCredentials | None
) -> KeyOwner:
    """Who owns the key, before anything is collected (so a key of another account fails fast).

    The auditor's credentials are checked first, and a key whose id decodes (offline) to another
    account is refused at once: the leaked key is never used when the analysis cannot go on anyway,
    since its sts:GetCallerIdentity shows in the key owner's CloudTrail. With the leaked secret: its
    own sts:GetCallerIdentity (then checked against the auditor's account); otherwise the auditor's
    sts:GetAccessKeyInfo / iam:GetAccessKeyLastUsed view.
    """
    region = live.regions[0] if live.regions else None
    parsed = parse_access_key_id(key_id)
    auditor = aws.caller_identity(
        session, endpoint_url=live.endpoint_url, region=region or aws.home_region(session)
    )
    if parsed.account_id is not None and parsed.account_id != auditor.account_id:
        # The offline decode is what identify_offline trusts too; asking AWS could only add a call.
        raise IdentifyError(
            f"access key {parsed.masked} belongs to account {parsed.account_id} (decoded from the key id), "
            f"but the auditor credentials are of account {auditor.account_id}",
            hint=f"Run again with auditor credentials of account {parsed.account_id} (--profile), "
            "or with a snapshot of that account.",
        )
    if leaked is None:
        return identify_with_auditor(session, key_id, endpoint_url=live.endpoint_url, region=region)
    caller = identify_with_secret(
        key_id, leaked.secret, leaked.session_token, endpoint_url=live.endpoint_url, region=region
    )
    if caller.account_id != auditor.account_id:
        raise IdentifyError(
            f"the leaked key belongs to account {caller.account_id}, but the auditor credentials are of "
            f"account {auditor.account_id}",
            hint=f"Run again with auditor credentials of account {caller.account_id} (--profile).",
        )
    return KeyOwner(
        access_key_id=parsed.access_key_id,
        account_id=caller.account_id,
        kind=parsed.kind,
        identified_by="sts:GetCallerIdentity (with the leaked key)",
        principal_arn=caller.principal_arn,
    )


def _named_owner(snapshot: Snapshot, key_id: str, principal: str) -> KeyOwner:
    """The owner the responder named with ``--principal``, checked against the snapshot."""
    parsed = parse_access_key_id(key_id)
    arn = principal
    if not principal.startswith("arn:"):
        arn = f"arn:{snapshot.partition}:iam::{snapshot.account_id}:user/{principal}"
    found = principal_in_snapshot(snapshot, arn)
    if found is None:
        raise UsageError(
            f"--principal {principal!r} is not a user or role in the snapshot of account "
            f"{snapshot.account_id}",
            hint="Give the user name, or the user's or role's ARN as the snapshot lists it.",
        )
    try:
        listed: KeyOwner | None = identify_offline(snapshot, key_id)
    except IdentifyError:
        if parsed.account_id not in (None, snapshot.account_id):
            raise  # the key is of another account: naming a principal here cannot make it ours
        listed = None
    if listed is not None and listed.principal_arn not in (None, found):
        raise UsageError(
            f"the snapshot lists access key {parsed.masked} under {listed.principal_arn}, not {found}",
            hint="Drop --principal: the snapshot already knows the key's owner.",
        )
    if listed is not None and listed.principal_arn is not None:
        return listed
    return KeyOwner(
        access_key_id=parsed.access_key_id,
        account_id=snapshot.account_id,
        kind=parsed.kind,
        identified_by="--principal (named by the responder)",
        principal_arn=found,
        user_name=found.rsplit("/", 1)[-1] if ":user/" in found else None,
    )


def _complete_owner(owner: KeyOwner, snapshot: Snapshot) -> KeyOwner:
    """Fill what the snapshot knows: the principal's ARN with its path, key status and last use."""
    try:
        listed = identify_offline(snapshot, owner.access_key_id) if owner.kind == "long-term" else None
    except IdentifyError:
        listed = None
    principal = owner.principal_arn or (listed.principal_arn if listed else None)
    if principal is not None:
        principal = principal_in_snapshot(snapshot, principal) or principal
    if listed is None:
        return dataclasses.replace(owner, principal_arn=principal)
    return dataclasses.replace(
        listed,
        principal_arn=principal,
        identified_by=owner.identified_by,
        last_used_date=owner.last_used_date or listed.last_used_date,
        last_used_service=owner.last_used_service or listed.last_used_service,
        last_used_region=owner.last_used_region or listed.last_used_region,
    )


def analyze(
    key_id: str,
    *,
    snapshot: Path | Snapshot | Sequence[Path] | None = None,
    live: LiveOptions | None = None,
    leaked: LeakedCredentials | None = None,
    policies: Path | None = None,
    context_overrides: Mapping[str, str] | None = None,
    observer: Observer | None = None,
    principal: str | None = None,
    exposed_since: str | None = None,
    paths: str = "first",
    self_view: bool = False,
    evidence: bool = True,
    events_file: Path | None = None,
    session: boto3.Session | None = None,
    jobs: int | None = None,
) -> Report:
    """Analyse one leaked key, offline from a snapshot or live (identify, collect, analyze).

    ``self_view``: no auditor credentials at all — the leaked key reads what it can about itself
    (``collect.selfview``) and that partial view is analysed; needs ``leaked``.

    Live, ``evidence`` (default on) also reads CloudTrail with the auditor credentials: the key's events
    in the exposure window (LookupEvents by AccessKeyId in every collected region and the IAM region)
    and the trails' configuration; and counts the objects of sensitive buckets (bounded listing) for the
    notification table. Offline, ``events_file`` is saved ``aws cloudtrail lookup-events`` output.
    ``session`` replaces the session built from ``live.profile`` (scripts that bring their own).

    ``paths="all"`` lists every distinct path of equal best cost per dataset (``paths`` in the report).

    ``exposed_since`` (ISO 8601 date or time) starts the investigation window of the runbook; by
    default it is the key's creation date.

    ``principal`` (snapshot mode only) names the key's owner, user name or ARN, when the snapshot cannot
    tell: raw get-account-authorization-details output lists no access keys.

    ``jobs``: processes the analysis may use (default: the CPUs available); the report does not depend
    on it.
    """
    parse_access_key_id(key_id)  # a malformed key id fails before any AWS call
    rules = load_rules(policies)
    if snapshot is not None:
        if isinstance(snapshot, Path):
            snap = load_snapshot(snapshot)
        elif isinstance(snapshot, Snapshot):
            snap = snapshot
        else:
            snap = load_snapshots(snapshot)
        key_info = key_info_from_owner(_named_owner(snap, key_id, principal)) if principal else None
        trail = None
        if events_file is not None:
            trail = _events_from_file(events_file, snap, key_id, key_info, exposed_since)
        return analyze_snapshot(
            snap,
            key_id,
            rules=rules,
            key_info=key_info,
            context_overrides=context_overrides,
            exposed_since=exposed_since,
            paths=paths,
            trail_evidence=trail,
            jobs=jobs,
        )
    if events_file is not None:
        raise UsageError("--cloudtrail-events applies with --snapshot; live, CloudTrail is read directly")
    if principal is not None:
        raise UsageError("--principal only applies with --snapshot", hint="Live, AWS tells the key's owner.")
    live = live or LiveOptions()
    if self_view:
        if leaked is None:
            raise UsageError(
                "--self-view acts as the leaked key and needs its secret",
                hint="Give it on stdin with --secret-stdin (the CLI never takes a secret as an argument).",
            )
        return _self_view(key_id, leaked, live, rules, context_overrides, exposed_since)
    accounts = _accounts(live)
    if session is not None:
        accounts[0] = _Account(session, "the session given")
    # Regions first: a misspelt --region must fail before any call is sent to a region that is not there.
    regions = aws.resolve_regions(accounts[0].session, live.regions, live.all_regions, live.endpoint_url)
    live = dataclasses.replace(live, regions=regions, all_regions=False)
    key_session = _key_account(accounts, key_id, live).session
    owner = _identify_before_collect(key_session, key_id, live, leaked)
    snap = _collect(accounts, regions, live.endpoint_url, observer=observer)
    owner = _complete_owner(owner, snap)
    key_info = key_info_from_owner(owner)
    # CloudTrail and the object counts: the auditor credentials of the key's own account.
    clients = aws.ClientFactory(key_session, live.endpoint_url)
    trail = None
    if evidence:
        trail = _live_evidence(clients, snap, key_id, key_info, exposed_since)
    return analyze_snapshot(
        snap,
        key_id,
        rules=rules,
        key_info=key_info,
        context_overrides=context_overrides,
        exposed_since=exposed_since,
        paths=paths,
        trail_evidence=trail,
        evidence_absent_reason="--no-evidence",
        object_counter=(
            (lambda rows, principals: _count_sensitive_buckets(clients, rows, principals, snap, key_info))
            if evidence
            else None
        ),
        jobs=jobs,
    )


def audit(
    *,
    snapshot: Path | Snapshot | Sequence[Path] | None = None,
    live: LiveOptions | None = None,
    policies: Path | None = None,
    context_overrides: Mapping[str, str] | None = None,
    observer: Observer | None = None,
    jobs: int | None = None,
) -> AuditReport:
    """Rank every access key of the account(s) by blast radius: offline from one snapshot or several
    (merged), or live (the auditor's credentials collect once; no key is analysed on its own)."""
    from blastradius.audit import audit_snapshot

    rules = load_rules(policies)
    if isinstance(snapshot, Path):
        snap = load_snapshot(snapshot)
    elif isinstance(snapshot, Snapshot):
        snap = snapshot
    elif snapshot is not None:
        snap = load_snapshots(snapshot)  # several accounts: merged into one graph
    else:
        snap = collect(live or LiveOptions(), observer=observer)
    return audit_snapshot(snap, rules=rules, context_overrides=context_overrides, jobs=jobs)


def _self_view(
    key_id: str,
    leaked: LeakedCredentials,
    live: LiveOptions,
    rules: RuleSet,
    context_overrides: Mapping[str, str] | None,
    exposed_since: str | None,
) -> Report:
    """Collect what the key can read about itself, as the key, and analyse that (labelled partial)."""
    from blastradius.collect.selfview import collect_self_view

    parsed = parse_access_key_id(key_id)
    result = collect_self_view(
        key_id,
        leaked.secret,
        leaked.session_token,
        regions=live.regions,
        endpoint_url=live.endpoint_url,
    )
    snap = result.snapshot
    how = "sts:GetCallerIdentity (self-view, as the leaked key)"
    try:
        owner = dataclasses.replace(identify_offline(snap, key_id), identified_by=how)
    except IdentifyError:
        owner = KeyOwner(
            access_key_id=parsed.access_key_id,
            account_id=result.caller.account_id,
            kind=parsed.kind,
            identified_by=how,
            principal_arn=result.principal_arn,
        )
    owner = dataclasses.replace(owner, principal_arn=result.principal_arn)
    report = analyze_snapshot(
        snap,
        key_id,
        rules=rules,
        key_info=key_info_from_owner(owner),
        context_overrides=context_overrides,
        exposed_since=exposed_since,
    )
    return dataclasses.replace(report, self_view=result.view)


def _window(exposed_since: str | None, key_info: KeyInfo) -> tuple[datetime, datetime]:
    from blastradius.evidence import window_start

    now = utc_now()
    start, _ = window_start(exposed_since, key_info.created)
    begin = parse_time(start) if start else now - timedelta(days=EVENT_HISTORY_DAYS)
    return begin, now


def _live_evidence(
    clients: aws.ClientFactory, snap: Snapshot, key_id: str, key_info: KeyInfo, exposed_since: str | None
) -> CloudTrailEvidence:
    """The key's CloudTrail events (auditor credentials), in the IAM region and every collected region."""
    begin, end = _window(exposed_since, key_info)
    iam_region = {"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}.get(snap.partition, "us-east-1")
    regions = (iam_region, *snap.regions)
    return collect_key_evidence(clients, key_id, regions, start=begin, end=end)


def _events_from_file(
    path: Path, snap: Snapshot, key_id: str, key_info: KeyInfo | None, exposed_since: str | None
) -> CloudTrailEvidence:
    from blastradius.model import load_json_file

    owner = key_info or key_info_from_owner(identify_offline(snap, key_id))
    begin, end = _window(exposed_since, owner)
    try:
        return evidence_from_lookup_output(
            load_json_file(path),
            parse_access_key_id(key_id).access_key_id,
            start=begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            source=str(path),
        )
    except ValueError as e:
        raise UsageError(str(e), hint="Save it with `aws cloudtrail lookup-events ... --output json`.") from e


def _count_sensitive_buckets(
    clients: aws.ClientFactory,
    rows: Sequence[NotificationRow],
    principal_arns: Sequence[str],
    snap: Snapshot,
    key_info: KeyInfo,
) -> dict[str, ObjectCount]:
    """Bounded object counts of the S3 buckets in the notification table, under the prefixes the key's
    principals may read (failures: left uncounted, and the row says so)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from blastradius.collect.s3 import COUNT_BOUND, count_objects

    counts: dict[str, ObjectCount] = {}
    home = snap.regions[0] if snap.regions else "us-east-1"
    principals = [*principal_arns, *([key_info.principal_arn] if key_info.principal_arn else [])]
    for row in rows:
        if row.type != "s3-bucket":
            continue
        region = row.region if row.region != "unknown" else home
        prefixes = readable_prefixes(snap, principals, row.name) or ("",)
        total, truncated = 0, False
        try:
            for prefix in prefixes:
                count, cut = count_objects(
                    clients("s3", region), row.name, prefix=prefix, bound=COUNT_BOUND - total
                )
                total += count
                if cut or total >= COUNT_BOUND:
                    truncated = cut or total >= COUNT_BOUND
                    break
        except (ClientError, BotoCoreError):
            continue
        counts[row.arn] = ObjectCount(count=total, truncated=truncated, bound=COUNT_BOUND, prefixes=prefixes)
    return counts


def explain(
    key_id: str,
    dataset: str,
    *,
    snapshot: Path | Snapshot,
    level: str | None = None,
    principal: str | None = None,
    policies: Path | None = None,
    context_overrides: Mapping[str, str] | None = None,
) -> Explanation:
    """Why ``dataset`` (name or ARN) is reachable from the key in a snapshot, or which guard stops it."""
    from blastradius.explain import explain_dataset

    snap = load_snapshot(snapshot) if isinstance(snapshot, Path) else snapshot
    owner = _named_owner(snap, key_id, principal) if principal else identify_offline(snap, key_id)
    if owner.principal_arn is None:
        raise UsageError(
            f"the snapshot does not say who owns {parse_access_key_id(key_id).masked}",
            hint="Name the owner with --principal.",
        )
    return explain_dataset(
        snap,
        key_id,
        dataset,
        origin=owner.principal_arn,
        level=level,
        rules=load_rules(policies),
        context_overrides=context_overrides,
        now=utc_now(),
    )


def save_snapshot(snapshot: Snapshot, path: Path) -> None:
    """Write a snapshot file with mode 0600."""
    dump_snapshot(snapshot, path)


def write_private(path: Path, text: str | bytes) -> None:
    """Write a report file readable by its owner only (0600): it maps an account's exposure. ``text``
    may be the UTF-8 bytes already (written as they are)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    if isinstance(text, bytes):
        with os.fdopen(fd, "wb") as out:
            out.write(text)
        return
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for start in range(0, len(text), _CHUNK):  # encoded a chunk at a time, not all at once
            fh.write(text[start : start + _CHUNK])


_CHUNK = 1 << 20


def apply_containment(
    report: Report,
    live: LiveOptions | None = None,
    *,
    audit_log: Path | None = None,
    observer: ApplyObserver | None = None,
    session: boto3.Session | None = None,
) -> ApplyResult:
    """Execute the report's automatable containment steps (``rotate --apply``) with the auditor's
    credentials, which need the write permissions listed in the README; see ``blastradius.apply``."""
    live = live or LiveOptions()
    session = session or aws.make_session(live.profile)
    region = live.regions[0] if live.regions else aws.home_region(session)
    iam = aws.client(session, "iam", region, live.endpoint_url)
    return apply_plan(
        report.rotation_plan,
        iam,
        audit_log=audit_log or default_audit_log(report.key.access_key_id),
        key_id=report.key.access_key_id,
        observer=observer,
    )

"""The Python API: ``collect``, ``analyze``, ``load_snapshot``, ``save_snapshot``.

These compose the stages (identify → collect → analyze) for the CLI and for scripts; the stages
themselves stay pure where they can. Live mode talks to AWS with boto3 (read-only calls only).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from blastradius import aws
from blastradius.analyze import analyze_snapshot, key_info_from_owner
from blastradius.collect.runner import Observer, collect_account
from blastradius.errors import IdentifyError
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
from blastradius.model import Snapshot, dump_snapshot
from blastradius.report import Report
from blastradius.rules import load_rules

__all__ = ["LeakedCredentials", "LiveOptions", "analyze", "collect", "load_snapshot", "save_snapshot"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveOptions:
    """How to reach AWS: the auditor's profile, regions and endpoint."""

    profile: str | None = None
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    endpoint_url: str | None = None


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
    """Collect the auditor's account (read-only) into a snapshot."""
    session = aws.make_session(live.profile)
    regions = aws.resolve_regions(session, live.regions, live.all_regions, live.endpoint_url)
    if observer is not None and hasattr(observer, "set_total"):
        from blastradius.collect.runner import select_collectors

        chosen = select_collectors(services)
        observer.set_total(sum(len(regions) if c.regional else 1 for c in chosen))
    return collect_account(
        session, regions=regions, endpoint_url=live.endpoint_url, services=services, observer=observer
    )


def _identify_before_collect(key_id: str, live: LiveOptions, leaked: LeakedCredentials | None) -> KeyOwner:
    """Who owns the key, before anything is collected (so a key of another account fails fast).

    With the leaked secret: its own sts:GetCallerIdentity (then checked against the auditor's account);
    otherwise the auditor's sts:GetAccessKeyInfo / iam:GetAccessKeyLastUsed view.
    """
    session = aws.make_session(live.profile)
    region = live.regions[0] if live.regions else None
    if leaked is None:
        return identify_with_auditor(session, key_id, endpoint_url=live.endpoint_url, region=region)
    caller = identify_with_secret(
        key_id, leaked.secret, leaked.session_token, endpoint_url=live.endpoint_url, region=region
    )
    auditor = aws.caller_identity(
        session, endpoint_url=live.endpoint_url, region=region or aws.home_region(session)
    )
    if caller.account_id != auditor.account_id:
        raise IdentifyError(
            f"the leaked key belongs to account {caller.account_id}, but the auditor credentials are of "
            f"account {auditor.account_id}",
            hint=f"Run again with auditor credentials of account {caller.account_id} (--profile).",
        )
    parsed = parse_access_key_id(key_id)
    return KeyOwner(
        access_key_id=parsed.access_key_id,
        account_id=caller.account_id,
        kind=parsed.kind,
        identified_by="sts:GetCallerIdentity (with the leaked key)",
        principal_arn=caller.principal_arn,
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
    snapshot: Path | Snapshot | None = None,
    live: LiveOptions | None = None,
    leaked: LeakedCredentials | None = None,
    policies: Path | None = None,
    context_overrides: Mapping[str, str] | None = None,
    observer: Observer | None = None,
) -> Report:
    """Analyse one leaked key, offline from a snapshot or live (identify, collect, analyze)."""
    parse_access_key_id(key_id)  # a malformed key id fails before any AWS call
    rules = load_rules(policies)
    if snapshot is not None:
        snap = load_snapshot(snapshot) if isinstance(snapshot, Path) else snapshot
        return analyze_snapshot(snap, key_id, rules=rules, context_overrides=context_overrides)
    live = live or LiveOptions()
    owner = _identify_before_collect(key_id, live, leaked)
    snap = collect(live, observer=observer)
    owner = _complete_owner(owner, snap)
    return analyze_snapshot(
        snap, key_id, rules=rules, key_info=key_info_from_owner(owner), context_overrides=context_overrides
    )


def save_snapshot(snapshot: Snapshot, path: Path) -> None:
    """Write a snapshot file with mode 0600."""
    dump_snapshot(snapshot, path)


def write_private(path: Path, text: str) -> None:
    """Write a report file readable by its owner only (0600): it maps an account's exposure."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)

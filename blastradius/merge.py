"""Merge the snapshots of several accounts into one, so that one graph spans them all.

Everything keyed by ARN simply joins (ARNs carry their account); AWS managed policies, which every
account holds under the same ``arn:aws:iam::aws:policy/...`` ARN, are kept once. What is per account
says which account it belongs to:

* ``Snapshot.accounts`` lists every account id, the first one (``account_id``) first;
* each ``CollectionGap`` gets its ``account_id``;
* ``services`` keeps one entry per service with the combined status (``ok`` only when it is ``ok`` in
  every account, the shared status when all agree, else ``partial``), plus one entry per account and
  service keyed ``"<account id>/<service>"`` (e.g. ``"222222222222/kms": "AccessDenied"``), so a
  script can still ask "was KMS seen in account B";
* warnings are prefixed with their account.

Collecting one account twice is an error (which of two answers would be true?), as is mixing
partitions (no trust can cross them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from blastradius.errors import SnapshotError
from blastradius.model import ManagedPolicy, Organization, Snapshot

MERGED_SOURCE = "merged"
_SEPARATOR = "/"


def snapshot_accounts(snapshot: Snapshot) -> tuple[str, ...]:
    """The account ids a snapshot describes (its own, or every merged one)."""
    return snapshot.accounts or (snapshot.account_id,)


def account_services(snapshot: Snapshot) -> dict[str, dict[str, str]]:
    """Service status per account: ``{account: {service: status}}`` (see the module docstring)."""
    accounts = snapshot_accounts(snapshot)
    if len(accounts) == 1:
        return {accounts[0]: {k: v for k, v in snapshot.services.items() if _SEPARATOR not in k}}
    out: dict[str, dict[str, str]] = {a: {} for a in accounts}
    for key, status in snapshot.services.items():
        account, sep, service = key.partition(_SEPARATOR)
        if sep and account in out:
            out[account][service] = status
    return out


def merge_snapshots(snapshots: Sequence[Snapshot], *, sources: Sequence[str] | None = None) -> Snapshot:
    """One snapshot of every account in ``snapshots`` (a single snapshot is returned unchanged).

    ``sources`` name the inputs (file names, profiles) in errors; raises ``SnapshotError`` when an
    account appears twice or the partitions differ.
    """
    if not snapshots:
        raise SnapshotError("no snapshot to merge")
    if len(snapshots) == 1:
        return snapshots[0]
    names = list(sources) if sources is not None else [f"snapshot {i + 1}" for i in range(len(snapshots))]
    _check_disjoint(snapshots, names)
    partitions = {s.partition for s in snapshots}
    if len(partitions) > 1:
        raise SnapshotError(
            f"the snapshots are of different partitions ({', '.join(sorted(partitions))}); "
            "no role trust or resource policy can cross partitions",
            hint="Analyse each partition's accounts separately.",
        )
    first = snapshots[0]
    accounts = tuple(a for s in snapshots for a in snapshot_accounts(s))
    per_account: dict[str, dict[str, str]] = {}
    for s in snapshots:
        per_account.update(account_services(s))
    warnings = [
        w if len(snapshot_accounts(s)) > 1 else f"account {s.account_id}: {w}"
        for s in snapshots
        for w in s.warnings
    ]
    policies, policy_warnings = _managed_policies(s.managed_policies for s in snapshots)
    organization, org_warnings = _organization([s.organization for s in snapshots if s.organization])
    sources_seen = {s.source for s in snapshots}
    return Snapshot(
        account_id=first.account_id,
        collected_at=min(s.collected_at for s in snapshots),
        regions=tuple(dict.fromkeys(r for s in snapshots for r in s.regions)),
        partition=first.partition,
        source=sources_seen.pop() if len(sources_seen) == 1 else MERGED_SOURCE,
        users=tuple(u for s in snapshots for u in s.users),
        groups=tuple(g for s in snapshots for g in s.groups),
        roles=tuple(r for s in snapshots for r in s.roles),
        managed_policies=policies,
        datasets=tuple(d for s in snapshots for d in s.datasets),
        gaps=tuple(
            g if g.account_id else dataclasses.replace(g, account_id=s.account_id)
            for s in snapshots
            for g in s.gaps
        ),
        services=_services(per_account),
        warnings=(*warnings, *policy_warnings, *org_warnings),
        organization=organization,
        instance_profiles=tuple(p for s in snapshots for p in s.instance_profiles),
        compute=tuple(c for s in snapshots for c in s.compute),
        accounts=accounts,
    )


def _check_disjoint(snapshots: Sequence[Snapshot], names: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for snapshot, name in zip(snapshots, names, strict=True):
        for account in snapshot_accounts(snapshot):
            if account in seen:
                raise SnapshotError(
                    f"account {account} is in both {seen[account]} and {name}",
                    hint="Give each account once (one --snapshot, --profile or --role-arn per account).",
                )
            seen[account] = name


def _services(per_account: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Combined status per service, then ``account/service`` entries."""
    names = sorted({s for services in per_account.values() for s in services})
    combined: dict[str, str] = {}
    for name in names:
        statuses = {services.get(name, "not collected") for services in per_account.values()}
        combined[name] = statuses.pop() if len(statuses) == 1 else "partial"
    for account, services in per_account.items():
        for name, status in sorted(services.items()):
            combined[f"{account}{_SEPARATOR}{name}"] = status
    return combined


def _managed_policies(
    groups: Iterable[Sequence[ManagedPolicy]],
) -> tuple[tuple[ManagedPolicy, ...], tuple[str, ...]]:
    """Managed policies once per ARN (AWS managed ones are in every account)."""
    by_arn: dict[str, ManagedPolicy] = {}
    warnings: list[str] = []
    for policies in groups:
        for policy in policies:
            known = by_arn.get(policy.arn)
            if known is None:
                by_arn[policy.arn] = policy
            elif known.document != policy.document:
                warnings.append(
                    f"AWS managed policy {policy.arn} differs between the snapshots (collected at different "
                    f"times?); the version {known.default_version_id or '?'} of the first one is used"
                )
    return tuple(by_arn.values()), tuple(warnings)


def _organization(orgs: Sequence[Organization]) -> tuple[Organization | None, tuple[str, ...]]:
    """One organization: the accounts' places and policies joined when they share it."""
    if not orgs:
        return None, ()
    first = orgs[0]
    others = [o for o in orgs[1:] if o.org_id != first.org_id]
    warnings = tuple(
        f"accounts of organization {o.org_id} are merged with organization {first.org_id}: only the SCPs "
        f"and RCPs of {first.org_id} are applied"
        for o in others
    )
    same = [o for o in orgs if o.org_id == first.org_id]
    policies = {p.policy_id: p for o in same for p in o.policies}
    paths = {a: p for o in same for a, p in o.account_paths.items()}
    types = tuple(dict.fromkeys(t for o in same for t in o.enabled_policy_types))
    merged = dataclasses.replace(
        first, account_paths=paths, policies=tuple(policies.values()), enabled_policy_types=types
    )
    return merged, warnings

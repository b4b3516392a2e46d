"""The permission graph: principals and datasets joined by ``assume``, ``escalate`` and ``access`` edges.

Edges are computed by asking the policy engine, never by matching action names. The graph is built
lazily: ``PermissionGraph.expand(arn)`` computes one principal's outgoing edges the first time a search
reaches it, so analysing one key touches only the part of the account that key can reach, while
``expand_all()`` builds everything (for audits). Candidate resources come from an index driven by the
principal's own Allow statements (DESIGN.md §4): a statement reaches the datasets its resource patterns
select by literal ARN prefix; resource policies that name the principal add theirs. Nothing evaluates
every (principal, action, resource) triple.

Speed (DESIGN.md §4): datasets of each type are indexed by position in ARN order
(``AccountModel.type_index(type)`` → ``DatasetIndex``), and sets of datasets are Python ints used as
bitsets (``bits``, ``mask_of``). Per statement — cached, so shared by every principal a policy is
attached to — the model keeps which datasets it applies to (``statement_masks``); per principal and
(type, level), a class of actions is then decided for all datasets at once: allows & ~denies &
boundary & every SCP level (``_mask_decide``). Only what pattern matching cannot settle (resource
policies naming the principal, RCPs, unsettled conditions, sub-resource picks) goes to the full engine
one dataset at a time. KMS key use, assume-role and key decisions are shared between principals that
the policies involved cannot tell apart. A search passes a ``GrantFloor`` (grants it holds at a cost
the expanded principal cannot beat) so that those are not even looked at.

For bulk consumers (``audit``): ``expand(arn)`` returns the edges out of one principal, with evidence;
``access_masks(arn)`` gives the same principal's *direct* access grants as bitsets per (dataset type,
level) over ``model.type_index(type)``, split into definite and conditional, cheap to OR along the
principal graph (reach of every principal by strongly connected components).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from blastradius.errors import PolicyError
from blastradius.model import (
    DYNAMODB_TABLE,
    KMS_KEY,
    RCP,
    SCP,
    Dataset,
    ManagedPolicy,
    OrgPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
)
from blastradius.policy import (
    RCP_SUPPORTED_SERVICES,
    Choice,
    Context,
    Decision,
    KeyState,
    Policy,
    PrincipalMatch,
    Request,
    RequestPrincipal,
    Statement,
    Tri,
    Verdict,
    decide,
    parse_policy,
    rcps_apply,
)
from blastradius.policy.conditions import Clause
from blastradius.policy.s3access import effective_resource_policy
from blastradius.report import CONDITIONAL, DEFINITE, LEVELS, PathStep, _direct_init
from blastradius.rules import RuleSet, expand_resource

ASSUME = "assume"
ACCESS = "access"
ESCALATE = "escalate"

ASSUME_ACTION = "sts:AssumeRole"
_NOT_DIRECT = frozenset({PrincipalMatch.NONE, PrincipalMatch.ACCOUNT})


@_direct_init  # a search builds ~124,000 access edges at 10k: slots filled directly
@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """Evidence for one edge: how ``source`` reaches ``target``, and how sure we are."""

    source: str
    target: str
    kind: str  # assume | access | escalate
    certainty: str
    actions: tuple[str, ...]
    policy: str | None
    statement: str | None
    conditions: tuple[str, ...] = ()
    level: str | None = None  # access edges: list | read | write | admin
    technique: str | None = None  # escalate edges


def path_step(edge: Edge) -> PathStep:
    """An evidenced edge as a report path step."""
    return PathStep(
        from_=edge.source,
        to=edge.target,
        kind=edge.kind,
        actions=edge.actions,
        policy=edge.policy,
        statement=edge.statement,
        certainty=edge.certainty,
        conditions=edge.conditions,
        technique=edge.technique,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """A user or role with its compiled policies, ready for the engine."""

    arn: str
    kind: str  # user | role
    name: str
    account_id: str
    identity_policies: tuple[Policy, ...]
    boundary: Policy | None
    request_principal: RequestPrincipal
    trust_policy: Policy | None = None
    # The SCPs that govern it, per level root first (none: management account, service-linked role,
    # no organization collected): each level must allow (Policy evaluation logic).
    scps: tuple[tuple[Policy, ...], ...] = ()


# ARN services of the resources RCPs may constrain, a pre-filter of ``rcps``: the services RCPs support
# (``policy.evaluate.RCP_SUPPORTED_SERVICES``: AWS Organizations User Guide, "List of AWS services that
# support RCPs", with its source and date), plus "iam" because the resource sts:AssumeRole authorizes is an
# IAM role ARN. ``decide`` then applies RCPs by the request's action only (iam:* actions: never).
RCP_SERVICES = RCP_SUPPORTED_SERVICES | {"iam"}


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _prefix(pattern: str) -> str:
    """The literal part of an ARN pattern before its first wildcard or policy variable."""
    cut = len(pattern)
    for ch in "*?$":
        i = pattern.find(ch)
        if i != -1:
            cut = min(cut, i)
    return pattern[:cut]


def _resource_part(arn: str) -> str | None:
    """The resource field of an ARN (after the fifth colon); None when the text is no ARN."""
    parts = arn.split(":", 5)
    return parts[5] if len(parts) == 6 else None


class _PrefixIndex:
    """ARNs sorted by their resource field, to select what a resource pattern can match.

    Keyed by the resource field rather than the whole ARN so that the usual region and account
    wildcards (``arn:aws:dynamodb:*:*:table/orders-*``) still select by ``table/orders-``.
    """

    def __init__(self, arns: Iterable[str]) -> None:
        by_resource: dict[str, list[str]] = {}
        for arn in set(arns):
            by_resource.setdefault(_resource_part(arn) or arn, []).append(arn)
        self._keys = sorted(by_resource)
        self._by_resource = {k: tuple(v) if len(v) == 1 else tuple(sorted(v)) for k, v in by_resource.items()}

    def select(self, pattern: str) -> Iterator[str]:
        """ARNs the pattern may concern (a superset of its matches): those whose resource field starts
        with the pattern's literal resource prefix, and those the prefix extends into a sub-resource
        (``arn:aws:s3:::bucket/*`` concerns ``arn:aws:s3:::bucket``)."""
        resource = _resource_part(pattern)
        if resource is None:
            yield from self  # "*" or a pattern without six fields: anything may match
            return
        prefix = _prefix(resource)
        for i, ch in enumerate(prefix):
            if ch == "/":
                yield from self._by_resource.get(prefix[:i], ())
        keys = self._keys
        i = bisect.bisect_left(keys, prefix)
        while i < len(keys) and keys[i].startswith(prefix):
            yield from self._by_resource[keys[i]]
            i += 1

    def __iter__(self) -> Iterator[str]:
        for key in self._keys:
            yield from self._by_resource[key]


class _PositionPrefixes:
    """``_PrefixIndex`` over the ARNs of a ``DatasetIndex``, answering with bitsets over its positions
    (``DatasetIndex.mask`` of what ``_PrefixIndex.select`` yields, without the ARNs in between)."""

    __slots__ = ("_by_resource", "_everything", "_keys")

    def __init__(self, arns: Sequence[str]) -> None:
        by_resource: dict[str, list[int]] = {}
        for pos, arn in enumerate(arns):
            by_resource.setdefault(_resource_part(arn) or arn, []).append(pos)
        self._by_resource = by_resource
        self._keys = sorted(by_resource)
        self._everything = (1 << len(arns)) - 1

    def mask(self, pattern: str) -> int:
        """The datasets ``_PrefixIndex.select(pattern)`` concerns, as a bitset."""
        resource = _resource_part(pattern)
        if resource is None:
            return self._everything  # "*" or a pattern without six fields: anything may match
        prefix = _prefix(resource)
        if not prefix:
            return self._everything  # every resource field starts with ""
        by_resource = self._by_resource
        positions: list[int] = []
        for i, ch in enumerate(prefix):
            if ch == "/":
                positions.extend(by_resource.get(prefix[:i], ()))
        keys = self._keys
        lo = bisect.bisect_left(keys, prefix)
        hi = bisect.bisect_left(keys, prefix + "\U0010ffff", lo)
        while hi < len(keys) and keys[hi].startswith(prefix):  # a key going on with U+10FFFF itself
            hi += 1
        for key in keys[lo:hi]:
            positions.extend(by_resource[key])
        return mask_of(positions)


def _without(mask: int, other: int) -> int:
    """``mask & ~other``, without building ``~other``: CPython makes a negative int of a wide bitset and
    ANDs with it several times slower than the bitwise steps here (35,000 bits: ~1.9 us against ~0.4 us),
    and the data pass does this for every principal, type, level, action class and statement."""
    return mask ^ (mask & other)


def bits(mask: int) -> list[int]:
    """Positions of the set bits of ``mask``, ascending (one Python step per set bit)."""
    if not mask:
        return []
    text = format(mask, "b")[::-1]
    out: list[int] = []
    i = text.find("1")
    while i != -1:
        out.append(i)
        i = text.find("1", i + 1)
    return out


def mask_of(positions: Iterable[int]) -> int:
    """The bitset with the given positions set."""
    found = list(positions)
    if len(found) < 32:
        mask = 0
        for pos in found:
            mask |= 1 << pos
        return mask
    buf = bytearray((max(found) >> 3) + 1)
    for pos in found:
        buf[pos >> 3] |= 1 << (pos & 7)
    return int.from_bytes(buf, "little")


class DatasetIndex:
    """The datasets of one type in ARN order: bit ``i`` of a mask over this type is ``arns[i]``."""

    __slots__ = (
        "_accounts",
        "_foreign",
        "_groups",
        "_regions",
        "_signatures",
        "arns",
        "datasets",
        "policy_mask",
        "position",
    )

    def __init__(self, datasets: Iterable[Dataset], policies: Mapping[str, object | None]) -> None:
        self.datasets: tuple[Dataset, ...] = tuple(sorted(datasets, key=lambda d: d.arn))
        self.arns: tuple[str, ...] = tuple(d.arn for d in self.datasets)
        self.position: dict[str, int] = {arn: i for i, arn in enumerate(self.arns)}
        # Datasets with a resource (or key) policy: always decided per dataset.
        self.policy_mask = mask_of(i for i, d in enumerate(self.datasets) if policies.get(d.arn) is not None)
        self._signatures: dict[int, tuple[object, ...]] = {}
        self._accounts: dict[str, int] | None = None
        self._foreign: dict[str, int] = {}  # foreign_bare per account
        self._regions: dict[str, int] | None = None
        self._groups: dict[bool, list[tuple[tuple[object, ...], int, int]]] = {}

    def signature_groups(self, aliases: bool = True) -> list[tuple[tuple[object, ...], int, int]]:
        """(signature, mask of the datasets with it, one of them) per distinct ``signature``: datasets a
        request context cannot tell apart (a few hundred per type in a large account); without
        ``aliases``, for conditions that do not read a KMS key's aliases."""
        found = self._groups.get(aliases)
        if found is None:
            positions: dict[tuple[object, ...], list[int]] = {}
            for pos in range(len(self.arns)):
                positions.setdefault(self.signature(pos, aliases), []).append(pos)
            found = self._groups[aliases] = [(sig, mask_of(at), at[0]) for sig, at in positions.items()]
        return found

    def account_masks(self) -> dict[str, int]:
        """Account id -> the datasets of that account."""
        if self._accounts is None:
            by_account: dict[str, list[int]] = {}
            for i, d in enumerate(self.datasets):
                by_account.setdefault(d.account_id, []).append(i)
            self._accounts = {a: mask_of(positions) for a, positions in by_account.items()}
        return self._accounts

    def region_mask(self, region: str) -> int:
        """The datasets of one region."""
        if self._regions is None:
            by_region: dict[str, list[int]] = {}
            for i, d in enumerate(self.datasets):
                by_region.setdefault(d.region or "", []).append(i)
            self._regions = {r: mask_of(positions) for r, positions in by_region.items()}
        return self._regions.get(region, 0)

    def foreign_bare(self, account: str) -> int:
        """Datasets of another account than ``account`` without a resource policy: a principal of
        ``account`` can never be granted these ("Cross-account policy evaluation logic": the resource's
        account must allow through a resource-based policy as well as the identity side)."""
        found = self._foreign.get(account)
        if found is None:
            everything = (1 << len(self.arns)) - 1
            found = self._foreign[account] = (
                everything & ~self.account_masks().get(account, 0) & ~self.policy_mask
            )
        return found

    def signature(self, position: int, aliases: bool = True) -> tuple[object, ...]:
        """What a request context takes from the dataset: its account, region and tags (and a KMS key's
        aliases, unless ``aliases`` is false: for conditions that do not read them)."""
        found = self._signatures.get(position)
        if found is None:
            dataset = self.datasets[position]
            found = (dataset.account_id, dataset.region, *sorted(dataset.tags.items()))
            if dataset.type == KMS_KEY:
                found = (*found, ("kms:ResourceAliases", dataset.aliases))
            self._signatures[position] = found
        if not aliases and self.datasets[position].type == KMS_KEY:
            return found[:-1]
        return found

    def mask(self, arns: Iterable[str]) -> int:
        """The bitset of these ARNs (ARNs of other types or unknown ones are ignored)."""
        position = self.position
        return mask_of(position[a] for a in arns if a in position)


class _Masks:
    """One statement against the datasets of one type (for one set of resource templates): which
    datasets were evaluated, on which it applies to every request ARN (``yes_all``), to some or an
    unknown one (``touch``), and on which not uniformly or unknown (``mixed``: decided per dataset)."""

    __slots__ = ("evaluated", "mixed", "touch", "yes_all")

    def __init__(self) -> None:
        self.evaluated = self.yes_all = self.touch = self.mixed = 0


@dataclass(slots=True)
class BuildWarnings:
    """Problems found while building (malformed or missing policies); shown in the report's coverage."""

    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        """Record one warning once."""
        if text not in self.items:
            self.items.append(text)


class AccountModel:
    """The snapshot compiled for the engine: principals, dataset/role indexes, and policy caches."""

    def __init__(
        self,
        snapshot: Snapshot,
        rules: RuleSet,
        *,
        context_overrides: Mapping[str, str] | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.rules = rules
        self.warnings = BuildWarnings()
        self.now = now or dt.datetime.now(dt.UTC)
        self.overrides = dict(context_overrides or {})
        self._overridden = frozenset(k.lower() for k in self.overrides)
        # region_state: (clause id, deny) -> its settled state; the datasets' Regions
        self._region_states: dict[tuple[int, bool], Tri | None] = {}
        # scp_free: (SCP levels id, action) -> (statements read no identity key, principal tags read);
        # (levels id, action, principal owner) -> transparent; principal ARN -> (principal, its twin)
        self._scp_shapes: dict[tuple[int, str], PrincipalReads] = {}
        self._scp_transparent: dict[tuple[int, str, object, tuple[tuple[str, str], ...]], bool] = {}
        self._scp_free: dict[str, tuple[Principal, Principal]] = {}
        # scp_free and rcps_for per principal ARN, actions and extra keys (their callers ask again and again)
        self._scp_seen: dict[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], bool] = {}
        self._rcps_seen: dict[tuple[str, str, tuple[str, ...], tuple[tuple[str, str], ...]], bool] = {}
        self._regions: tuple[str, ...] | None = None
        self._managed: dict[str, ManagedPolicy] = {p.arn: p for p in snapshot.managed_policies}
        self._policy_cache: dict[tuple[str, str], Policy | None] = {}
        self.datasets: dict[str, Dataset] = {d.arn: d for d in snapshot.datasets}
        self.roles: dict[str, Role] = {r.arn: r for r in snapshot.roles}
        self.users: dict[str, User] = {u.arn: u for u in snapshot.users}
        # Group names are unique per account only: a merged snapshot may hold two groups of one name.
        self._groups = {(_account_of(g.arn), g.name): g for g in snapshot.groups}
        self._org_policies: dict[str, Policy | None] = {}
        self._org_levels: dict[tuple[str, str], tuple[tuple[Policy, ...], ...]] = {}
        self._principals: dict[str, Principal] = {}
        # service prefix -> every action datastores.toml classifies for that service's dataset types
        self._data_actions: dict[str, tuple[str, ...]] = {}
        for spec in rules.datastores.types.values():
            actions = {a for kinds in spec.levels.values() for acts in kinds.values() for a in acts}
            self._data_actions[spec.service] = tuple(
                sorted({*self._data_actions.get(spec.service, ()), *actions})
            )
        self._covers_cache: dict[tuple[int, str], bool] = {}
        self._grantees: dict[str, set[str]] = {}
        for d in snapshot.datasets:
            for grant in d.grants:
                self._grantees.setdefault(grant.grantee_principal, set()).add(d.arn)
        self._contexts: dict[str, Context] = {}
        self._resource_items: dict[str, _ResourceItems] = {}  # see _resource_context
        # condition_masks: (dataset, kms:ViaService) -> a context for conditions on resource keys alone
        self._owned_contexts: dict[tuple[str, str | None], Context] = {}
        # Role sessions that exist already (a leaked ASIA key): issued at a time the snapshot cannot know.
        self._sessions_of_unknown_age: set[str] = set()
        self._resource_policies: dict[str, Policy | None] = {}
        self._pattern_masks: dict[tuple[str, str], int] = {}
        self._roles_index = _PrefixIndex(self.roles)
        self._by_type: dict[str, DatasetIndex] = {}
        self._of_type: dict[str, list[Dataset]] | None = None  # the datasets of each type, in order
        self._places: dict[str, tuple[str, int]] = {}  # dataset ARN -> (type, position): see place
        self._key_places: dict[str, tuple[list[int], list[str | None]]] = {}  # see key_places
        self._concerned_masks: dict[tuple[int, str], int] = {}
        self._policy_concerned: dict[tuple[int, str, str], int] = {}  # see policy_concerned_mask
        self._type_prefixes: dict[str, _PositionPrefixes] = {}
        self._statement_masks: dict[tuple[object, ...], _Masks] = {}
        self._lines: dict[tuple[str, tuple[str, ...]], _RequestLines] = {}
        # _bulk_match by what it reads of a statement (many statements share one Resource list)
        self._bulk: dict[tuple[object, ...], tuple[int, int]] = {}
        self._base_resources: dict[tuple[str, tuple[str, ...]], dict[int, list[str]]] = {}
        self._templates: dict[tuple[str, str], tuple[str, ...]] = {}
        self._picks: dict[int, tuple[str, ...]] = {}
        self._condition_masks: dict[tuple[object, str, object, str | None], list[int]] = {}
        self._fingerprints: dict[int, tuple[object, ...]] = {}  # statement id -> its conditions, effect
        self._condition_states: dict[tuple[object, object, str | None], dict[tuple[object, ...], Tri]] = {}
        # Resource policies and trust policies that name principals directly: principal ARN -> resources.
        self._named_in_resource_policy: dict[str, set[str]] = {}
        self._open_resource_policies: set[str] = set()  # policies with wildcard principals
        self._named_in_trust: dict[str, set[str]] = {}
        self._open_trust: set[str] = set()
        # The resource policy each dataset is evaluated with (S3: plus ACL grants, under Block Public Access).
        self.effective_policies = {d.arn: effective_resource_policy(d) for d in snapshot.datasets}
        for arn, document in self.effective_policies.items():
            if document is not None:
                _index_principals(document, arn, self._named_in_resource_policy, self._open_resource_policies)
        for r in snapshot.roles:
            _index_principals(r.trust_policy, r.arn, self._named_in_trust, self._open_trust)
        # A superset of the resource policies that may name a principal itself (see may_name).
        self._direct_names: dict[str, set[str]] = {}
        self._direct_open: set[str] = set()
        for arn, document in self.effective_policies.items():
            if document is not None:
                _index_direct_names(document, arn, self._direct_names, self._direct_open)
        self._identity_only: dict[tuple[str, str, str], list[int]] = {}
        self._probe_context: Context | None = None  # see _inert
        self._via: dict[tuple[str, str], str | None] = {}  # see via_service
        self._trust_names: dict[str, set[str]] = {}
        self._trust_open: set[str] = set()
        for r in snapshot.roles:
            _index_direct_names(r.trust_policy, r.arn, self._trust_names, self._trust_open)
        self._may_be_trusted: dict[str, frozenset[str]] = {}
        self._trust_admits: dict[tuple[str, str], bool] = {}
        # (policy id, account) -> its statements that delegate to the account (_delegates), or that
        # may name it (_names_account)
        self._delegation: dict[tuple[int, str], tuple[Statement, ...]] = {}
        self._naming: dict[tuple[int, str], tuple[Statement, ...]] = {}
        self._may_name: dict[str, frozenset[str]] = {}
        self._rcp_masks: dict[str, int] = {}
        self._rcp_opaque: dict[tuple[object, str, tuple[str, ...]], int] = {}
        self._rcp_reads: dict[tuple[str, ...], PrincipalReads] = {}  # see _rcp_owner
        self._rcps_for: dict[tuple[object, str, tuple[str, ...], tuple[tuple[str, str], ...]], bool] = {}
        # principal -> (statement ids of one RCP level for an action) -> does that level stay out of it
        self._rcp_level_memo: dict[object, dict[tuple[int, ...], bool]] = {}
        self._delegating: dict[tuple[str, str], int] = {}
        self._closed: dict[tuple[str, str], int] = {}
        self._open_masks: dict[tuple[str, str], int] = {}

    def add_principal(self, principal: Principal) -> None:
        """Register a principal the snapshot does not hold (escalation's synthetic nodes, e.g. an admin)."""
        self._principals.setdefault(principal.arn, principal)

    # -- policies ---------------------------------------------------------------------------------

    def _parse(self, owner: str, doc: PolicyDocument) -> Policy | None:
        key = (doc.arn or owner, doc.name)
        if key in self._policy_cache:
            return self._policy_cache[key]
        label = doc.name if doc.arn else f"{doc.name} (inline, {_short(owner)})"
        try:
            policy: Policy | None = parse_policy(doc.document, name=label)
        except PolicyError as e:
            self.warnings.add(f"skipped malformed {label}: {e}")
            policy = None
        self._policy_cache[key] = policy
        return policy

    def _managed_policy(self, arn: str, owner: str, *, missing: str) -> Policy | None:
        """A managed policy by ARN; when the snapshot lacks it, the ``missing`` warning is recorded."""
        managed = self._managed.get(arn)
        if managed is None:
            self.warnings.add(missing)
            return None
        return self._parse(owner, managed.as_document())

    def _policy_set(
        self, owner: str, inline: Sequence[PolicyDocument], managed: Sequence[str]
    ) -> list[Policy]:
        out = [p for d in inline if (p := self._parse(owner, d)) is not None]
        for arn in managed:
            missing = (
                f"managed policy {arn} attached to {_short(owner)} was not in the snapshot; "
                "its permissions are unknown and not counted"
            )
            if (policy := self._managed_policy(arn, owner, missing=missing)) is not None:
                out.append(policy)
        return out

    def resource_policy(
        self, arn: str, document: Mapping[str, object] | None, label: str | Callable[[], str]
    ) -> Policy | None:
        """The compiled resource-based policy of a dataset or role (cached). ``label`` names it (the
        policy's name, in evidence and warnings): a text, or a function giving it, called only when the
        policy is parsed (the hot callers ask again and again for policies parsed already)."""
        if arn in self._resource_policies:
            return self._resource_policies[arn]
        policy = None
        if not isinstance(label, str):
            label = label()
        if document is not None:
            try:
                policy = parse_policy(dict(document), name=label)
            except PolicyError as e:
                self.warnings.add(f"skipped malformed {label}: {e}")
        self._resource_policies[arn] = policy
        return policy

    def org_levels(self, account_id: str, policy_type: str) -> tuple[tuple[Policy, ...], ...]:
        """The SCPs or RCPs (``model.SCP``/``model.RCP``) governing an account, per level root first;
        none for the management account, an account outside the collected organization, or a type the
        organization has not enabled (``Organization.levels``). Malformed ones are skipped with a
        warning (the level then allows less, never more)."""
        key = (account_id, policy_type)
        found = self._org_levels.get(key)
        if found is None:
            org = self.snapshot.organization
            levels = org.levels(account_id, policy_type) if org is not None else None
            found = tuple(
                tuple(p for p in (self._org_policy(o) for o in level) if p is not None)
                for level in levels or ()
            )
            self._org_levels[key] = found
        return found

    def _org_policy(self, policy: OrgPolicy) -> Policy | None:
        if policy.policy_id not in self._org_policies:
            kind = "SCP" if policy.type == SCP else "RCP"
            label = f"{kind} {policy.name}"
            try:
                parsed: Policy | None = parse_policy(policy.document, name=label)
            except PolicyError as e:
                self.warnings.add(f"skipped malformed {label}: {e}")
                parsed = None
            self._org_policies[policy.policy_id] = parsed
        return self._org_policies[policy.policy_id]

    def rcps(self, resource_arn: str, account_id: str) -> tuple[tuple[Policy, ...], ...]:
        """The RCP levels that constrain requests to this resource (only services RCPs support)."""
        if _service_of(resource_arn) not in RCP_SERVICES:
            return ()
        return self.org_levels(account_id, RCP)

    def org_id(self, account_id: str) -> str | None:
        """The organization id of an account, when the snapshot knows it belongs to the organization."""
        org = self.snapshot.organization
        if org is None:
            return None
        if account_id == org.management_account_id or account_id in org.account_paths:
            return org.org_id
        return None

    # -- principals -------------------------------------------------------------------------------

    def principal(self, arn: str) -> Principal | None:
        """The compiled principal for a user or role ARN, or None if it is not in the snapshot."""
        if arn in self._principals:
            return self._principals[arn]
        built: Principal | None = None
        if (user := self.users.get(arn)) is not None:
            built = self._build_user(user)
        elif (role := self.roles.get(arn)) is not None:
            built = self._build_role(role)
        if built is not None:
            self._principals[arn] = built
        return built

    def _boundary(self, arn: str | None, owner: str) -> Policy | None:
        if arn is None:
            return None
        missing = (
            f"permissions boundary {arn} of {_short(owner)} was not in the snapshot; "
            "analysed as if there were no boundary (reach may be overstated)"
        )
        return self._managed_policy(arn, owner, missing=missing)

    def _build_user(self, user: User) -> Principal:
        policies = self._policy_set(user.arn, user.inline_policies, user.managed_policy_arns)
        for name in user.group_names:
            group = self._groups.get((_account_of(user.arn), name))
            if group is None:
                self.warnings.add(f"group {name} of {_short(user.arn)} was not in the snapshot")
                continue
            policies += self._policy_set(group.arn, group.inline_policies, group.managed_policy_arns)
        rp = RequestPrincipal(
            arn=user.arn,
            account_id=_account_of(user.arn),
            kind="user",
            user_name=user.name,
            user_id=user.user_id or None,
            tags=dict(user.tags),
            org_id=self.org_id(_account_of(user.arn)),
        )
        return Principal(
            arn=user.arn,
            kind="user",
            name=user.name,
            account_id=rp.account_id,
            identity_policies=tuple(policies),
            boundary=self._boundary(user.permissions_boundary_arn, user.arn),
            request_principal=rp,
            scps=self.org_levels(rp.account_id, SCP),
        )

    def _build_role(self, role: Role) -> Principal:
        policies = self._policy_set(role.arn, role.inline_policies, role.managed_policy_arns)
        account = _account_of(role.arn)
        rp = RequestPrincipal(
            arn=role.arn,
            account_id=account,
            kind="role",
            # The attacker names the session; "*" stands for any session name they choose.
            session_arn=f"arn:aws:sts::{account}:assumed-role/{role.name}/*",
            user_id=f"{role.role_id}:*" if role.role_id else None,
            tags=dict(role.tags),
            service_linked=role.service_linked,
            org_id=self.org_id(account),
        )
        trust = self.resource_policy(role.arn, role.trust_policy, f"trust policy of role/{role.name}")
        return Principal(
            arn=role.arn,
            kind="role",
            name=role.name,
            account_id=account,
            identity_policies=tuple(policies),
            boundary=self._boundary(role.permissions_boundary_arn, role.arn),
            request_principal=rp,
            trust_policy=trust,
            # Service-linked roles are not subject to SCPs (Service control policies (SCPs), "Tasks and
            # entities not restricted by SCPs").
            scps=() if role.service_linked else self.org_levels(account, SCP),
        )

    # -- context ----------------------------------------------------------------------------------

    def leaked_session(self, arn: str) -> None:
        """Mark the role whose existing session leaked (an ASIA key): its ``aws:TokenIssueTime`` is some
        time in the past, unknown, rather than now (call before the role's context is first used)."""
        self._sessions_of_unknown_age.add(arn)
        self._contexts.pop(arn, None)

    def base_context(self, principal: Principal) -> Context:
        """The attacker-model context (DESIGN.md §4) of calls by ``principal``, before the resource's keys.

        Principal keys come from the snapshot (its tags are complete, so other principal tags are
        absent); the attacker calls directly, so ``aws:ViaAWSService`` is false; the clock is the
        analysis time; ``--assume-context`` overrides win over everything.

        ``aws:TokenIssueTime`` is present only in requests signed with temporary credentials ("AWS global
        condition context keys"): a user signs with its long-term access key, where it is absent, but
        ``sts:GetSessionToken`` gives the key's holder a session token issued now, so the attacker picks
        either (a ``Choice``: each condition takes the option that helps the attacker, so a "revoke
        older sessions" Deny never stops the user's key, and an Allow that needs a session token
        holds); a role acts through a session the attacker creates now, so its token is issued now —
        except the leaked session itself (``leaked_session``), issued at an unknown time: conditions on
        it stay unsettled.

        ``kms:ViaService`` is in a KMS request only when a service makes it on the caller's behalf ("AWS
        KMS condition keys"): absent from the attacker's own calls; the key checks of data read through
        S3, DynamoDB, Secrets Manager or SSM set it (``via_service``).
        """
        cached = self._contexts.get(principal.arn)
        if cached is None:
            clock = _clock(self.now)
            role = principal.kind == "role"
            unknown_age = principal.arn in self._sessions_of_unknown_age
            session = {"aws:TokenIssueTime": clock["aws:CurrentTime"]} if role and not unknown_age else {}
            # A user's key signs without a token, but sts:GetSessionToken (which needs no permission)
            # gives its holder a session token issued now: the attacker picks either.
            token = (
                {} if role or unknown_age else {"aws:TokenIssueTime": _token_choice(clock["aws:CurrentTime"])}
            )
            cached = Context.for_principal(
                principal.request_principal,
                values={"aws:ViaAWSService": ("false",), **clock, **session},
                absent=(VIA_SERVICE,),
                overrides=self.overrides,
                now=self.now,
                choices=token,
            )
            self._contexts[principal.arn] = cached
        return cached

    def context(
        self,
        principal: Principal,
        resource_tags: Mapping[str, str],
        resource_account: str,
        via: str | None = None,
        resource: Dataset | None = None,
    ) -> Context:
        """The request context of a call by ``principal`` on a resource with these tags and account
        (``via``: the ``kms:ViaService`` of a KMS call a service makes for the principal; ``resource``:
        the dataset, for the keys only it can fill, see ``resource_keys``)."""
        if (
            resource is not None
            and resource_tags is resource.tags
            and resource_account == resource.account_id
            and not self._overridden
        ):
            # The usual call, for a dataset: what it adds is normalised once (``_resource_context``).
            account, tags, keys, known_absent = self._resource_context(resource)
            via_item = ((_VIA_SERVICE_LOWER, (via,)),) if via is not None else ()
            return self.base_context(principal).with_lowered(
                (*account, *via_item, *tags, *keys), absent=known_absent, absent_prefixes=_RESOURCE_TAG_ABSENT
            )
        values: dict[str, tuple[str, ...]] = {"aws:ResourceAccount": (resource_account,)}
        if via is not None:
            values[VIA_SERVICE] = (via,)
        for k, v in resource_tags.items():
            values[f"aws:ResourceTag/{k}"] = (v,)
        absent = ["aws:ResourceTag/*"]  # the resource's tags are complete: another tag is absent
        if resource is not None:
            found, missing = self.resource_keys(resource)
            values.update(found)
            absent.extend(missing)
        if self._overridden:  # --assume-context wins over what the snapshot says
            values = {k: v for k, v in values.items() if k.lower() not in self._overridden}
        return self.base_context(principal).with_values(values, absent=absent)

    def _resource_context(self, dataset: Dataset) -> _ResourceItems:
        """What ``context`` adds for a dataset (its account, its tags, ``resource_keys``), normalised as
        ``Context.with_values`` does (lowercase keys, values as tuples of strings), cached per dataset."""
        found = self._resource_items.get(dataset.arn)
        if found is None:
            keys, missing = self.resource_keys(dataset)
            found = self._resource_items[dataset.arn] = (
                (("aws:resourceaccount", (str(dataset.account_id),)),),
                tuple((f"aws:ResourceTag/{k}".lower(), (str(v),)) for k, v in dataset.tags.items()),
                tuple((k.lower(), tuple(str(x) for x in v)) for k, v in keys.items()),
                frozenset(m.lower() for m in missing),
            )
        return found

    def resource_keys(self, dataset: Dataset) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
        """Condition keys the snapshot knows of a dataset beyond its tags and account, and those it knows
        are absent.

        ``aws:RequestedRegion`` is the dataset's region: S3 buckets, DynamoDB tables, secrets, parameters
        and KMS keys are regional, and a request on one is served only by an endpoint of its region (an
        S3 request sent to another region is redirected, not served), so the attacker cannot pick another
        ("AWS global condition context keys": the Region the request was made to). A KMS key's
        ``kms:ResourceAliases`` are its aliases, collected with the key; none when KMS was collected in
        full and the key has no alias ("AWS KMS condition keys")."""
        found: dict[str, tuple[str, ...]] = {}
        if dataset.region:
            found[REQUESTED_REGION] = (dataset.region,)
        if dataset.type != KMS_KEY:
            return found, ()
        if dataset.aliases:
            found[RESOURCE_ALIASES] = dataset.aliases
            return found, ()
        if self.snapshot.services.get("kms") == "ok":
            return found, (RESOURCE_ALIASES,)
        return found, ()

    def via_service(self, dataset_type: str, key_arn: str) -> str | None:
        """The ``kms:ViaService`` of the KMS calls a data store makes with ``key_arn`` for a caller of
        ``dataset_type`` (``s3.eu-west-1.amazonaws.com``: the key's region, where the data must be); None
        when the key is unknown."""
        memo = (dataset_type, key_arn)
        if memo in self._via:
            return self._via[memo]
        key = self.datasets.get(key_arn)
        found = None
        if key is not None and key.region:
            service = self.rules.datastores.types[dataset_type].service
            partition = self.snapshot.partition or "aws"
            found = (
                f"{service}.{key.region}.{'amazonaws.com.cn' if partition == 'aws-cn' else 'amazonaws.com'}"
            )
        self._via[memo] = found
        return found

    # -- candidate selection ----------------------------------------------------------------------

    def _covers_data_action(self, st: Statement, service: str) -> bool:
        """Whether the statement allows any data-store action of ``service`` (not just, say, ListBuckets)."""
        key = (id(st), service)
        found = self._covers_cache.get(key)
        if found is None:
            found = st.action_could_match_service(service) and any(
                st.matches_action(a) for a in self._data_actions.get(service, ())
            )
            self._covers_cache[key] = found
        return found

    def type_index(self, dataset_type: str) -> DatasetIndex:
        """The datasets of one type in ARN order (positions for bitsets), built on first use."""
        found = self._by_type.get(dataset_type)
        if found is None:
            if self._of_type is None:  # every type's datasets in one pass over the datasets
                self._of_type = {}
                for d in self.datasets.values():
                    of_type = self._of_type.get(d.type)
                    if of_type is None:
                        of_type = self._of_type[d.type] = []
                    of_type.append(d)
            found = DatasetIndex(self._of_type.get(dataset_type, ()), self.effective_policies)
            self._by_type[dataset_type] = found
            self._places.update((arn, (dataset_type, i)) for i, arn in enumerate(found.arns))
        return found

    def key_places(self, dataset_type: str) -> tuple[list[int], list[str | None]]:
        """Per position of ``type_index(dataset_type)``: the position of the dataset's KMS key in the
        key index (-1 when it has none, or one that was not collected), and the ``kms:ViaService`` its
        data store calls the key with."""
        found = self._key_places.get(dataset_type)
        if found is None:
            key_index = self.type_index(KMS_KEY)
            key_of: list[int] = []
            via_of: list[str | None] = []
            for dataset in self.type_index(dataset_type).datasets:
                key = dataset.kms_key
                position = key_index.position.get(key, -1) if key is not None else -1
                key_of.append(position)
                via_of.append(self.via_service(dataset_type, key) if position >= 0 and key else None)
            found = self._key_places[dataset_type] = (key_of, via_of)
        return found

    def place(self, arn: str) -> tuple[str, int] | None:
        """A dataset's type and position in ``type_index(type)``; None for an ARN that is no dataset."""
        found = self._places.get(arn)
        if found is None:
            dataset = self.datasets.get(arn)
            if dataset is None:
                return None
            self.type_index(dataset.type)
            found = self._places[arn]
        return found

    def pattern_mask(self, dataset_type: str, pattern: str) -> int:
        """Datasets of a type a resource pattern may concern, as a bitset over ``type_index`` (cached)."""
        key = (dataset_type, pattern)
        found = self._pattern_masks.get(key)
        if found is None:
            index = self.type_index(dataset_type)
            literal = _literal_pattern_mask(index, pattern)
            if literal is None:
                prefixes = self._type_prefixes.get(dataset_type)
                if prefixes is None:
                    prefixes = self._type_prefixes[dataset_type] = _PositionPrefixes(index.arns)
                literal = prefixes.mask(pattern)
            found = literal
            self._pattern_masks[key] = found
        return found

    def concerned_mask(self, st: Statement, service: str, dataset_type: str) -> int:
        """Datasets of ``dataset_type`` an Allow statement may reach by its resource patterns (a superset),
        as a bitset over ``type_index(dataset_type)``; cached per statement: a managed policy's statements
        are shared by every principal it is on."""
        key = (id(st), dataset_type)
        found = self._concerned_masks.get(key)
        if found is None:
            index = self.type_index(dataset_type)
            found = 0
            if index.arns and self._covers_data_action(st, service):
                patterns = st.resource_patterns
                if patterns is None or st.not_resource:
                    found = (1 << len(index.arns)) - 1
                else:
                    for pattern in patterns:
                        found |= self.pattern_mask(dataset_type, pattern)
            self._concerned_masks[key] = found
        return found

    def policy_concerned_mask(self, policy: Policy, service: str, dataset_type: str) -> int:
        """``concerned_mask`` of every Allow statement of the policy that could cover an action of
        ``service``, ORed; cached per policy, so computed once for a managed policy attached to many."""
        key = (id(policy), service, dataset_type)
        found = self._policy_concerned.get(key)
        if found is None:
            found = 0
            for st in policy.statements:
                if not st.is_deny and st.action_could_match_service(service):
                    found |= self.concerned_mask(st, service, dataset_type)
            self._policy_concerned[key] = found
        return found

    def templates(self, dataset_type: str, action: str) -> tuple[str, ...]:
        """The resource templates (``{arn}``, ``{arn}/*``, ...) an action is evaluated on, in pack order."""
        key = (dataset_type, action)
        found = self._templates.get(key)
        if found is None:
            spec = self.rules.datastores.types[dataset_type]
            kinds: list[str] = []
            for levels in spec.levels.values():
                for kind, actions in levels.items():
                    if any(a.lower() == action.lower() for a in actions):
                        kinds.append(kind)
            found = tuple(spec.resources[k] for k in kinds)
            self._templates[key] = found
        return found

    def base_resources(self, dataset_type: str, templates: tuple[str, ...], position: int) -> list[str]:
        """The request ARNs of a dataset for these templates, without any principal's picks (cached):
        its sampled sub-resources, and the picks of its resource policy's Allows (the same for every
        principal, and what the engine adds for one that picks none itself: ``_concrete_resources``)."""
        cache = self._base_resources.get((dataset_type, templates))
        if cache is None:
            cache = self._base_resources[(dataset_type, templates)] = {}
        found = cache.get(position)
        if found is None:
            found = cache[position] = self._base_resources_of(
                self.type_index(dataset_type).datasets[position], templates
            )
        return found

    def _base_resources_of(
        self, dataset: Dataset, templates: tuple[str, ...], picking: bool | None = None
    ) -> list[str]:
        """``base_resources`` of one dataset, computed (``picking``: whether a template ends in ``/*``)."""
        expanded: dict[str, None] = {}
        for template in templates:
            if template == "{arn_ancestors}":
                for arn in expand_resource(template, dataset.arn):
                    expanded[arn] = None
            else:  # what expand_resource gives for any other template
                expanded[template.replace("{arn}", dataset.arn)] = None
        statements: Sequence[Statement] = ()
        if picking is None:
            picking = any(t.endswith("/*") for t in templates)  # only those take the policy's picks
        if picking and dataset.arn in self.effective_policies and dataset.type != KMS_KEY:
            parsed = self._resource_policies  # resource_policy, without a call once it is parsed
            policy = (
                parsed[dataset.arn]
                if dataset.arn in parsed
                else self.resource_policy(
                    dataset.arn,
                    self.effective_policies[dataset.arn],
                    lambda: f"resource policy of {_short(dataset.arn)}",
                )
            )
            statements = policy.statements if policy is not None else ()
        return _subresources(dataset, list(expanded), statements)

    def picked(self, principal: Principal) -> set[str]:
        """Datasets for which an identity Allow pattern of the principal adds a sub-resource pick
        (``bucket/exports/*``; see ``_concrete_resources``): decided per dataset."""
        found: set[str] = set()
        for policy in principal.identity_policies:
            for st in policy.statements:
                picks = self._picks.get(id(st))
                if picks is None:
                    out: list[str] = []
                    if st.effect == "Allow" and st.resource_patterns is not None and not st.not_resource:
                        for pattern in st.resource_patterns:
                            for i, ch in enumerate(pattern):
                                if ch == "/" and len(pattern) > i + 1 and pattern[:i] in self.datasets:
                                    out.append(pattern[:i])
                    picks = tuple(out)
                    self._picks[id(st)] = picks
                found.update(picks)
        return found

    def condition_masks(
        self, st: Statement, dataset_type: str, principal: Principal, need: int, via: str | None = None
    ) -> tuple[int, int]:
        """Where a statement's conditions hold (YES) or cannot be settled (UNKNOWN), per dataset, for
        conditions on the resource's tags or account: evaluated in each dataset's request context (as the
        engine would), once per distinct (account, tags) and principal — or per principal kind, account,
        organization and tags, when the conditions name no other principal key (``_condition_owner``)."""
        who = _condition_owner(st, principal)
        if via is not None and not any(c.key_lower == _VIA_SERVICE_LOWER for c in st.conditions):
            via = None  # the same answer through any service
        # Statements of different policies with the same conditions and effect share their states and
        # masks (the Resource part is ``statement_masks``'s).
        fingerprint = self._fingerprints.get(id(st))
        if fingerprint is None:
            fingerprint = (st.is_deny, tuple((c.operator, c.key_lower, c.values) for c in st.conditions))
            self._fingerprints[id(st)] = fingerprint
        key = (fingerprint, dataset_type, who, via)
        entry = self._condition_masks.get(key)
        if entry is None:
            entry = self._condition_masks[key] = [0, 0, 0]  # evaluated, yes, unknown
        new = _without(need, entry[0])
        if new:
            index = self.type_index(dataset_type)
            by_signature = self._condition_states.setdefault((fingerprint, who, via), {})

            def state_of(signature: tuple[object, ...], pos: int) -> Tri:
                state = by_signature.get(signature)
                if state is None:
                    dataset = index.datasets[pos]
                    if who is None:
                        # Conditions on the resource's keys alone (``_condition_owner``): their states are
                        # every principal's (shared above), so one context per dataset serves them all.
                        context = self._owned_contexts.get((dataset.arn, via))
                        if context is None:
                            context = self.context(principal, dataset.tags, dataset.account_id, via, dataset)
                            self._owned_contexts[(dataset.arn, via)] = context
                    else:
                        context = self.context(principal, dataset.tags, dataset.account_id, via, dataset)
                    state = Tri.YES
                    for clause in st.conditions:
                        result = clause.evaluate(context, deny=st.is_deny)
                        if result is Tri.NO:
                            state = Tri.NO
                            break
                        if result is Tri.UNKNOWN:
                            state = Tri.UNKNOWN
                    by_signature[signature] = state
                return state

            yes_mask = unknown_mask = 0
            aliases = any(c.key_lower == _RESOURCE_ALIASES_LOWER for c in st.conditions)
            groups = index.signature_groups(aliases)
            if len(groups) < new.bit_count():
                # Fewer distinct (account, tags) than datasets to decide: one AND per group.
                for signature, members, first in groups:
                    hit = members & new
                    if hit:
                        state = state_of(signature, first)
                        if state is Tri.YES:
                            yes_mask |= hit
                        elif state is Tri.UNKNOWN:
                            unknown_mask |= hit
            else:
                yes: list[int] = []
                unknown: list[int] = []
                for pos in bits(new):
                    state = state_of(index.signature(pos, aliases), pos)
                    if state is Tri.YES:
                        yes.append(pos)
                    elif state is Tri.UNKNOWN:
                        unknown.append(pos)
                yes_mask, unknown_mask = mask_of(yes), mask_of(unknown)
            entry[0] |= new
            entry[1] |= yes_mask
            entry[2] |= unknown_mask
        return entry[1], entry[2]

    def may_name(self, principal: Principal) -> set[str]:
        """Datasets whose resource policy may name the principal itself (its ARN, unique id or a session
        of its role) or anyone (wildcards, NotPrincipal): a superset of ``names_directly``."""
        return self._names_in(principal, self._direct_names, self._direct_open)

    @staticmethod
    def _names_in(principal: Principal, names: Mapping[str, set[str]], open_: set[str]) -> set[str]:
        rp = principal.request_principal
        found = set(open_)
        keys = [rp.arn]
        if rp.user_id:
            keys.append(rp.user_id.split(":", 1)[0])
        if rp.session_arn and rp.session_arn.endswith("/*"):
            keys.append(rp.session_arn[:-1])
        for key in keys:
            found.update(names.get(key, ()))
        return found

    def rcp_opaque_mask(self, principal: Principal, dataset_type: str, actions: Sequence[str]) -> int:
        """The datasets of ``rcp_mask`` whose RCPs may change a decision of ``actions`` for this principal
        (decided one by one, by the engine): all of them but those of accounts whose RCPs are transparent
        to it (``_rcps_transparent``), which the fast paths may then decide like any other dataset."""
        full = self.rcp_mask(dataset_type)
        if not full:
            return 0
        owner = self._rcp_owner(principal, tuple(self.type_index(dataset_type).account_masks()))
        key = (owner, dataset_type, tuple(actions))
        found = self._rcp_opaque.get(key)
        if found is None:
            found = full
            context = self.base_context(principal)
            for account, members in self.type_index(dataset_type).account_masks().items():
                if full & members and _rcps_transparent(
                    self.org_levels(account, RCP),
                    principal.request_principal,
                    actions,
                    context,
                    self._rcp_level_memo.setdefault(owner, {}),
                ):
                    found &= ~members
            self._rcp_opaque[key] = found
        return found

    def rcps_for(
        self,
        principal: Principal,
        resource_arn: str,
        account_id: str,
        actions: Sequence[str],
        extra: Mapping[str, str] | None = None,
    ) -> tuple[tuple[Policy, ...], ...]:
        """``rcps`` as decisions of ``actions`` by ``principal`` must weigh them: none when the levels are
        transparent to it (``_rcps_transparent``: every level surely allows, no Deny may apply, e.g. a
        data perimeter's ``aws:PrincipalOrgID`` test for a principal of the organization). RCPs grant
        nothing ("Resource control policies"), so the engine's decision is then the same without them,
        and decisions on datasets without a resource policy may be shared as outside an organization.
        Settled in the principal's context for each action, with the request's ``extra`` keys (an
        escalation step's); the keys a resource adds (its tags, account, aliases) keep a statement
        unsettled."""
        levels = self.rcps(resource_arn, account_id)
        if not levels or not _USE_SCP_SHORTCUT:
            return levels
        extras = tuple(sorted(extra.items())) if extra else ()
        seen = (principal.arn, account_id, tuple(actions), extras)
        found = self._rcps_seen.get(seen)  # asked before by this principal
        if found is not None:
            return () if found else levels
        owner = self._rcp_owner(principal, (account_id,))
        key = (owner, account_id, tuple(actions), extras)
        found = self._rcps_for.get(key)
        if found is None:
            base = self.base_context(principal)
            if extras:
                base = base.with_values({k: (v,) for k, v in extras})
            found = True
            for action in actions:
                context = base.for_action(action)
                # The statement-keyed memo holds answers in the principal's plain context only.
                memo = self._rcp_level_memo.setdefault(owner, {}) if context is base and not extras else None
                if not _rcps_transparent(levels, principal.request_principal, (action,), context, memo):
                    found = False
                    break
            self._rcps_for[key] = found
        self._rcps_seen[seen] = found
        return () if found else levels

    def _rcp_owner(self, principal: Principal, accounts: tuple[str, ...]) -> object:
        """What ``_rcps_transparent`` reads of a principal for the RCPs over these accounts: its kind,
        account, organization and the principal tags the RCPs' conditions read, when no RCP statement
        names principals (``Principal: "*"`` only) and none reads an identity key (its ARN, name, id,
        token issue time: ``_IDENTITY_KEYS``); the principal itself otherwise. Principals alike share
        the answer."""
        found = self._rcp_reads.get(accounts)
        if found is None:
            statements = [
                st
                for account in accounts
                for level in self.org_levels(account, RCP)
                for policy in level
                for st in policy.statements
            ]
            found = self._rcp_reads[accounts] = _principal_reads(statements, named=True)
        return _owner(principal, found)

    def rcp_mask(self, dataset_type: str) -> int:
        """Datasets that RCPs constrain (decided one by one, by the engine)."""
        found = self._rcp_masks.get(dataset_type)
        if found is None:
            index = self.type_index(dataset_type)
            found = 0
            if self.snapshot.organization is not None:  # else ``rcps`` is empty for every dataset
                found = mask_of(i for i, d in enumerate(index.datasets) if self.rcps(d.arn, d.account_id))
            self._rcp_masks[dataset_type] = found
        return found

    def trust_admits(self, role: Principal, account: str) -> bool:
        """Whether an Allow statement of the role's trust policy for sts:AssumeRole may name ``account``
        (its id or root, or anyone): else only principals it names (``may_be_trusted``) can assume it."""
        key = (role.arn, account)
        found = self._trust_admits.get(key)
        if found is None:
            probe = RequestPrincipal(arn=f"arn:aws:iam::{account}:root", account_id=account, kind="root")
            found = role.trust_policy is not None and any(
                st.principal_match(probe) is not PrincipalMatch.NONE
                for st in role.trust_policy.statements_for(ASSUME_ACTION)
                if not st.is_deny
            )
            self._trust_admits[key] = found
        return found

    def may_be_trusted(self, principal: Principal) -> frozenset[str]:
        """Roles whose trust policy may name the principal itself or anyone (``may_name`` for trust)."""
        found = self._may_be_trusted.get(principal.arn)
        if found is None:
            found = frozenset(self._names_in(principal, self._trust_names, self._trust_open))
            self._may_be_trusted[principal.arn] = found
        return found

    def may_name_cached(self, principal: Principal) -> frozenset[str]:
        """``may_name``, computed once per principal."""
        found = self._may_name.get(principal.arn)
        if found is None:
            found = self._may_name[principal.arn] = frozenset(self.may_name(principal))
        return found

    def identity_only(self, dataset_type: str, level: str, account: str, need: int) -> tuple[int, int]:
        """Datasets with a resource policy that, for a principal of ``account`` it does not name
        (``may_name``), decides nothing beyond the identity decision: no Deny, no sub-resource picks, same
        account; for KMS keys, every action of the level delegated to the account by an unconditional
        statement ("Enable IAM policies", as ``PermissionGraph.only_delegates``). Malformed ones too
        (they are skipped, with a warning). Second, the KMS keys whose policy allows no action of the
        level to the account at all (nor to anyone unnamed): the key policy must allow, so for such a
        principal nothing can (Key policies in AWS KMS). Evaluated at least on ``need``."""
        key = (dataset_type, level, account)
        entry = self._identity_only.get(key)
        if entry is None:
            entry = self._identity_only[key] = [0, 0, 0]  # evaluated, identity only, never
        index = self.type_index(dataset_type)
        new = _without(need & index.policy_mask, entry[0])
        if new:
            actions = self.rules.datastores.actions_for(dataset_type, level)
            yes: list[int] = []
            never: list[int] = []
            probe = RequestPrincipal(arn=f"arn:aws:iam::{account}:root", account_id=account, kind="root")
            for pos in bits(new):
                dataset = index.datasets[pos]
                policy = self.resource_policy(
                    dataset.arn,
                    self.effective_policies[dataset.arn],
                    functools.partial(_policy_label, dataset),
                )
                if policy is None:
                    yes.append(pos)
                elif dataset_type == KMS_KEY and not self._names_account(policy, dataset.arn, actions, probe):
                    never.append(pos)
                elif not all(self._inert(st) for st in policy.denies):
                    continue
                elif dataset_type == KMS_KEY:
                    if all(self._delegates(policy, dataset, a, account) for a in actions):
                        yes.append(pos)
                elif dataset.account_id == account:
                    # Its Allows' sub-resource picks are in the request ARNs bitsets match
                    # (``base_resources``), as the engine adds them.
                    yes.append(pos)
            entry[0] |= new
            entry[1] |= mask_of(yes)
            entry[2] |= mask_of(never)
        return entry[1], entry[2]

    def _names_account(
        self, policy: Policy, arn: str, actions: Sequence[str], probe: RequestPrincipal
    ) -> bool:
        """Whether an Allow of the key policy for one of ``actions`` may name ``probe``'s account (or
        anyone unnamed). The Allows that may name it are found once per policy and account."""
        del arn
        memo = (id(policy), probe.account_id)
        naming = self._naming.get(memo)
        if naming is None:
            naming = self._naming[memo] = tuple(
                st
                for st in policy.statements
                if not st.is_deny and st.principal_match(probe) is not PrincipalMatch.NONE
            )
        return any(st.matches_action(a) for a in actions for st in naming)

    def _inert(self, deny: Statement) -> bool:
        """Whether a Deny never applies to the attacker's requests, whoever sends them: one of its
        conditions is on a key the request's sender picks (``aws:SecureTransport``…, not pinned by
        ``--assume-context``), and the attacker picks a value that keeps the Deny out (DESIGN.md §4).
        Conditions are AND-ed ("Condition element"), so that one condition is enough."""
        probe = self._probe_context
        if probe is None:
            probe = self._probe_context = Context.attacker(overrides=self.overrides, now=self.now)
        return any(probe.lookup_lower(c.key_lower) is KeyState.ATTACKER for c in deny.conditions)

    def scp_free(
        self, principal: Principal, actions: Sequence[str], extra: Mapping[str, str] | None = None
    ) -> Principal:
        """The principal as decisions of ``actions`` must see it: without its SCPs when every level surely
        allows each action (``scps_transparent``, in the principal's context for the action, with the
        request's ``extra`` keys: an escalation step's), itself otherwise. "An action must be allowed at
        every level from the root down to the account" ("Service control policies") and SCPs grant
        nothing: levels that surely allow add no statement, condition or deny to a decision ("Policy
        evaluation logic"), so decisions, bitset paths and memo keys are then those of an account outside
        an organization. Only all levels or none are left out: an implicit deny's explanation numbers
        the levels."""
        scps = principal.scps
        if not scps or not _USE_SCP_SHORTCUT:
            return principal
        extras = tuple(sorted(extra.items())) if extra else ()
        seen = (principal.arn, tuple(actions), extras)
        free = self._scp_seen.get(seen)  # asked before by this principal
        if free is None:
            free = self._scp_seen[seen] = self._scps_surely_allow(principal, actions, extras)
        if not free:
            return principal
        twin = self._scp_free.get(principal.arn)
        if twin is None or twin[0] is not principal:
            twin = self._scp_free[principal.arn] = (principal, dataclasses.replace(principal, scps=()))
        return twin[1]

    def _scps_surely_allow(
        self, principal: Principal, actions: Sequence[str], extras: tuple[tuple[str, str], ...]
    ) -> bool:
        """``scp_free``'s test, shared by principals the SCPs' statements cannot tell apart (``_owner``)."""
        scps = principal.scps
        for action in actions:
            shape_key = (id(scps), action)
            shape = self._scp_shapes.get(shape_key)
            if shape is None:
                statements = [st for level in scps for p in level for st in p.statements_for(action)]
                shape = self._scp_shapes[shape_key] = _principal_reads(statements)
            key = (*shape_key, _owner(principal, shape), extras)
            found = self._scp_transparent.get(key)
            if found is None:
                context = self.base_context(principal)
                if extras:
                    context = context.with_values({k: (v,) for k, v in extras})
                found = scps_transparent(scps, action, context.for_action(action), self.region_state)
                self._scp_transparent[key] = found
            if not found:
                return False
        return True

    def region_state(self, clause: Clause, deny: bool) -> Tri | None:
        """A condition on ``aws:RequestedRegion`` settled for every request on a dataset: the answer when
        it is the same in the Region of every dataset and in a Region the attacker picks (a dataset whose
        Region is unknown, any other resource), None when the Regions disagree (then it is decided per
        dataset, in its Region: ``resource_keys``). ``--assume-context`` pins the Region for all."""
        memo = (id(clause), deny)
        if memo in self._region_states:
            return self._region_states[memo]
        probe = self._probe_context
        if probe is None:
            probe = self._probe_context = Context.attacker(overrides=self.overrides, now=self.now)
        if self._regions is None:
            self._regions = tuple(sorted({d.region for d in self.datasets.values() if d.region}))
        contexts = [probe]
        if _REQUESTED_REGION_LOWER not in self._overridden:
            contexts += [probe.with_values({REQUESTED_REGION: (r,)}) for r in self._regions]
        results = {clause.evaluate(c, deny=deny) for c in contexts}
        found = self._region_states[memo] = results.pop() if len(results) == 1 else None
        return found

    def closed_keys(self, action: str, account: str) -> int:
        """KMS keys whose key policy has no Allow for ``action`` that may name ``account`` or anyone
        unnamed: only principals it names, or grants, can use them for that action."""
        cache_key = (action, account)
        found = self._closed.get(cache_key)
        if found is None:
            index = self.type_index(KMS_KEY)
            probe = RequestPrincipal(arn=f"arn:aws:iam::{account}:root", account_id=account, kind="root")
            yes: list[int] = []
            for pos, key in enumerate(index.datasets):
                if key.key_manager == "AWS":
                    continue  # allowed through the owning service, whatever its policy says
                policy = None
                if key.resource_policy is not None:
                    policy = self.resource_policy(
                        key.arn, key.resource_policy, functools.partial(_policy_label, key)
                    )
                    if policy is None:
                        continue  # malformed: decided by the engine
                if policy is None:
                    yes.append(pos)
                    continue
                if not self._names_account(policy, key.arn, (action,), probe):
                    yes.append(pos)
            found = self._closed[cache_key] = mask_of(yes)
        return found

    def delegating_keys(self, action: str, account: str) -> int:
        """KMS keys whose key policy has no Deny and delegates ``action`` to ``account`` (``_delegates``):
        for a principal they do not name and no grant gives anything, the key decision is the identity
        decision (Key policies in AWS KMS)."""
        cache_key = (action, account)
        found = self._delegating.get(cache_key)
        if found is None:
            index = self.type_index(KMS_KEY)
            yes: list[int] = []
            for pos, key in enumerate(index.datasets):
                if key.resource_policy is None:
                    continue  # no key policy: nothing allows (it must allow)
                policy = self.resource_policy(
                    key.arn, key.resource_policy, functools.partial(_policy_label, key)
                )
                if policy is not None and not policy.denies and self._delegates(policy, key, action, account):
                    yes.append(pos)
            found = self._delegating[cache_key] = mask_of(yes)
        return found

    def _delegates(self, policy: Policy, key: Dataset, action: str, account: str) -> bool:
        """Whether an unconditional statement of the key policy allows ``action`` on the key to the
        account (and no one in particular): the "Enable IAM policies" statement (Key policies in AWS
        KMS). The statements that delegate to the account are found once per (policy, account); a level
        then asks only them about each of its actions."""
        memo = (id(policy), account)
        delegating = self._delegation.get(memo)
        if delegating is None:
            probe = RequestPrincipal(arn=f"arn:aws:iam::{account}:root", account_id=account, kind="root")
            delegating = self._delegation[memo] = tuple(
                st
                for st in policy.statements
                if not st.conditions
                and st.resource_state(key.arn, None) is Tri.YES
                and st.principal_match(probe) is PrincipalMatch.ACCOUNT
            )
        return any(st.matches_action(action) for st in delegating)

    def statement_masks(
        self,
        st: Statement,
        dataset_type: str,
        templates: tuple[str, ...],
        context: Context,
        principal: str,
        need: int,
    ) -> _Masks:
        """The statement's masks, evaluated at least on ``need`` (cached per statement, and per principal
        when a policy variable makes the match depend on who asks)."""
        variable = st.resource_patterns is not None and any("${" in p for p in st.resource_patterns)
        key: tuple[object, ...] = (id(st), dataset_type, templates)
        if variable:
            key = (*key, principal)
        masks = self._statement_masks.get(key)
        if masks is None:
            masks = _Masks()
            self._statement_masks[key] = masks
        new = _without(need, masks.evaluated)
        if not new:
            return masks
        index = self.type_index(dataset_type)
        if templates == ("{arn}",) and (plain := _plain_ranges(st, index.arns)) is not None:
            # Exact ARNs and literal prefixes select ranges of the sorted ARNs: no per-dataset matching.
            hits = new & plain
            masks.evaluated |= new
            masks.yes_all |= hits
            masks.touch |= hits
            return masks
        if not variable and new.bit_count() * _BULK_SHARE >= len(index.arns):
            # Many datasets to match: one regex scan of every request ARN of the type (in C) rather
            # than one match call per dataset and ARN; the statement is then known everywhere.
            yes_all, touch_mask = self._bulk_match(st, dataset_type, templates)
            masks.evaluated = (1 << len(index.arns)) - 1
            masks.yes_all, masks.touch, masks.mixed = yes_all, touch_mask, _without(touch_mask, yes_all)
            return masks
        yes: list[int] = []
        touch: list[int] = []
        mixed: list[int] = []
        state_of = st.resource_state
        if templates == ("{arn}",):
            arns = index.arns
            for pos in bits(new):
                state = state_of(arns[pos], context)
                if state is Tri.YES:
                    yes.append(pos)
                    touch.append(pos)
                elif state is Tri.UNKNOWN:
                    touch.append(pos)
                    mixed.append(pos)
        else:
            for pos in bits(new):
                resources = self.base_resources(dataset_type, templates, pos)
                if not resources:
                    continue
                states = {state_of(r, context) for r in resources}
                if states == {Tri.YES}:
                    yes.append(pos)
                if states != {Tri.NO}:
                    touch.append(pos)
                    if len(states) > 1 or Tri.UNKNOWN in states:
                        mixed.append(pos)
        masks.evaluated |= new
        masks.yes_all |= mask_of(yes)
        masks.touch |= mask_of(touch)
        masks.mixed |= mask_of(mixed)
        return masks

    def _request_lines(self, dataset_type: str, templates: tuple[str, ...]) -> _RequestLines:
        """Every dataset's request ARNs for these templates (``base_resources``), one per line."""
        key = (dataset_type, templates)
        found = self._lines.get(key)
        if found is None and templates == ("{arn}",):
            # Each dataset's ARN alone (``base_resources`` adds sub-resources to ``/*`` templates only).
            arns = self.type_index(dataset_type).arns
            found = self._lines[key] = _RequestLines(list(arns), list(range(len(arns))))
        if found is None:
            lines: list[str] = []
            owner: list[int] = []
            cache = self._base_resources.get(key)
            if cache is None:
                cache = self._base_resources[key] = {}
            picking = any(t.endswith("/*") for t in templates)
            for pos, dataset in enumerate(self.type_index(dataset_type).datasets):  # base_resources of each
                resources = cache.get(pos)
                if resources is None:
                    resources = cache[pos] = self._base_resources_of(dataset, templates, picking)
                lines.extend(resources)
                owner.extend([pos] * len(resources))
            found = self._lines[key] = _RequestLines(lines, owner)
        return found

    def _bulk_match(self, st: Statement, dataset_type: str, templates: tuple[str, ...]) -> tuple[int, int]:
        """(datasets on whose every request ARN the statement's Resource/NotResource applies, datasets on
        some of whose it applies), for a statement without policy variables: what ``resource_state``
        would give ARN by ARN (a whole-string, case-sensitive glob, ``*`` and ``?`` crossing ``/`` and
        ``:``), found by one regex scan over all the request ARNs."""
        patterns = st.resource_patterns
        key = (dataset_type, templates, patterns, st.not_resource)
        found = self._bulk.get(key)
        if found is None:
            found = self._bulk[key] = self._bulk_scan(st, dataset_type, templates)
        return found

    def _bulk_scan(self, st: Statement, dataset_type: str, templates: tuple[str, ...]) -> tuple[int, int]:
        request = self._request_lines(dataset_type, templates)
        patterns = st.resource_patterns
        if patterns is None or "*" in patterns:
            every = request.has_lines
            return (0, 0) if st.not_resource else (every, every)
        matched: set[int] = set()
        for pattern in patterns:
            matched.update(request.matching(pattern))
        count: dict[int, int] = {}
        owner = request.owner
        for line in matched:
            pos = owner[line]
            count[pos] = count.get(pos, 0) + 1
        total = request.total
        some = mask_of(count)
        every = mask_of(pos for pos, n in count.items() if n == total[pos])
        if st.not_resource:  # applies to the ARNs the patterns do not match
            return request.has_lines & ~some, request.has_lines & ~every
        return every, some

    def named_mask(self, principal: Principal, dataset_type: str) -> int:
        """``named_datasets`` as a bitset over ``type_index(dataset_type)``."""
        index = self.type_index(dataset_type)
        shared = self._open_masks.get(("named", dataset_type))
        if shared is None:
            shared = self._open_masks[("named", dataset_type)] = index.mask(self._open_resource_policies)
        rp = principal.request_principal
        own: set[str] = set()
        for name in (rp.arn, rp.session_arn):
            if name:
                own.update(self._named_in_resource_policy.get(name, ()))
                own.update(self._grantees.get(name, ()))
        return shared | index.mask(own)

    def may_name_mask(self, principal: Principal, dataset_type: str) -> int:
        """``may_name`` as a bitset over ``type_index(dataset_type)``."""
        index = self.type_index(dataset_type)
        shared = self._open_masks.get(("may", dataset_type))
        if shared is None:
            shared = self._open_masks[("may", dataset_type)] = index.mask(self._direct_open)
        return shared | index.mask(self._names_in(principal, self._direct_names, set()))

    def named_datasets(self, principal: Principal) -> set[str]:
        """Datasets whose resource policy names the principal itself (or any principal), or whose KMS
        grants name it: these can grant without an identity Allow."""
        rp = principal.request_principal
        found = set(self._open_resource_policies)
        for name in (rp.arn, rp.session_arn):
            if name:
                found.update(self._named_in_resource_policy.get(name, ()))
                found.update(self._grantees.get(name, ()))
        return found

    def candidate_roles(self, principal: Principal) -> set[str]:
        """Roles the principal's Allow statements for sts:AssumeRole select, or whose trust names it."""
        found: set[str] = set()
        for policy in principal.identity_policies:
            for st in policy.statements:
                if st.effect != "Allow" or not st.action_could_match_service("sts"):
                    continue
                if not st.matches_action(ASSUME_ACTION):
                    continue
                patterns = st.resource_patterns
                if patterns is None or st.not_resource:
                    found.update(self._roles_index)
                    continue
                for pattern in patterns:
                    found.update(self._roles_index.select(pattern))
        rp = principal.request_principal
        for name in (rp.arn, rp.session_arn):
            if name:
                found.update(self._named_in_trust.get(name, ()))
        found.update(self._open_trust)
        return found


def _clock(now: dt.datetime) -> dict[str, tuple[str, ...]]:
    return {
        "aws:CurrentTime": (now.strftime("%Y-%m-%dT%H:%M:%SZ"),),
        "aws:EpochTime": (str(int(now.timestamp())),),
    }


def _service_of(arn: str) -> str:
    parts = arn.split(":", 3)
    return parts[2] if len(parts) > 2 else ""


def _policy_label(dataset: Dataset) -> str:
    """A dataset's resource policy as evidence and warnings name it: ``key policy of key/…`` for a KMS
    key, ``resource policy of …`` otherwise."""
    return f"{'key' if dataset.type == KMS_KEY else 'resource'} policy of {_short(dataset.arn)}"


def _short(arn: str) -> str:
    """``user/alice`` from an IAM ARN (the last ARN field), for messages and paths."""
    return arn.split(":", 5)[-1] if arn.startswith("arn:") else arn


def _index_principals(
    document: Mapping[str, object], target: str, named: dict[str, set[str]], open_: set[str]
) -> None:
    """Record which principal strings a resource/trust policy's Allow statements name (or wildcards)."""
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in st:
            open_.add(target)
            continue
        principal = st.get("Principal")
        values: list[object] = []
        if principal == "*":
            values = ["*"]
        elif isinstance(principal, dict):
            aws = principal.get("AWS")
            values = list(aws) if isinstance(aws, list) else [aws] if aws is not None else []
        for v in values:
            if not isinstance(v, str):
                continue
            if "*" in v or "?" in v:
                open_.add(target)
            else:
                named.setdefault(v, set()).add(target)
                if ":assumed-role/" in v:  # a session: found by the role's "any session" ARN (…/ROLE/*)
                    named.setdefault(v.rsplit("/", 1)[0] + "/*", set()).add(target)


# Principal keys that single one principal out (its ARN, name, unique id): conditions that use them
# are evaluated per principal; the rest of the principal's context is its kind, account, org and tags.
# Keys whose value differs between principals that share kind, account, organisation and tags: a
# statement reading one is evaluated per principal. aws:TokenIssueTime: a leaked session's is unknown, a
# session the attacker creates is "now" (``AccountModel.base_context``).
_IDENTITY_KEYS = (
    "aws:principalarn",
    "aws:username",
    "aws:userid",
    "aws:principalservicename",
    "aws:tokenissuetime",
)
_PRINCIPAL_TAG = re.compile(r"aws:principaltag/([^}\s]*)")


# What statements read of the principal making a request: (whether they read no identity key, so the
# principal's kind, account, organization and tags decide them; the principal tags they read).
PrincipalReads = tuple[bool, frozenset[str]]


def _principal_reads(statements: Iterable[Statement], *, named: bool = False) -> PrincipalReads:
    """``PrincipalReads`` of ``statements``; with ``named`` (resource-based policies such as RCPs), a
    statement whose Principal is not ``"*"`` depends on who the principal is too."""
    generic = True
    tags: set[str] = set()
    for st in statements:
        if named and (st.not_principal or st.principal not in ("*", {"AWS": ("*",)})):
            generic = False
        for clause in st.conditions:
            text = " ".join((clause.key_lower, *clause.values)).lower()
            generic = generic and not any(k in text for k in _IDENTITY_KEYS)
            tags.update(_PRINCIPAL_TAG.findall(text))
    return generic, frozenset(tags)


def _owner(principal: Principal, reads: PrincipalReads) -> object:
    """Who a decision by statements with these ``reads`` depends on: the principal itself, or what it
    shares with every principal of the same kind, account and organization and the same values of the
    tags read."""
    generic, tags = reads
    if not generic:
        return principal.arn
    rp = principal.request_principal
    kept = tuple(sorted((k, v) for k, v in rp.tags.items() if k.lower() in tags))
    return (rp.kind, rp.account_id, rp.org_id, rp.service_linked, kept)


def _condition_owner(st: Statement, principal: Principal) -> object:
    """Whose context a statement's conditions depend on (``_owner``) — or no one, when they read only the
    resource's keys (its tags, account, organization, Region, a key's aliases) and ``kms:ViaService``."""
    if all(
        c.key_lower.startswith((*_RESOURCE_KEYS, _VIA_SERVICE_LOWER)) and not any("${" in v for v in c.values)
        for c in st.conditions
    ):
        return None
    return _owner(principal, _principal_reads((st,)))


# statement_masks matches in bulk when at least 1/_BULK_SHARE of the type's datasets are to be decided.
_BULK_SHARE = 8
# _RequestLines.matching tries only the lines holding a literal part of a glob when it is in fewer than
# 1/_RARE_PART of them (a regex scan costs about that much per line as a match per line holding it).
_RARE_PART = 5
_WILDCARDS = re.compile(r"[*?]")


class _RequestLines:
    """Request ARNs of every dataset of a type, newline-joined for whole-text regex scans."""

    __slots__ = ("_sorted", "_starts", "has_lines", "lines", "owner", "text", "total")

    def __init__(self, lines: list[str], owner: list[int]) -> None:
        self.lines = lines
        self.owner = owner  # line -> dataset position
        self.total: dict[int, int] = {}  # dataset position -> its number of lines
        for pos in owner:
            self.total[pos] = self.total.get(pos, 0) + 1
        self.has_lines = mask_of(self.total)  # datasets with at least one request ARN
        self.text = "\n".join(lines)
        starts = [0] * len(lines)
        at = 0
        for i, line in enumerate(lines):
            starts[i] = at
            at += len(line) + 1
        self._starts = starts
        self._sorted: list[tuple[str, int]] | None = None

    def matching(self, pattern: str) -> Iterable[int]:
        """Lines the IAM resource glob matches as a whole (case-sensitive; ``*``/``?`` cross any
        character but the line break, which no ARN contains)."""
        if pattern == "*":
            return range(len(self.lines))
        # A line the glob matches holds each of its literal parts: one that is nowhere in the text (a
        # search in C) rules out every line, with no sorting nor regex scan (an S3 pattern against the
        # parameters of a statement naming both, an index pattern against tables without indexes).
        parts = [part for part in _WILDCARDS.split(pattern) if part]
        if any(part not in self.text for part in parts):
            return []
        star = min((i for i in (pattern.find("*"), pattern.find("?")) if i != -1), default=-1)
        if star == -1:  # exact
            return [i for i in self._prefixed(pattern) if self.lines[i] == pattern]
        if star == len(pattern) - 1 and pattern[-1] == "*":  # literal prefix
            return self._prefixed(pattern[:-1])
        body = "".join("[^\n]*" if ch == "*" else "[^\n]" if ch == "?" else re.escape(ch) for ch in pattern)
        # A literal part after the first wildcard that few lines hold: match those alone (before sorting
        # the lines for the prefix below, which a large type then never needs).
        rare, count = min(
            ((part, self.text.count(part)) for part in (parts[1:] if star else parts)),
            key=lambda found: found[1],
            default=("", 0),
        )
        if rare and count * _RARE_PART < len(self.lines):
            return self._holding(rare, re.compile(body).fullmatch)
        lo, hi = self._prefix_range(pattern[:star])
        if (hi - lo) * 4 < len(self.lines):
            # The literal part before the first wildcard selects few lines: match those alone.
            whole = re.compile(body).fullmatch
            assert self._sorted is not None
            return [i for line, i in self._sorted[lo:hi] if whole(line)]
        # Unanchored, the regex engine skips ahead to its literal prefix (an anchored one tries every
        # position); a match that does not start a line is a line on which the glob failed at the start.
        regex = re.compile(f"(?:{body})$", re.MULTILINE)
        starts = self._starts
        out: list[int] = []
        for m in regex.finditer(self.text):
            at = m.start()
            line = bisect.bisect_right(starts, at) - 1
            if starts[line] == at:
                out.append(line)
        return out

    def _holding(self, part: str, whole: Callable[[str], object]) -> list[int]:
        """The lines holding ``part`` (a text without line breaks) that ``whole`` matches, ascending."""
        starts, lines, find = self._starts, self.lines, self.text.find
        out: list[int] = []
        last = -1
        at = find(part)
        while at != -1:
            line = bisect.bisect_right(starts, at) - 1
            if line != last:
                last = line
                if whole(lines[line]):
                    out.append(line)
            at = find(part, at + 1)
        return out

    def _prefix_range(self, prefix: str) -> tuple[int, int]:
        """The slice of the lines in sorted order that start with ``prefix``."""
        if self._sorted is None:
            self._sorted = sorted((line, i) for i, line in enumerate(self.lines))
        keys = self._sorted
        lo = bisect.bisect_left(keys, (prefix, -1))
        return lo, bisect.bisect_left(keys, (prefix + "\U0010ffff", -1), lo)

    def _prefixed(self, prefix: str) -> list[int]:
        """Lines starting with ``prefix`` (by bisecting the lines in sorted order)."""
        lo, hi = self._prefix_range(prefix)
        assert self._sorted is not None
        return [i for _, i in self._sorted[lo:hi]]


def _literal_pattern_mask(index: DatasetIndex, pattern: str) -> int | None:
    """What ``_PrefixIndex.select`` concerns, by bisecting the sorted ARNs, for an exact ARN or a
    literal prefix followed by one ``*``: the ARNs it matches, and those it names a sub-resource of
    (``arn:aws:s3:::bucket/*`` concerns ``arn:aws:s3:::bucket``). None for other patterns."""
    if "?" in pattern or "$" in pattern:
        return None
    star = pattern.find("*")
    if star == -1:
        prefix, exact = pattern, True
    elif star == len(pattern) - 1:
        prefix, exact = pattern[:-1], False
    else:
        return None
    arns, position = index.arns, index.position
    mask = 0
    if exact:
        pos = position.get(prefix)
        if pos is not None:
            mask |= 1 << pos
    else:
        lo = bisect.bisect_left(arns, prefix)
        hi = bisect.bisect_left(arns, prefix + "\U0010ffff", lo)
        if hi > lo:
            mask |= ((1 << (hi - lo)) - 1) << lo
    for i, ch in enumerate(prefix):
        if ch == "/" and (pos := position.get(prefix[:i])) is not None:
            mask |= 1 << pos
    return mask


def _plain_ranges(st: Statement, arns: Sequence[str]) -> int | None:
    """The datasets (sorted ``arns``) a statement's Resource/NotResource selects, when every pattern is
    ``*``, an exact ARN or a literal prefix followed by one ``*`` (what ``ResourcePattern.match`` then
    does: equality or ``startswith``); None for globs and policy variables."""
    patterns = st.resource_patterns
    if patterns is None:
        return (1 << len(arns)) - 1
    mask = 0
    for pattern in patterns:
        if "$" in pattern or "?" in pattern:
            return None
        if pattern == "*":
            mask = (1 << len(arns)) - 1
            continue
        stars = pattern.count("*")
        if stars == 0:
            lo = bisect.bisect_left(arns, pattern)
            if lo < len(arns) and arns[lo] == pattern:
                mask |= 1 << lo
        elif stars == 1 and pattern.endswith("*"):
            prefix = pattern[:-1]
            lo = bisect.bisect_left(arns, prefix)
            # ARNs with the prefix are contiguous in sorted order; find the end by bisecting on the
            # first string greater than every extension of the prefix.
            hi = bisect.bisect_left(arns, prefix + "\U0010ffff", lo)
            if hi > lo:
                mask |= ((1 << (hi - lo)) - 1) << lo
        else:
            return None
    if st.not_resource:
        return ((1 << len(arns)) - 1) & ~mask
    return mask


def _index_direct_names(
    document: Mapping[str, object], target: str, names: dict[str, set[str]], open_: set[str]
) -> None:
    """Record the AWS principal strings a resource policy's Allow statements list (and the prefix of
    session ARNs), or mark the policy open (wildcards, NotPrincipal, shapes not understood)."""
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        open_.add(target)
        return
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") == "Deny":
            continue
        principal = st.get("Principal")
        if "NotPrincipal" in st or principal == "*":
            open_.add(target)
            return
        if principal is None:
            continue
        if not isinstance(principal, dict):
            open_.add(target)
            return
        aws = principal.get("AWS")
        values = aws if isinstance(aws, list) else [aws] if aws is not None else []
        for v in values:
            if not isinstance(v, str) or "*" in v or "?" in v:
                open_.add(target)
                return
            names.setdefault(v, set()).add(target)
            if ":assumed-role/" in v:
                names.setdefault(v[: v.rindex("/") + 1], set()).add(target)


def _certainty(decision: Decision) -> str:
    return DEFINITE if decision.verdict is Verdict.ALLOW else CONDITIONAL


def _evidence(decision: Decision) -> tuple[str | None, str | None]:
    """(policy, statement) that decided an allow, for the edge's 'why'."""
    for ref in decision.matched:
        if ref.effect == "Allow":
            return ref.policy, ref.label()
    if decision.matched:
        ref = decision.matched[0]
        return ref.policy, ref.label()
    return None, None


EdgeBuilder = Callable[["PermissionGraph", Principal, "SkipGrant | None"], Iterable[Edge]]


class PermissionGraph:
    """A lazily-expanded networkx MultiDiGraph of principals and datasets."""

    def __init__(
        self,
        model: AccountModel,
        *,
        edge_builders: Sequence[EdgeBuilder] | None = None,
        escalation: bool = True,
    ) -> None:
        self.model = model
        self.graph = nx.MultiDiGraph()
        self._expanded: set[str] = set()
        self._linked: set[str] = set()  # principals whose link_edges are in the graph
        self._others: dict[tuple[EdgeBuilder, str], list[Edge]] = {}  # edges of non-standard builders
        self._kms_cache: dict[tuple[str, str, str, str | None], Decision | None] = {}
        self._kms_shared: dict[tuple[object, ...], Decision] = {}
        self._kms_principal_side: dict[
            tuple[str, str],
            tuple[bool, tuple[Statement, ...], tuple[Statement, ...] | None, tuple[tuple[int, ...], ...]],
        ] = {}
        self._kms_key_side: dict[tuple[str, str], tuple[bool, tuple[tuple[int, ...], ...]]] = {}
        self._kms_applies: dict[tuple[int, str], bool] = {}
        self._assume_shared: dict[tuple[object, ...], Decision] = {}
        # (principal, KMS action, kms:ViaService) -> (surely allowed, surely denied, decided) key bitsets
        self._key_allowed: dict[tuple[str, str, str | None], tuple[int, int, int]] = {}
        self._independent: dict[int, bool] = {}
        self._trust_independent: dict[str, bool] = {}
        self._names_cache: dict[tuple[str, str], bool] = {}
        # Engine decisions shared by requests on which the same statements apply (see _applicable).
        self.memo: dict[tuple[object, ...], Decision] = {}
        self._delegation_cache: dict[tuple[int, str, str], bool] = {}
        # _key_masks of principals the KMS decision cannot tell apart (same statements, same keys to decide)
        self._key_masks_shared: dict[tuple[object, ...] | None, tuple[int, int]] = {}
        default: tuple[EdgeBuilder, ...] = (assume_edges, access_edges)
        if escalation and model.rules.escalation is not None:
            default = (*default, escalate_edges)
        self.edge_builders: tuple[EdgeBuilder, ...] = tuple(
            edge_builders if edge_builders is not None else default
        )

    def expand(self, arn: str, skip: SkipGrant | None = None) -> list[Edge]:
        """Outgoing edges of a principal, computed once (lazily).

        ``skip(dataset, level)``: access grants the caller does not need (it already has a better path);
        only for single-origin searches, since skipped edges are never computed for this graph.
        """
        if arn not in self._expanded:
            self._expanded.add(arn)
            principal = self.model.principal(arn)
            self.graph.add_node(arn, kind="principal")
            if principal is not None:
                for builder in self.edge_builders:
                    for edge in builder(self, principal, skip):
                        self.add_edge(edge)
        return [data["edge"] for _, _, data in self.graph.out_edges(arn, data=True)]

    # -- a single-key search in two passes (``reach``) ----------------------------------------------

    def link_edges(self, arn: str, floor: GrantFloor) -> list[Edge]:
        """The principal's edges to other principals (assume, and the escalation techniques that give
        another principal), computed once and kept in the graph. They never depend on the grants a search
        holds, so a search can find every principal (and the order it expands them in) before asking
        for any grant; ``floor`` gives the search's origin and the principals it holds (``GrantFloor``)."""
        if arn not in self._linked:
            self._linked.add(arn)
            self.graph.add_node(arn, kind="principal")
            principal = self.model.principal(arn)
            if principal is not None:
                for builder in self.edge_builders:
                    if builder is assume_edges:
                        found: Iterable[Edge] = assume_edges(self, principal, floor)
                    elif builder is escalate_edges:
                        found = escalate_link_edges(self, principal, floor)
                    elif builder is access_edges:
                        continue
                    else:  # another builder: whole, once (its access edges are kept for data_edges)
                        found = self._other_edges(builder, principal)
                    for edge in found:
                        if edge.kind != ACCESS:
                            self.add_edge(edge)
        return [data["edge"] for _, _, data in self.graph.out_edges(arn, data=True)]

    def _other_edges(self, builder: EdgeBuilder, principal: Principal) -> list[Edge]:
        key = (builder, principal.arn)
        found = self._others.get(key)
        if found is None:
            found = self._others[key] = list(builder(self, principal, None))
        return found

    def data_edges(self, arn: str, floor: GrantFloor, types: Collection[str] | None = None) -> list[Edge]:
        """The principal's access edges, its own and those of the data-side escalation techniques, on
        datasets of ``types`` (default: all), leaving out the grants ``floor`` holds (as ``expand``
        does). Not kept in the graph: a search keeps the few that are best in its result, and at the
        scale of a large organisation storing every grant offered costs more than deciding it."""
        principal = self.model.principal(arn)
        if principal is None:
            return []
        model = self.model
        own: list[Edge] = []
        for builder in self.edge_builders:
            if builder is access_edges:
                own.extend(access_edges(self, principal, floor, types))
            elif builder is not assume_edges and builder is not escalate_edges:
                own.extend(
                    e
                    for e in self._other_edges(builder, principal)
                    if e.kind == ACCESS and (types is None or model.datasets[e.target].type in types)
                )
        if escalate_edges not in self.edge_builders:
            return own
        if floor.escalated is not None and floor.origin != arn:
            # Its own grants are held at its escalation count: its data-side techniques cannot improve
            # them either (see GrantFloor.escalated). Not for the origin: the report lists every
            # technique the key itself has.
            for edge in own:
                if edge.level is not None and edge.technique is None:
                    floor.escalated.add(edge.target, edge.level)
        return [*own, *escalate_data_edges(self, principal, floor, types)]

    def prepare_data(self, types: Collection[str] | None = None) -> None:
        """Parse the resource (and key) policies of the datasets of ``types`` (default: all), and the
        organisation policies, before a data pass on those types: every malformed one is reported (in
        ``model.warnings``), not only those the search happens to read. A search split by type between
        processes (``reach``) prepares each share where it is searched."""
        model = self.model
        for dataset in model.datasets.values():
            if types is not None and dataset.type not in types:
                continue
            document = model.effective_policies.get(dataset.arn)
            if document is not None:
                label = f"{'key' if dataset.type == KMS_KEY else 'resource'} policy of {_short(dataset.arn)}"
                model.resource_policy(dataset.arn, document, label)
        for account in sorted({d.account_id for d in model.datasets.values()}):
            model.org_levels(account, RCP)

    def access_masks(self, arn: str) -> dict[tuple[str, str, str], int]:
        """The principal's own access edges as bitsets: (dataset type, level, certainty) -> mask over
        ``model.type_index(type)``. Computed from ``expand(arn)`` (so with the same evidence), without
        assume or escalate edges: a reach over many principals ORs these along its paths."""
        out: dict[tuple[str, str, str], list[int]] = {}
        model = self.model
        for edge in self.expand(arn):
            if edge.kind != ACCESS or edge.level is None:
                continue
            dataset = model.datasets[edge.target]
            pos = model.type_index(dataset.type).position[edge.target]
            out.setdefault((dataset.type, edge.level, edge.certainty), []).append(pos)
        return {key: mask_of(positions) for key, positions in out.items()}

    def add_edge(self, edge: Edge) -> None:
        """Add one evidenced edge (escalation builders use this too)."""
        if edge.target not in self.graph:
            kind = "dataset" if edge.kind == ACCESS else "principal"
            self.graph.add_node(edge.target, kind=kind)
        self.graph.add_edge(edge.source, edge.target, key=(edge.kind, edge.level, edge.technique), edge=edge)

    def expand_all(self) -> None:
        """Build every principal's edges (audits)."""
        for arn in list(self.model.users) + list(self.model.roles):
            self.expand(arn)

    # -- engine calls -----------------------------------------------------------------------------

    def names_directly(self, principal: Principal, dataset: Dataset, policy: Policy | None) -> bool:
        """Whether the resource policy has an Allow naming this principal itself (not only its account)."""
        if policy is None:
            return False
        cache_key = (principal.arn, dataset.arn)
        found = self._names_cache.get(cache_key)
        if found is None:
            rp = principal.request_principal
            found = any(
                st.principal_match(rp, has_boundary=principal.boundary is not None) not in _NOT_DIRECT
                for st in policy.statements
                if not st.is_deny
            )
            self._names_cache[cache_key] = found
        return found

    def only_delegates(
        self, principal: Principal, key: Dataset, policy: Policy, classes: Sequence[_ActionClass]
    ) -> bool:
        """Whether a KMS key policy, for every action of ``classes``, only delegates to the account.

        True when it has no Deny, no grant or Allow names this principal directly, and each action is
        covered by an unconditional Allow naming the principal's account on this key (the "Enable IAM
        policies" statement of *Key policies in AWS KMS*). The key decision is then the identity one.
        """
        if policy.denies or self.has_grant(principal, key) or self.names_directly(principal, key, policy):
            return False
        rp = principal.request_principal
        for cls in classes:
            for action in cls.members:
                cache_key = (id(policy), action, rp.account_id)
                ok = self._delegation_cache.get(cache_key)
                if ok is None:
                    ok = any(
                        not st.conditions
                        and st.resource_state(key.arn, None) is Tri.YES
                        and st.principal_match(rp, has_boundary=principal.boundary is not None)
                        is PrincipalMatch.ACCOUNT
                        for st in policy.statements_for(action)
                    )
                    self._delegation_cache[cache_key] = ok
                if not ok:
                    return False
        return True

    def resource_edge(
        self,
        principal_arn: str,
        target: str,
        action: str,
        *,
        resource: str | None = None,
        resource_account: str,
        tags: Mapping[str, str] | None = None,
        level: str = "read",
    ) -> Edge | None:
        """An ``access`` edge to a non-dataset resource whose resource policy is not collected (a Lambda
        function's configuration, a CodeBuild project), decided by the engine like any other edge:
        identity policies, boundary and the attacker-model context (across accounts, with no resource
        policy, nothing is allowed). ``resource`` is the ARN evaluated (default ``target``; ``*`` for
        actions without resource-level permissions). None when not allowed or the principal is unknown.
        """
        principal = self.model.principal(principal_arn)
        if principal is None:
            return None
        decision = _decide(
            self.model,
            principal,
            action,
            resource or target,
            None,
            None,
            resource_account=resource_account,
            tags=tags or {},
        )
        if not decision.allowed:
            return None
        policy, statement = _evidence(decision)
        return Edge(
            source=principal_arn,
            target=target,
            kind=ACCESS,
            certainty=_certainty(decision),
            actions=(action,),
            policy=policy,
            statement=statement,
            conditions=decision.conditions,
            level=level,
        )

    def has_grant(self, principal: Principal, key: Dataset) -> bool:
        """Whether a KMS grant on ``key`` names this principal (or its role sessions) as grantee."""
        rp = principal.request_principal
        return any(g.grantee_principal in (rp.arn, rp.session_arn) for g in key.grants)

    def key_use(
        self, principal: Principal, key_arn: str, action: str, via: str | None = None
    ) -> Decision | None:
        """May ``principal`` call ``action`` (e.g. kms:Decrypt) on ``key_arn``, itself or (``via``, the
        ``kms:ViaService``) through a data store? None if the key is unknown."""
        cache_key = (principal.arn, key_arn, action, via)
        if cache_key in self._kms_cache:
            return self._kms_cache[cache_key]
        key = self.model.datasets.get(key_arn)
        result: Decision | None = None
        if key is not None and key.type == KMS_KEY:
            result = self.kms_decision(principal, key, action, via)
        self._kms_cache[cache_key] = result
        return result

    def key_surely_allowed(
        self, principal: Principal, key_arn: str, action: str, via: str | None = None
    ) -> bool:
        """Whether ``key_use`` would ALLOW without conditions, known by bitset for keys whose policy only
        delegates the action to the principal's account (see ``_mask_decide``); False means "ask"."""
        if not _USE_MASKS:
            return False
        pos = self.model.type_index(KMS_KEY).position.get(key_arn)
        if pos is None:
            return False
        return bool(self._key_masks(principal, action, via, 1 << pos)[0] >> pos & 1)

    def key_surely_denied(
        self, principal: Principal, key_arn: str, action: str, via: str | None = None
    ) -> bool:
        """Whether ``key_use`` would deny (not even conditionally), known by bitset: keys that only
        delegate to the account and whose identity decision denies, and keys whose policy allows the
        account nothing (Key policies in AWS KMS). False means "ask"."""
        if not _USE_MASKS:
            return False
        pos = self.model.type_index(KMS_KEY).position.get(key_arn)
        return pos is not None and bool(self._key_masks(principal, action, via, 1 << pos)[1] >> pos & 1)

    def prime_keys(self, principal: Principal, action: str, via: str | None, keys: int) -> None:
        """Decide ``key_surely_allowed``/``key_surely_denied`` for ``keys`` (a bitset over the KMS key
        index) in one batch. A principal's masks are otherwise computed for every key of the region at the
        first question; a caller that knows which keys it will ask about (``access_edges``: the keys of
        the datasets it may grant) primes them, and only those are decided (the rest on demand)."""
        if _USE_MASKS and keys:
            self._key_masks(principal, action, via, keys, batch=keys)

    def _key_masks(
        self, principal: Principal, action: str, via: str | None, keys: int, *, batch: int = -1
    ) -> tuple[int, int]:
        """(surely allowed, surely denied) keys for ``action``, by bitset, decided at least on ``keys``;
        with ``via``, only the keys of its region (a data store calls the key of the region its data is
        in). Keys not yet decided are decided in one batch: ``batch`` (every key, unless primed) and the
        asked ``keys``, or just those once the principal's masks were primed."""
        cache_key = (principal.arn, action, via)
        found = self._key_allowed.get(cache_key)
        if found is not None:
            allowed, denied, evaluated = found
            if not _without(keys, evaluated):
                return allowed, denied
            todo = _without(keys, evaluated)  # primed before: only what is asked
        else:
            allowed = denied = evaluated = 0
            todo = batch | keys
        model = self.model
        base = model.base_context(principal)
        region_keys = -1
        if via is not None:
            base = base.with_values({VIA_SERVICE: (via,)})
            region_keys = model.type_index(KMS_KEY).region_mask(via.split(".")[1])
        unnamed = _without(
            todo & region_keys,
            model.may_name_mask(principal, KMS_KEY)
            | model.named_mask(principal, KMS_KEY)
            | model.rcp_opaque_mask(principal, KMS_KEY, (action,)),
        )
        need = model.delegating_keys(action, principal.account_id) & unnamed
        if need:
            deciding = model.scp_free(principal, (action,))
            classes = _action_classes(deciding, (action,), base, model.region_state)
            shared = _classes_key(classes)
            memo = (action, shared, need, via) if shared is not None else None
            hit = self._key_masks_shared.get(memo) if memo is not None else None
            if hit is None:
                definite, slow = _mask_decide(model, deciding, KMS_KEY, classes, need, base, via=via)
                now_allowed = mask_of(definite)
                hit = (now_allowed, _without(_without(need, now_allowed), slow))
                if memo is not None:
                    self._key_masks_shared[memo] = hit
            allowed |= hit[0]
            denied |= hit[1]
        denied |= model.closed_keys(action, principal.account_id) & unnamed
        self._key_allowed[cache_key] = (allowed, denied, evaluated | todo)
        return allowed, denied

    def denied_keys(self, principal: Principal, actions: Sequence[str], via: str | None) -> int:
        """The KMS keys (bitset over the key index) that surely deny one of ``actions`` to the principal
        through ``via`` (``key_surely_denied`` of any of them), among those decided so far (primed)."""
        denied = 0
        for action in actions:
            denied |= self._key_masks(principal, action, via, 0)[1]
        return denied

    def key_sealed(self, principal: Principal, dataset: Dataset, level: str) -> bool:
        """Whether the dataset's KMS key surely denies one of the KMS actions ``level`` needs, by bitset
        alone: ``_key_effect`` then answers ``_SEALED`` whatever the other actions give."""
        assert dataset.kms_key is not None
        if not _USE_MASKS:
            return False
        model = self.model
        via = model.via_service(dataset.type, dataset.kms_key)
        pos = model.type_index(KMS_KEY).position.get(dataset.kms_key)
        if pos is None:
            return False
        for action in model.rules.datastores.kms_actions(dataset.type, level):
            # key_surely_denied, reading the masks directly once they hold the key (asked many times)
            found = self._key_allowed.get((principal.arn, action, via))
            if found is not None and found[2] >> pos & 1:
                denied = found[1]
            else:
                denied = self._key_masks(principal, action, via, 1 << pos)[1]
            if denied >> pos & 1:
                return True
        return False

    def kms_decision(
        self, principal: Principal, key: Dataset, action: str, via: str | None = None
    ) -> Decision:
        """``_decide_kms``, shared between principals for whom it cannot differ.

        When the key policy and grants cannot name the principal (``may_name``) and no statement
        involved has a condition on a principal key or a policy variable, the decision depends only on
        the statements that cover the action and may apply to the key (identity and boundary), the
        principal's account and kind.
        """
        principal = self.model.scp_free(principal, (action,))
        memo_key = self._kms_memo_key(principal, key, action)
        if memo_key is None:
            return _decide_kms(self.model, principal, key, action, via)
        memo_key = (*memo_key, via)
        found = self._kms_shared.get(memo_key)
        if found is None:
            found = self._kms_shared[memo_key] = _decide_kms(self.model, principal, key, action, via)
        return found

    def assume_decision(self, principal: Principal, role: Principal) -> Decision:
        """May ``principal`` call sts:AssumeRole on ``role`` (identity AND trust policy)? Shared, like
        ``kms_decision``, between principals the trust policy cannot name and whose statements involved
        do not depend on who they are."""
        model = self.model
        assert role.trust_policy is not None
        tags = model.roles[role.arn].tags
        memo_key: tuple[object, ...] | None = None
        if role.arn not in model.may_be_trusted(principal):
            side = self._principal_side(principal, ASSUME_ACTION)
            trust_ok = self._trust_independent.get(role.arn)
            if trust_ok is None:
                rcps = model.rcps(role.arn, role.account_id)
                involved = [
                    *role.trust_policy.statements_for(ASSUME_ACTION),
                    *(st for level in rcps for p in level for st in p.statements_for(ASSUME_ACTION)),
                ]
                trust_ok = all(_principal_independent(st) for st in involved)
                self._trust_independent[role.arn] = trust_ok
            ident = self._applicable_ids(side[1], role.arn)
            bound = () if side[2] is None else self._applicable_ids(side[2], role.arn)
            if side[0] and trust_ok and ident is not None and bound is not None:
                memo_key = (
                    role.arn,
                    principal.account_id,
                    principal.kind,
                    principal.request_principal.service_linked,
                    ident,
                    None if side[2] is None else bound,
                    side[3],
                )
                found = self._assume_shared.get(memo_key)
                if found is not None:
                    return found
        decision = _decide(
            model, principal, ASSUME_ACTION, role.arn, None, role.trust_policy, required=True, tags=tags
        )
        if memo_key is not None:
            self._assume_shared[memo_key] = decision
        return decision

    def _principal_side(
        self, principal: Principal, action: str
    ) -> tuple[bool, tuple[Statement, ...], tuple[Statement, ...] | None, tuple[tuple[int, ...], ...]]:
        """The principal's statements covering ``action`` (identity, boundary, SCP levels) and whether
        no SCP statement depends on who the principal is (cached)."""
        side = self._kms_principal_side.get((principal.arn, action))
        if side is None:
            identity = tuple(st for p in principal.identity_policies for st in p.statements_for(action))
            bound = principal.boundary.statements_for(action) if principal.boundary is not None else None
            scps = tuple(
                tuple(st for p in level for st in p.statements_for(action)) for level in principal.scps
            )
            side = self._kms_principal_side[(principal.arn, action)] = (
                all(_principal_independent(st) for level in scps for st in level),
                identity,
                bound,
                tuple(tuple(id(st) for st in level) for level in scps),
            )
        return side

    def _applicable_ids(self, statements: Sequence[Statement], resource: str) -> tuple[int, ...] | None:
        """Ids of the statements whose resource may match (the others take no part in a decision);
        None when one of those depends on who the principal is (``_principal_independent``)."""
        applies = self._kms_applies
        out: list[int] = []
        for st in statements:
            hit = applies.get((id(st), resource))
            if hit is None:
                hit = applies[(id(st), resource)] = st.resource_state(resource, None) is not Tri.NO
            if hit:
                independent = self._independent.get(id(st))
                if independent is None:
                    independent = self._independent[id(st)] = _principal_independent(st)
                if not independent:
                    return None
                out.append(id(st))
        return tuple(out)

    def _kms_memo_key(self, principal: Principal, key: Dataset, action: str) -> tuple[object, ...] | None:
        model = self.model
        if key.arn in model.may_name_cached(principal) or self.has_grant(principal, key):
            return None
        side = self._principal_side(principal, action)
        independent, identity, bound, scp_ids = side
        ident = self._applicable_ids(identity, key.arn)
        bounds = () if bound is None else self._applicable_ids(bound, key.arn)
        if not independent or ident is None or bounds is None:
            return None
        resource_side = self._kms_key_side.get((key.arn, action))
        if resource_side is None:
            key_policy = model.resource_policy(
                key.arn, key.resource_policy, functools.partial(_policy_label, key)
            )
            rcps = tuple(
                tuple(st for p in level for st in p.statements_for(action))
                for level in model.rcps(key.arn, key.account_id)
            )
            involved = [
                *(key_policy.statements_for(action) if key_policy else ()),
                *(st for lv in rcps for st in lv),
            ]
            resource_side = self._kms_key_side[(key.arn, action)] = (
                all(_principal_independent(st) for st in involved),
                tuple(tuple(id(st) for st in level) for level in rcps),
            )
        if not resource_side[0]:
            return None
        # Statements whose resource cannot match the key do not take part in the decision.
        return (
            key.arn,
            action,
            principal.account_id,
            principal.kind,
            principal.request_principal.service_linked,
            ident,
            None if bound is None else bounds,
            scp_ids,
            resource_side[1],
        )


# Context keys whose value depends on who asks (principal_context_values): a decision involving none
# of them (and no policy variable) is the same for every principal with the same statements.
_PRINCIPAL_KEYS = ("aws:principal", "aws:user")


def _principal_independent(st: Statement) -> bool:
    if st.resource_patterns is not None and any("${" in p for p in st.resource_patterns):
        return False
    return not any(
        c.key_lower.startswith(_PRINCIPAL_KEYS) or any("${" in v for v in c.values) for c in st.conditions
    )


def escalate_edges(
    graph: PermissionGraph, principal: Principal, skip: SkipGrant | None = None
) -> Iterable[Edge]:
    """``escalate`` edges from the techniques of escalation.toml (see ``blastradius.escalation``)."""
    from blastradius.escalation import escalation_edges  # it builds on this module

    return escalation_edges(graph, principal, skip)


def escalate_link_edges(graph: PermissionGraph, principal: Principal, floor: GrantFloor) -> list[Edge]:
    """The ``escalate`` edges to other principals (see ``PermissionGraph.link_edges``)."""
    from blastradius.escalation import link_edges  # it builds on this module

    return link_edges(graph, principal, floor)


def escalate_data_edges(
    graph: PermissionGraph, principal: Principal, floor: GrantFloor, types: Collection[str] | None
) -> list[Edge]:
    """The access edges of the data-side techniques (see ``PermissionGraph.data_edges``)."""
    from blastradius.escalation import search_data_edges

    return search_data_edges(graph, principal, floor, types)


def _decide_kms(
    model: AccountModel, principal: Principal, key: Dataset, action: str, via: str | None = None
) -> Decision:
    """KMS key policies must themselves allow (Key policies in AWS KMS); grants add permissions.
    ``via``: the ``kms:ViaService`` when a data store makes the call for the principal."""
    if key.key_manager == "AWS":
        # AWS managed keys: their key policy lets every principal of the account use the key through
        # the owning service (kms:ViaService); direct reads through S3/DynamoDB/etc. succeed.
        return Decision(verdict=Verdict.ALLOW, matched=(), conditions=(), explain="AWS managed key")
    policy = model.resource_policy(key.arn, key.resource_policy, functools.partial(_policy_label, key))
    decision = _decide(model, principal, action, key.arn, key, policy, required=True, via=via)
    if decision.verdict is Verdict.ALLOW or decision.verdict is Verdict.EXPLICIT_DENY:
        return decision
    op = action.split(":", 1)[1]
    rp = principal.request_principal
    for grant in key.grants:
        if op in grant.operations and grant.grantee_principal in (rp.arn, rp.session_arn):
            return Decision(
                verdict=Verdict.ALLOW,
                matched=(),
                conditions=(),
                explain=f"KMS grant {grant.grant_id} gives {principal.name} {op}",
            )
    return decision


def _decide(
    model: AccountModel,
    principal: Principal,
    action: str,
    resource: str,
    dataset: Dataset | None,
    resource_policy: Policy | None,
    *,
    required: bool = False,
    resource_account: str | None = None,
    tags: Mapping[str, str] | None = None,
    via: str | None = None,
) -> Decision:
    account = resource_account or (dataset.account_id if dataset else _account_of(resource))
    context = model.context(
        principal, tags if tags is not None else (dataset.tags if dataset else {}), account, via, dataset
    )
    request = Request(
        principal=principal.request_principal,
        action=action,
        resource=resource,
        resource_account=account,
        context=context,
    )
    return decide(
        request,
        identity_policies=principal.identity_policies,
        permissions_boundary=principal.boundary,
        resource_policy=resource_policy,
        resource_policy_required=required,
        scps=principal.scps,
        rcps=model.rcps_for(principal, resource, account, (action,)),
    )


def _best(decisions: Iterable[tuple[str, Decision]]) -> tuple[str, Decision] | None:
    """The most certain allowing decision (ALLOW beats CONDITIONAL); None if nothing allows."""
    best: tuple[str, Decision] | None = None
    for action, decision in decisions:
        if decision.verdict is Verdict.ALLOW:
            return action, decision
        if decision.verdict is Verdict.CONDITIONAL and best is None:
            best = (action, decision)
    return best


def assume_edges(
    graph: PermissionGraph, principal: Principal, skip: SkipGrant | None = None
) -> Iterator[Edge]:
    """``assume`` edges: identity allows sts:AssumeRole on the role AND its trust policy allows.

    With a ``GrantFloor`` whose search already reaches a role at least as cheaply as an edge from this
    principal could (``GrantFloor.principals``), the assumption into it is not decided."""
    model = graph.model
    settled = skip.principals if isinstance(skip, GrantFloor) else None
    for role_arn in sorted(model.candidate_roles(principal)):
        if role_arn == principal.arn or (settled is not None and settled(role_arn)):
            continue
        target = model.principal(role_arn)
        if target is None or target.trust_policy is None:
            continue
        if role_arn not in model.may_be_trusted(principal) and not model.trust_admits(
            target, principal.account_id
        ):
            # The trust policy names neither this principal nor its account: it must allow, so nothing
            # can (Policy evaluation logic; "How IAM roles differ from resource-based policies").
            continue
        decision = graph.assume_decision(principal, target)
        if not decision.allowed:
            continue
        policy, statement = _evidence(decision)
        yield Edge(
            source=principal.arn,
            target=role_arn,
            kind=ASSUME,
            certainty=_certainty(decision),
            actions=(ASSUME_ACTION,),
            policy=policy,
            statement=statement,
            conditions=decision.conditions,
        )


@dataclass(frozen=True, slots=True)
class _ActionClass:
    """Actions of one (dataset type, level) that the principal's policies treat identically.

    Actions covered by exactly the same identity and boundary statements get the same decision on any
    resource without a resource policy, so one representative (``action``) is evaluated for all of
    ``members``. ``fast`` marks classes whose statements' conditions do not depend on the resource:
    they are settled once against the principal's context (a statement whose condition is false is
    dropped; one whose condition cannot be settled is kept in ``maybe``), and the decision on a resource
    becomes pattern matching (``_fast_decide``), with the full engine only for the uncertain cases.
    """

    action: str
    members: tuple[str, ...]
    allows: tuple[Statement, ...]
    denies: tuple[Statement, ...]
    boundary_allows: tuple[Statement, ...] | None  # None: no boundary
    maybe: frozenset[int]  # ids of statements whose conditions could not be settled
    fast: bool
    scp_allows: tuple[tuple[Statement, ...], ...] = ()  # per SCP level: each must allow


# What an IAM user's aws:TokenIssueTime is (AccountModel.base_context).
_TOKEN_CHOICE = "absent with the long-term key, or now with a session token from sts:GetSessionToken"


def _token_choice(now: tuple[str, ...]) -> Choice:
    """A user's ``aws:TokenIssueTime``: absent (its long-term key) or ``now`` (a session token it gets
    from ``sts:GetSessionToken``, which needs no permission). Such a session cannot call IAM without
    MFA, nor STS beyond AssumeRole and GetCallerIdentity (STS API reference, *GetSessionToken*), and the
    attacker has no MFA device: for those calls only the long-term key exists. ``iam:PassRole`` is no
    call but a permission checked when another service is called, so the session keeps it."""
    return Choice(
        (None, now),
        _TOKEN_CHOICE,
        first_only=("iam:", "sts:"),
        first_only_except=frozenset({"iam:passrole", "sts:assumerole", "sts:getcalleridentity"}),
    )


# Set only when a service calls KMS for the caller (see AccountModel.base_context).
VIA_SERVICE = "kms:ViaService"
_VIA_SERVICE_LOWER = VIA_SERVICE.lower()
# A KMS key's aliases (AccountModel.resource_keys).
RESOURCE_ALIASES = "kms:ResourceAliases"
REQUESTED_REGION = "aws:RequestedRegion"
_RESOURCE_ALIASES_LOWER = RESOURCE_ALIASES.lower()
_REQUESTED_REGION_LOWER = REQUESTED_REGION.lower()

# Condition keys whose value differs between resources (the rest of the context is per principal).
_RESOURCE_KEYS = (
    "aws:resourcetag/",
    "aws:resourceaccount",
    "aws:resourceorg",
    "kms:resourcealiases",
    "aws:requestedregion",
)


# AccountModel._resource_context: a dataset's account, tags and other keys, normalised, and its absent keys.
_ResourceItems = tuple[
    tuple[tuple[str, tuple[str, ...]], ...],
    tuple[tuple[str, tuple[str, ...]], ...],
    tuple[tuple[str, tuple[str, ...]], ...],
    frozenset[str],
]
# The absent-key prefix ``AccountModel.context`` adds: the resource's tags are complete.
_RESOURCE_TAG_ABSENT = ("aws:resourcetag/",)

# Settles a condition on aws:RequestedRegion when every Region a request may go to gives one answer
# (``AccountModel.region_state``); None: it depends on the resource's Region.
RegionSettle = Callable[[Clause, bool], "Tri | None"]


def _settle(statement: Statement, context: Context, regional: RegionSettle | None = None) -> Tri | None:
    """A statement's conditions against the principal's context; None if they depend on the resource
    (a condition on aws:RequestedRegion does only where the Regions disagree, see ``regional``)."""
    state = Tri.YES
    for clause in statement.conditions:
        if any("${" in v for v in clause.values):
            return None
        if regional is not None and clause.key_lower == _REQUESTED_REGION_LOWER:
            found = regional(clause, statement.is_deny)
            if found is None:
                return None
            result = found
        elif clause.key_lower.startswith(_RESOURCE_KEYS):
            return None
        else:
            result = clause.evaluate(context, deny=statement.is_deny)
        if result is Tri.NO:
            return Tri.NO
        if result is Tri.UNKNOWN:
            state = Tri.UNKNOWN
    return state


def _action_classes(
    principal: Principal, actions: Sequence[str], context: Context, regional: RegionSettle | None = None
) -> tuple[_ActionClass, ...]:
    boundary = principal.boundary
    actions = tuple(actions)
    # Actions fall in one class when every policy covers them with the same statements: each policy
    # labels the actions by the statements covering them (``Policy.action_groups``, cached on the
    # policy, so shared by every principal a managed policy is attached to), and a class is a vector
    # of labels, one per policy (identity, boundary, each SCP level's). Statements of one policy cover
    # an action or not whoever holds it, so equal vectors mean the same statements, and conversely.
    identity = [policy.action_groups(actions) for policy in principal.identity_policies]
    bounds = boundary.action_groups(actions) if boundary is not None else None
    scp_groups = [[policy.action_groups(actions) for policy in level] for level in principal.scps]
    vectors = [groups.labels for groups in identity]
    if bounds is not None:
        vectors.append(bounds.labels)
    for level in scp_groups:
        vectors.extend(groups.labels for groups in level)
    keys: Iterable[tuple[int, ...]] = zip(*vectors, strict=True) if vectors else [()] * len(actions)
    grouped: dict[tuple[int, ...], list[str]] = {}
    # per group: the statements of its first action (identity, boundary, SCP levels)
    found: dict[tuple[int, ...], tuple[list[Statement], list[Statement], list[list[Statement]]]] = {}
    for i, (action, group) in enumerate(zip(actions, keys, strict=True)):
        members = grouped.get(group)
        if members is None:
            grouped[group] = [action]
            found[group] = (
                [st for groups in identity for st in groups.statements[groups.labels[i]]],
                list(bounds.statements[bounds.labels[i]]) if bounds is not None else [],
                [
                    [st for groups in level for st in groups.statements[groups.labels[i]]]
                    for level in scp_groups
                ],
            )
        else:
            members.append(action)
    out: list[_ActionClass] = []
    for group, members in grouped.items():
        action = members[0]
        covering, bound, scps = found[group]
        guards = [st for level in scps for st in level]
        # (a statement without conditions settles YES)
        settled = {
            id(st): _settle(st, context, regional) if st.conditions else Tri.YES
            for st in (*covering, *bound, *guards)
        }
        fast = None not in settled.values()
        keep = (
            [st for st in (*covering, *bound, *guards) if settled[id(st)] is not Tri.NO]
            if fast
            else [*covering, *bound, *guards]
        )
        kept = {id(st) for st in keep}
        identity_ids = {id(st) for st in covering}
        bound_ids = {id(st) for st in bound}
        out.append(
            _ActionClass(
                action=action,
                members=tuple(members),
                allows=tuple(st for st in keep if not st.is_deny and id(st) in identity_ids),
                denies=tuple(st for st in keep if st.is_deny),
                boundary_allows=(
                    tuple(st for st in keep if not st.is_deny and id(st) in bound_ids)
                    if boundary is not None
                    else None
                ),
                maybe=frozenset(i for i, state in settled.items() if state is Tri.UNKNOWN),
                fast=fast,
                scp_allows=tuple(
                    tuple(st for st in level if not st.is_deny and id(st) in kept) for level in scps
                ),
            )
        )
    return tuple(out)


def scps_transparent(
    levels: Sequence[Sequence[Policy]], action: str, context: Context, regional: RegionSettle | None = None
) -> bool:
    """Whether SCP levels cannot change a decision of ``action`` in ``context`` on any resource: at every
    level an Allow of it applies to every resource (``Resource: "*"``) with its conditions settled true,
    and no Deny of it may apply (its conditions settle false, e.g. an ``aws:PrincipalArn`` exemption or
    the approved-regions guardrail when every Region a request may go to is approved: ``regional``,
    ``AccountModel.region_state``). A condition on the resource (tags, account, organisation) or with a
    policy variable leaves a statement unsettled (``_settle``), and then the levels are weighed by the
    engine. ``context`` is the one of a request of ``action`` (``Context.for_action``)."""
    return all(
        _level_transparent(
            [st for policy in level for st in policy.statements_for(action)], context, regional
        )
        for level in levels
    )


def _rcps_transparent(
    levels: Sequence[Sequence[Policy]],
    principal: RequestPrincipal,
    actions: Sequence[str],
    context: Context,
    memo: dict[tuple[int, ...], bool] | None = None,
) -> bool:
    """Whether RCP levels cannot change any decision of ``actions`` by this principal on any resource:
    at every level an Allow applies to it on every resource without an unsettled condition, and no
    Deny may apply (its conditions settle false in the principal's context, e.g. a data perimeter's
    ``aws:PrincipalOrgID`` test for a principal of the organisation). RCPs only restrict ("Resource
    control policies": they grant nothing), so the decision is then the one without them."""
    for action in actions:
        if not rcps_apply(action):
            continue
        for level in levels:
            statements = [st for policy in level for st in policy.statements_for(action)]
            key = tuple(id(st) for st in statements)  # ``memo`` is per principal (the context is its)
            found = memo.get(key) if memo is not None else None
            if found is None:
                found = _level_transparent(statements, context, principal=principal)
                if memo is not None:
                    memo[key] = found
            if not found:
                return False
    return True


def _level_transparent(
    statements: Sequence[Statement],
    context: Context,
    regional: RegionSettle | None = None,
    principal: RequestPrincipal | None = None,
) -> bool:
    """One SCP or RCP level's statements for an action: an Allow surely applies everywhere, no Deny may
    apply. For an RCP level, ``principal``: only the statements that name it (or anyone) take part."""
    allowed = False
    for st in statements:
        if principal is not None and not (
            st.not_principal or st.principal_match(principal) is not PrincipalMatch.NONE
        ):
            continue
        state = _settle(st, context, regional)
        if st.is_deny:
            if state is not Tri.NO:
                return False
        elif (
            state is Tri.YES
            and not st.not_principal
            and not st.not_resource
            and (st.resource_patterns is None or "*" in st.resource_patterns)
        ):
            allowed = True
    return allowed


def _classes_key(classes: Sequence[_ActionClass]) -> tuple[object, ...] | None:
    """What ``_mask_decide`` reads of the classes when it cannot depend on who asks: the statements (by
    identity) and which are unsettled — None when a condition depends on the resource (settled per
    dataset, in the principal's context) or a Resource has a policy variable."""
    out: list[object] = []
    for cls in classes:
        if not cls.fast:
            return None
        statements = (*cls.allows, *cls.denies, *(cls.boundary_allows or ()), *_flat(cls.scp_allows))
        if any(st.resource_patterns and any("${" in p for p in st.resource_patterns) for st in statements):
            return None
        out.append(
            (
                tuple(id(st) for st in cls.allows),
                tuple(id(st) for st in cls.denies),
                None if cls.boundary_allows is None else tuple(id(st) for st in cls.boundary_allows),
                tuple(tuple(id(st) for st in level) for level in cls.scp_allows),
                tuple(sorted(cls.maybe)),
            )
        )
    return tuple(out)


def _flat(levels: Sequence[Sequence[Statement]]) -> list[Statement]:
    return [st for level in levels for st in level]


def _split_by_policy(classes: Sequence[_ActionClass], policy: Policy) -> list[str]:
    """Representative actions once a resource policy joins: members that its statements also treat alike."""
    reps: list[str] = []
    for cls in classes:
        seen: set[int] = set()  # labels of policy.statements_for (Policy.action_groups)
        for action, label in zip(cls.members, policy.action_groups(cls.members).labels, strict=True):
            if label not in seen:
                seen.add(label)
                reps.append(action)
    return reps


def _applicable(cls: _ActionClass, resources: Sequence[str], context: Context) -> tuple[object, ...] | None:
    """Which of a class's statements apply to each resource — all a decision depends on, for classes
    whose conditions do not involve the resource and requests without a resource policy. None when a
    policy variable leaves a resource match unknown (the engine's reasons then name the resource)."""
    # Statement objects live as long as the model's policy cache, so their ids are stable keys; the
    # class itself is rebuilt per principal and must not be keyed by id.
    key: list[object] = [
        tuple(id(st) for st in cls.denies),
        tuple(id(st) for st in cls.allows),
        None if cls.boundary_allows is None else tuple(id(st) for st in cls.boundary_allows),
        tuple(tuple(id(st) for st in level) for level in cls.scp_allows),
        cls.maybe,
    ]
    for resource in resources:
        hits = []
        for st in (*cls.denies, *cls.allows, *(cls.boundary_allows or ()), *_flat(cls.scp_allows)):
            state = st.resource_state(resource, context)
            if state is Tri.UNKNOWN:
                return None
            if state is Tri.YES:
                hits.append(id(st))
        key.append(tuple(hits))
    return tuple(key)


def _fast_decide(cls: _ActionClass, resources: Sequence[str], context: Context) -> Statement | bool | None:
    """Identity (+ boundary) on a resource without a resource policy, by pattern matching alone.

    Returns the granting Allow statement (a definite allow), None when nothing allows, or False when
    the full engine must decide (an unsettled condition or policy variable is involved, so the answer
    may be conditional). Order as in *Policy evaluation logic*: a matching Deny denies; else an identity
    Allow is needed, and the boundary must allow too.
    """
    maybe = cls.maybe
    for resource in resources:
        denied, deny_open = _first_match(cls.denies, resource, context, maybe)
        if denied is not None:
            continue
        granted, allow_open = _first_match(cls.allows, resource, context, maybe)
        bound_open = False
        if granted is not None and cls.boundary_allows is not None:
            bounded, bound_open = _first_match(cls.boundary_allows, resource, context, maybe)
            if bounded is None:
                granted = None
        for level in cls.scp_allows if granted is not None else ():
            guarded, guard_open = _first_match(level, resource, context, maybe)
            bound_open = bound_open or guard_open
            if guarded is None:
                granted = None
                break
        if deny_open or allow_open or bound_open:
            return False
        if granted is not None:
            return granted
    return None


def _first_match(
    statements: Sequence[Statement], resource: str, context: Context, maybe: frozenset[int]
) -> tuple[Statement | None, bool]:
    """The first statement that surely applies to ``resource``, and whether one before it might have
    (a policy variable without a value, or an unsettled condition)."""
    undecided = False
    for st in statements:
        state = st.resource_state(resource, context)
        if state is Tri.YES and id(st) not in maybe:
            return st, undecided
        if state is not Tri.NO:
            undecided = True
    return None, undecided


SkipGrant = Callable[[str, str], bool]


class _DatasetContext:
    """The request context for one (principal, dataset), built only if the full engine needs it."""

    __slots__ = ("_built", "_dataset", "_model", "_principal")

    def __init__(self, model: AccountModel, principal: Principal, dataset: Dataset) -> None:
        self._model, self._principal, self._dataset = model, principal, dataset
        self._built: Context | None = None

    @property
    def base(self) -> Context:
        """The principal's context (enough for resource patterns without resource keys)."""
        return self._model.base_context(self._principal)

    def get(self) -> Context:
        """The full context, with the dataset's tags and account."""
        if self._built is None:
            dataset = self._dataset
            self._built = self._model.context(
                self._principal, dataset.tags, dataset.account_id, None, dataset
            )
        return self._built


class GrantFloor:
    """Grants a search already holds at a cost the principal being expanded cannot beat.

    A search (``reach``) marks a (dataset, level) *settled* once its best grant costs no more than the
    cheapest access edge the principals it still has to expand could offer, and *definite only* once
    it costs no more than their cheapest conditional edge: then only a definite grant could improve it.
    ``access_edges`` leaves settled grants out and evaluates definite-only ones only where a definite
    grant is possible, by bitset rather than one dataset at a time. Callable as a ``SkipGrant``.
    """

    __slots__ = ("_bits", "_ints", "_model", "escalated", "origin", "principals")

    def __init__(self, model: AccountModel) -> None:
        self._model = model
        self._bits: dict[tuple[str, str, bool], bytearray] = {}
        self._ints: dict[tuple[str, str, bool], int] = {}
        # Grants held through no more escalations than the principal being expanded has taken: an
        # escalation of that principal (one more) cannot improve them, so its data-side techniques skip
        # them (set by ``reach``; None when the search does not track it).
        self.escalated: GrantFloor | None = None
        # The search's origin (set by ``reach``): only its data-side techniques can show in a report
        # without being on a path (``escalation.escalations``).
        self.origin: str | None = None
        # Principals the search already reaches at a cost no edge of the principal being expanded can
        # beat (set by ``reach``): ``assume_edges`` does not decide the role assumptions into them.
        self.principals: Callable[[str], bool] | None = None

    @classmethod
    def of(cls, model: AccountModel, masks: Mapping[tuple[str, str], int]) -> GrantFloor:
        """A floor whose settled grants are ``masks``: (dataset type, level) -> bitset over ``type_index``."""
        floor = cls(model)
        for (dataset_type, level), mask in masks.items():
            if mask:
                size = (len(model.type_index(dataset_type).arns) >> 3) + 1
                floor._bits[(dataset_type, level, False)] = bytearray(mask.to_bytes(size, "little"))
                floor._ints[(dataset_type, level, False)] = mask
        return floor

    def add(self, dataset: str, level: str, *, definite_only: bool = False) -> None:
        """Mark a grant as settled (or, with ``definite_only``, improvable only by a definite grant)."""
        place = self._model._places.get(dataset) or self._model.place(dataset)
        if place is None:
            return
        dataset_type, pos = place
        key = (dataset_type, level, definite_only)
        buf = self._bits.get(key)
        if buf is None:
            size = len(self._model.type_index(dataset_type).arns)
            buf = self._bits[key] = bytearray((size >> 3) + 1)
        buf[pos >> 3] |= 1 << (pos & 7)
        if self._ints:
            self._ints.pop(key, None)

    def mask(self, dataset_type: str, level: str, *, definite_only: bool = False) -> int:
        """The settled (or definite-only) grants of one type and level, as a bitset over ``type_index``."""
        key = (dataset_type, level, definite_only)
        found = self._ints.get(key)
        if found is None:
            buf = self._bits.get(key)
            found = int.from_bytes(buf, "little") if buf is not None else 0
            self._ints[key] = found
        return found

    def __call__(self, dataset: str, level: str) -> bool:
        place = self._model.place(dataset)
        if place is None:
            return False
        buf = self._bits.get((place[0], level, False))
        return buf is not None and bool(buf[place[1] >> 3] >> (place[1] & 7) & 1)


# Decide what bitsets can decide (see _mask_decide); tests switch it off to compare with the engine.
_USE_MASKS = True
# Leave out SCP levels that surely allow (``AccountModel.scp_free``); tests switch it off likewise.
_USE_SCP_SHORTCUT = True


# Grants a caller already holds, per (dataset type, level): (settled, improvable only by a definite
# grant), bitsets over ``type_index``. A ``GrantFloor`` answers this; an audit its cover.
HeldGrants = Callable[[str, str], tuple[int, int]]


@dataclass(slots=True)
class LevelDecisions:
    """What ``access_decisions`` settles for one (dataset type, level) of a principal: ``decided`` are
    definite grants by bitset (position -> class, granting statement), ``slow`` the positions left to
    decide one by one (``grant_found``), ``definite_only`` those where only a definite grant matters."""

    dataset_type: str
    level: str
    index: DatasetIndex
    actions: tuple[str, ...]
    classes: tuple[_ActionClass, ...]
    decided: dict[int, tuple[_ActionClass, Statement]]
    slow: int
    definite_only: int
    conditional: int = 0  # with ``access_decisions(..., conditional=True)``: see ``_mask_decide``
    decided_mask: int = 0  # the positions ``decided`` grants (the only record of them when conditional)
    # The principal as these decisions see it (``AccountModel.scp_free``: without SCPs that surely allow)
    principal: Principal | None = None


def access_decisions(
    graph: PermissionGraph,
    principal: Principal,
    held: HeldGrants | None = None,
    *,
    conditional: bool = False,
    types: Collection[str] | None = None,
) -> Iterator[LevelDecisions]:
    """Per dataset type and level, which datasets to consider and what bitsets already decide.

    Only datasets the level's identity Allow statements concern (by their resource patterns, cached per
    statement and shared by every principal the policy is attached to), and those whose resource policy
    or KMS grants name the principal itself, are considered; never another account's dataset without a
    resource policy (cross-account needs both sides). Those without a resource policy (or one that cannot
    name the principal), and without an RCP that could change the answer, are decided by bitsets where
    pattern matching alone decides (``_mask_decide``); the rest are left to the engine. ``held`` leaves
    out grants the caller already has. ``conditional``: also settle by bitsets the datasets granted only
    conditionally (``LevelDecisions.conditional``), for a caller that needs no condition's wording.
    ``types``: only these dataset types (default: every type of the rule pack).
    Shared by ``access_edges`` and the audit's bitset fold.
    """
    model = graph.model
    stores = model.rules.datastores
    base = model.base_context(principal)
    picked = model.picked(principal)
    for dataset_type, spec in stores.types.items():
        if types is not None and dataset_type not in types:
            continue
        index = model.type_index(dataset_type)
        if not index.arns:
            continue
        named_mask = model.named_mask(principal, dataset_type)
        foreign = index.foreign_bare(principal.account_id)
        own_mask = named_mask | index.mask(picked)
        names_me = model.may_name_mask(principal, dataset_type)
        # What any level could consider: a superset of its candidates (below), to skip the levels whose
        # candidates are all held already without building their action classes.
        reachable = named_mask
        for policy in principal.identity_policies:
            reachable |= model.policy_concerned_mask(policy, spec.service, dataset_type)
        reachable = _without(reachable, foreign)
        for level in LEVELS:
            actions = stores.actions_for(dataset_type, level)
            if not actions:
                continue
            if held is not None and not _without(reachable, held(dataset_type, level)[0]):
                continue
            per_dataset = own_mask | model.rcp_opaque_mask(principal, dataset_type, actions)
            may_name = index.policy_mask & (names_me | per_dataset)
            deciding = model.scp_free(principal, actions)
            classes = _action_classes(deciding, actions, base, model.region_state)
            candidates = named_mask
            for cls in classes:
                for st in cls.allows:
                    candidates |= model.concerned_mask(st, spec.service, dataset_type)
            candidates = _without(candidates, foreign)
            definite_only = 0
            if held is not None:
                settled, improvable = held(dataset_type, level)
                candidates = _without(candidates, settled)
                definite_only = candidates & improvable
            if not candidates:
                continue
            decided: dict[int, tuple[_ActionClass, Statement]] = {}
            slow = candidates
            maybe: list[int] | None = [] if conditional else None
            granted = [0]
            if _USE_MASKS:
                fast = _without(candidates, per_dataset)
                with_policy = fast & index.policy_mask
                if with_policy:
                    identity, never = model.identity_only(
                        dataset_type, level, principal.account_id, _without(with_policy, may_name)
                    )
                    fast = _without(_without(fast, _without(with_policy, identity)), may_name)
                    candidates = _without(candidates, _without(never & with_policy, may_name))
                decided, slow = _mask_decide(
                    model,
                    deciding,
                    dataset_type,
                    classes,
                    fast,
                    base,
                    definite_only,
                    conditional=maybe,
                    granted=granted,
                )
                slow |= _without(candidates, fast)
            yield LevelDecisions(
                dataset_type=dataset_type,
                level=level,
                index=index,
                actions=tuple(actions),
                classes=classes,
                decided=decided,
                slow=slow,
                definite_only=definite_only,
                conditional=maybe[0] if maybe else 0,
                decided_mask=maybe[1] if maybe else granted[0],
                principal=deciding,
            )


Found = tuple[str, str, list[str], str | None, str | None]  # action, certainty, conditions, policy, statement


class GrantFinder:
    """The grant (``Found``) on one dataset of a ``LevelDecisions``: from its bitset decision, or from the
    engine (resource policies parsed and request contexts built once per dataset per principal)."""

    __slots__ = ("_contexts", "_policies", "graph", "principal")

    def __init__(self, graph: PermissionGraph, principal: Principal) -> None:
        self.graph = graph
        self.principal = principal
        self._policies: dict[str, Policy | None] = {}
        self._contexts: dict[str, _DatasetContext] = {}

    def __call__(self, decisions: LevelDecisions, pos: int) -> Found | None:
        hit = decisions.decided.get(pos)
        if hit is not None:
            cls, st = hit
            return (cls.action, DEFINITE, [], st.ref.policy, st.ref.label())
        model = self.graph.model
        dataset = decisions.index.datasets[pos]
        arn = dataset.arn
        if arn not in self._policies:
            self._policies[arn] = model.resource_policy(
                arn, model.effective_policies[arn], functools.partial(_policy_label, dataset)
            )
            self._contexts[arn] = _DatasetContext(model, self.principal, dataset)
        policy = self._policies[arn]
        principal = decisions.principal or self.principal
        if not _could_grant(self.graph, principal, dataset, policy, decisions.classes):
            return None
        return _grant(
            self.graph,
            principal,
            dataset,
            policy,
            decisions.classes,
            decisions.actions,
            self._contexts[arn],
        )


def access_edges(
    graph: PermissionGraph,
    principal: Principal,
    skip: SkipGrant | None = None,
    types: Collection[str] | None = None,
) -> Iterator[Edge]:
    """``access`` edges per level (list/read/write/admin) from the rule pack's action classes
    (``access_decisions``, then the engine for what bitsets leave open, then the dataset's KMS key).
    ``skip(dataset_arn, level)`` lets a search leave out grants it already holds a better path for
    (a ``GrantFloor`` does so by bitset). ``types``: only datasets of these types."""
    floor = skip if isinstance(skip, GrantFloor) else None
    held: HeldGrants | None = None
    if floor is not None:

        def held(dataset_type: str, level: str) -> tuple[int, int]:
            assert floor is not None
            return floor.mask(dataset_type, level), floor.mask(dataset_type, level, definite_only=True)

    key_effects: KeyEffects = {}
    find = GrantFinder(graph, principal)
    model = graph.model
    # The positions of each level in order: those decided by bitset are the keys of ``decided``
    # (``decided_mask``), sorted, unless some are left to the engine (``slow``) too.
    levels = [
        (d, bits(d.slow | d.decided_mask) if d.slow else sorted(d.decided))
        for d in access_decisions(graph, principal, held, types=types)
    ]
    _prime_dataset_keys(graph, principal, levels)
    for decisions, positions in levels:
        index, level = decisions.index, decisions.level
        definite_only = decisions.definite_only
        kms_actions = model.rules.datastores.kms_actions(decisions.dataset_type, level)
        key_of, via_of = model.key_places(decisions.dataset_type)
        # Per kms:ViaService, the KMS keys (bitset) that surely deny an action the level needs: the data
        # they encrypt stays sealed, whatever grants it (Key policies in AWS KMS): ``key_sealed``, by
        # bitset over every dataset of the level at once.
        sealing: dict[str | None, int] = {}
        for pos in positions:
            if floor is None and skip is not None and skip(index.arns[pos], level):
                continue
            key_pos = key_of[pos]
            if key_pos >= 0 and kms_actions and _USE_MASKS:
                via = via_of[pos]
                sealed = sealing.get(via)
                if sealed is None:
                    sealed = sealing[via] = graph.denied_keys(principal, kms_actions, via)
                if sealed >> key_pos & 1:
                    continue
            dataset = index.datasets[pos]
            found = find(decisions, pos)
            if found is None:
                continue
            if definite_only >> pos & 1:
                if found[1] != DEFINITE:
                    continue  # held already at a cost only a definite grant could improve
                if dataset.kms_key is not None and dataset_key_effect(
                    graph, principal, dataset, level, key_effects
                ):
                    continue  # the key seals it or keeps it conditional: no better than what is held
            edge = _access_edge(graph, principal, dataset, level, found, key_effects)
            if edge is not None:
                yield edge


def _prime_dataset_keys(
    graph: PermissionGraph, principal: Principal, levels: Sequence[tuple[LevelDecisions, list[int]]]
) -> None:
    """``PermissionGraph.prime_keys`` for the KMS keys of the datasets at the positions of each level,
    per KMS action the level needs and per ``kms:ViaService`` (the key's region): a principal that may
    be granted a few hundred datasets asks about their few dozen keys, not every key of the account."""
    model = graph.model
    wanted: dict[tuple[str, str | None], int] = {}
    for decisions, positions in levels:
        kms_actions = model.rules.datastores.kms_actions(decisions.dataset_type, decisions.level)
        if not kms_actions:
            continue
        key_of, via_of = model.key_places(decisions.dataset_type)
        by_via: dict[str | None, set[int]] = {}
        for pos in positions:
            key_pos = key_of[pos]
            if key_pos >= 0:
                found = by_via.get(via_of[pos])
                if found is None:
                    found = by_via[via_of[pos]] = set()
                found.add(key_pos)
        for via, positions_of_keys in by_via.items():
            keys = mask_of(positions_of_keys)
            for action in kms_actions:
                wanted[(action, via)] = wanted.get((action, via), 0) | keys
    for (action, via), keys in wanted.items():
        graph.prime_keys(principal, action, via, keys)


def _statement_state(
    cls: _ActionClass, st: Statement, context: Context, regional: RegionSettle | None = None
) -> Tri | None:
    """A class statement's conditions against the principal's context: YES, NO, UNKNOWN (unsettled), or
    None when they depend on the resource (see ``_settle``; fast classes were settled when built)."""
    if cls.fast:
        return Tri.UNKNOWN if id(st) in cls.maybe else Tri.YES
    return _settle(st, context, regional)


def _mask_decide(
    model: AccountModel,
    principal: Principal,
    dataset_type: str,
    classes: Sequence[_ActionClass],
    need: int,
    context: Context,
    definite_only: int = 0,
    *,
    via: str | None = None,
    conditional: list[int] | None = None,
    granted: list[int] | None = None,
) -> tuple[dict[int, tuple[_ActionClass, Statement]], int]:
    """``_grant`` for datasets without a resource policy, by bitsets, where pattern matching decides.

    For each class in order (as ``_grant`` takes them), a dataset on which every statement of the class
    applies uniformly (to all or none of its request ARNs, no unknown variable) and surely (its
    conditions settled true or false — against the principal's context, or, for conditions on the
    resource's tags and account, against each dataset's) is decided exactly as the engine decides it:
    denied, or allowed (identity Allow and boundary) by the first Allow that applies — a definite grant
    — or not at all, and then the next class is tried. Returns the definite grants (position -> class,
    granting statement) and the positions that must be decided one by one (``_grant``): those where a
    mixed match or an unsettled condition is involved before any definite grant — except those of
    ``definite_only`` (where only a definite grant matters) on which no Allow can apply surely.

    With ``conditional`` (a list, for callers that need the certainty but neither the conditions'
    wording nor the granting statements: the audit), an unsettled condition on a statement that applies
    uniformly no longer sends the dataset to the engine: each statement is YES, UNKNOWN or NO on it,
    combined as the engine does (an Allow that may apply, no Deny that surely applies, a boundary and
    every SCP level that may allow: *Policy evaluation logic*, three-valued). ``conditional`` then
    receives [datasets no class grants definitely but one grants conditionally, datasets granted
    definitely], and the returned dict stays empty. ``granted`` (a list) receives [the positions of the
    returned dict, as a bitset], which the caller would otherwise rebuild from the dict.
    """
    kleene = conditional is not None
    maybe_total = definite_total = 0
    undecided = need
    slow = 0
    definite: dict[int, tuple[_ActionClass, Statement]] = {}
    arn = principal.arn
    for cls in classes:
        if not undecided:
            break
        if not cls.allows:
            continue
        templates = model.templates(dataset_type, cls.action)
        bound = cls.boundary_allows or ()
        applies: dict[int, int] = {}  # statement id -> datasets it surely applies to
        maybe: dict[int, int] = {}  # (kleene) statement id -> datasets it may apply to, unsettled
        other = 0
        for st in (*cls.denies, *cls.allows, *bound, *_flat(cls.scp_allows)):
            if id(st) in applies:
                continue
            m = model.statement_masks(st, dataset_type, templates, context, arn, undecided)
            state = _statement_state(cls, st, context, model.region_state)
            maybe[id(st)] = 0
            if state is Tri.YES:
                applies[id(st)] = m.yes_all
                other |= m.mixed
            elif state is Tri.UNKNOWN:
                applies[id(st)] = 0
                if kleene:
                    maybe[id(st)] = m.yes_all
                    other |= m.mixed
                else:
                    other |= m.touch
            elif state is Tri.NO:
                applies[id(st)] = 0
            else:
                yes, unknown = model.condition_masks(st, dataset_type, principal, undecided & m.touch, via)
                applies[id(st)] = m.yes_all & yes
                if kleene:
                    maybe[id(st)] = m.yes_all & unknown
                    other |= m.mixed & (yes | unknown)
                else:
                    other |= (m.mixed & (yes | unknown)) | (m.touch & unknown)
        other &= undecided
        slow |= other
        undecided ^= other  # other is within undecided
        if not undecided:
            break
        allowed = 0
        possible = 0  # (kleene) an Allow, boundary and SCP levels that at least may apply
        for st in cls.allows:
            allowed |= applies[id(st)]
            possible |= applies[id(st)] | maybe[id(st)]
        allowed &= undecided
        possible &= undecided
        for st in cls.denies:
            allowed = _without(allowed, applies[id(st)] | maybe[id(st)])  # an unsettled Deny: conditional
            possible = _without(possible, applies[id(st)])
        if cls.boundary_allows is not None:
            bounded = may_bound = 0
            for st in bound:
                bounded |= applies[id(st)]
                may_bound |= applies[id(st)] | maybe[id(st)]
            allowed &= bounded
            possible &= may_bound
        for level in cls.scp_allows:  # every SCP level must allow, like another boundary
            guarded = may_guard = 0
            for st in level:
                guarded |= applies[id(st)]
                may_guard |= applies[id(st)] | maybe[id(st)]
            allowed &= guarded
            possible &= may_guard
        maybe_total |= _without(possible, allowed)
        undecided ^= allowed  # allowed is within undecided
        definite_total |= allowed
        if kleene:
            continue  # the caller needs the masks only
        for st in cls.allows:
            if not allowed:
                break
            hit = allowed & applies[id(st)]
            if hit:
                definite.update(dict.fromkeys(bits(hit), (cls, st)))
                allowed ^= hit
    if conditional is not None:
        conditional[:] = [_without(_without(maybe_total, slow), definite_total), definite_total]
    if granted is not None:
        granted[:] = [definite_total]  # the positions of the returned dict (its ``mask_of``)
    hopeless = slow & definite_only
    if hopeless:
        # A definite grant needs an identity Allow that surely applies (Policy evaluation logic: an
        # unsettled condition or variable makes the answer conditional at best).
        possible = 0
        for cls in classes:
            templates = model.templates(dataset_type, cls.action)
            for st in cls.allows:
                state = _statement_state(cls, st, context, model.region_state)
                if state is Tri.UNKNOWN or state is Tri.NO:
                    continue
                m = model.statement_masks(st, dataset_type, templates, context, arn, hopeless)
                if state is Tri.YES:
                    possible |= m.touch
                else:
                    yes, _ = model.condition_masks(st, dataset_type, principal, hopeless & m.touch, via)
                    possible |= m.touch & yes
        slow = _without(slow, _without(hopeless, possible))
    return definite, slow


# _key_effect: the key denies what the level needs (nothing to add: no edge).
_SEALED: tuple[str, ...] = ("sealed",)


def _key_effect(
    graph: PermissionGraph, principal: Principal, key: str, dataset_type: str, level: str
) -> tuple[str, ...]:
    """What a dataset's KMS key does to a grant of ``level``: ``_SEALED``, or the conditions it adds
    (empty: the key surely allows every KMS action the level needs)."""
    conditions: list[str] = []
    # The data store calls KMS for the principal: kms:ViaService names it ("AWS KMS condition keys").
    via = graph.model.via_service(dataset_type, key)
    for kms_action in graph.model.rules.datastores.kms_actions(dataset_type, level):
        if graph.key_surely_allowed(principal, key, kms_action, via):
            continue  # what key_use would answer: ALLOW, no conditions
        if graph.key_surely_denied(principal, key, kms_action, via):
            return _SEALED
        kms = graph.key_use(principal, key, kms_action, via)
        if kms is None:
            conditions.append(f"needs {kms_action} on {key}, a key that was not collected")
        elif not kms.allowed:
            return _SEALED
        elif kms.verdict is Verdict.CONDITIONAL:
            conditions.extend(f"{kms_action}: {c}" for c in kms.conditions)
            if not kms.conditions:
                conditions.append(f"{kms_action} on {key} is conditional")
    return tuple(conditions)


KeyEffects = dict[tuple[str, str, str], tuple[str, ...]]  # (KMS key, dataset type, level) -> _key_effect


def dataset_key_effect(
    graph: PermissionGraph, principal: Principal, dataset: Dataset, level: str, memo: KeyEffects
) -> tuple[str, ...]:
    """``_key_effect`` of the dataset's KMS key for ``level``, once per (key, type, level) in ``memo``
    (kept per principal: datasets encrypted with one key share its verdict)."""
    assert dataset.kms_key is not None
    key = (dataset.kms_key, dataset.type, level)
    found = memo.get(key)
    if found is None:
        found = memo[key] = _key_effect(graph, principal, dataset.kms_key, dataset.type, level)
    return found


def _access_edge(
    graph: PermissionGraph,
    principal: Principal,
    dataset: Dataset,
    level: str,
    found: tuple[str, str, list[str], str | None, str | None],
    memo: KeyEffects | None = None,
) -> Edge | None:
    """The access edge for a grant, once the dataset's KMS key (if any) is accounted for.

    ``memo`` (per principal) shares the key's verdict between the datasets encrypted with one key."""
    action, certainty, conditions, policy_name, statement = found
    if dataset.kms_key is not None:
        effect = dataset_key_effect(graph, principal, dataset, level, {} if memo is None else memo)
        if effect is _SEALED:
            return None  # the data stays sealed without the key (Key policies in AWS KMS)
        if effect:
            certainty = CONDITIONAL
            conditions.extend(effect)
    return Edge(
        source=principal.arn,
        target=dataset.arn,
        kind=ACCESS,
        certainty=certainty,
        actions=(action,),
        policy=policy_name,
        statement=statement,
        conditions=tuple(conditions),
        level=level,
    )


def _could_grant(
    graph: PermissionGraph,
    principal: Principal,
    dataset: Dataset,
    policy: Policy | None,
    classes: Sequence[_ActionClass],
) -> bool:
    """Cheap necessary condition: an identity Allow for the level, a resource policy naming the
    principal itself, or (KMS) a grant to it. Without any of these nothing can grant (*Policy
    evaluation logic*: naming the account only delegates to identity policies)."""
    if any(c.allows for c in classes):
        return True
    if dataset.type == KMS_KEY and graph.has_grant(principal, dataset):
        return True
    return graph.names_directly(principal, dataset, policy)


def _grant(
    graph: PermissionGraph,
    principal: Principal,
    dataset: Dataset,
    policy: Policy | None,
    classes: Sequence[_ActionClass],
    actions: Sequence[str],
    lazy: _DatasetContext,
) -> tuple[str, str, list[str], str | None, str | None] | None:
    """The most certain grant of one level: (action, certainty, conditions, policy, statement).

    A resource policy can grant on its own only when it names this principal (user, role or session,
    or a wildcard principal); naming the account merely delegates to IAM policies (*Policy evaluation
    logic*). So unless it does, only classes with an identity Allow can grant, and one representative
    action per class is evaluated — by the full engine when a resource policy (its denies) or a
    condition is involved, by pattern matching otherwise.
    """
    model = graph.model
    stores = model.rules.datastores
    rcps = model.rcps_for(
        principal, dataset.arn, dataset.account_id, [m for cls in classes for m in cls.members]
    )
    if (
        dataset.type == KMS_KEY
        and policy is not None
        and graph.only_delegates(principal, dataset, policy, classes)
    ):
        # The key policy only says "IAM policies of this account decide" (its root statement), names no
        # one else for these actions and denies nothing: the identity decision is the answer.
        policy = None
    if dataset.type == KMS_KEY and policy is not None:
        if graph.has_grant(principal, dataset):
            reps = list(actions)
        elif policy is not None and graph.names_directly(principal, dataset, policy):
            reps = _split_by_policy(classes, policy)
        else:
            reps = [c.action for c in classes if c.allows]
        found = _best((a, graph.kms_decision(principal, dataset, a)) for a in reps)
    elif policy is not None and graph.names_directly(principal, dataset, policy):
        found = _best(
            (
                a,
                _decide_any(
                    principal,
                    a,
                    _concrete_resources(
                        principal, dataset, policy, stores.resource_arns(dataset.type, dataset.arn, a)
                    ),
                    policy,
                    lazy.get(),
                    dataset.account_id,
                    False,
                    rcps,
                ),
            )
            for a in _split_by_policy(classes, policy)
        )
    else:
        if policy is None and dataset.account_id != principal.account_id:
            return None  # cross-account needs a resource-based policy (Cross-account policy evaluation logic)
        decisions: list[tuple[str, Decision]] = []
        for cls in classes:
            if not cls.allows:
                continue
            resources = _concrete_resources(
                principal, dataset, policy, stores.resource_arns(dataset.type, dataset.arn, cls.action)
            )
            if cls.fast and policy is None and not rcps:
                fast = _fast_decide(cls, resources, lazy.base)
                if isinstance(fast, Statement):
                    return cls.action, DEFINITE, [], fast.ref.policy, fast.ref.label()
                if fast is None:
                    continue
            base = lazy.base
            if not any(st.resource_state(r, base) is not Tri.NO for st in cls.allows for r in resources):
                continue  # no identity Allow names these resources, whatever its conditions say
            memo_key: tuple[object, ...] | None = None
            if policy is None and not rcps and (hits := _applicable(cls, resources, base)) is not None:
                # Without a resource policy a decision depends on which statements match the resource
                # and, for conditions on the resource, on what its request context takes from it (tags,
                # account, a key's aliases: ``DatasetIndex.signature``; the rest is the principal's).
                index = model.type_index(dataset.type)
                where = index.signature(index.position[dataset.arn])
                memo_key = hits if cls.fast else (principal.arn, hits, where)
            decision = graph.memo.get(memo_key) if memo_key is not None else None
            if decision is None:
                decision = _decide_any(
                    principal, cls.action, resources, policy, lazy.get(), dataset.account_id, False, rcps
                )
                if memo_key is not None:
                    graph.memo[memo_key] = decision
            decisions.append((cls.action, decision))
            if decision.verdict is Verdict.ALLOW:
                break
        found = _best(decisions)
    if found is None:
        return None
    action, decision = found
    policy_name, statement = _evidence(decision)
    return action, _certainty(decision), list(decision.conditions), policy_name, statement


_MAX_SUBRESOURCES = 24


def _concrete_resources(
    principal: Principal, dataset: Dataset, policy: Policy | None, templates: Sequence[str]
) -> list[str]:
    """Request ARNs standing for "some sub-resource the attacker picks" (objects, indexes, streams).

    A template such as ``arn:aws:s3:::bucket/*`` means *any* object key. Evaluating only the literal
    ``bucket/*`` would miss a grant on ``bucket/exports/*`` (and a deny on ``bucket/exports/*`` would
    not apply to it), so the attacker's candidate keys are: the sampled object keys, and one
    concrete key per Allow pattern (identity or resource policy) under the same prefix. DynamoDB
    index and stream ARNs are used only when the table has them (an index that does not exist cannot
    be queried).
    """
    statements = [st for p in principal.identity_policies for st in p.statements]
    if policy is not None:
        statements += policy.statements
    return _subresources(dataset, templates, statements)


def _subresources(dataset: Dataset, templates: Sequence[str], statements: Sequence[Statement]) -> list[str]:
    """``_concrete_resources`` given the statements whose Allow patterns add picks (none: the
    principal-independent resources the mask fast path works on)."""
    out: dict[str, None] = {}
    for template in templates:
        if not template.endswith("/*"):
            out[template] = None
            continue
        stem = template[:-1]  # ".../"
        if dataset.type == DYNAMODB_TABLE:
            kind = stem.rstrip("/").rsplit("/", 1)[-1]
            if kind == "index":
                indexes = dataset.details.get("global_secondary_indexes") or []
                indexes = [*indexes, *(dataset.details.get("local_secondary_indexes") or [])]
                out.update((f"{stem}{name}", None) for name in indexes if isinstance(name, str))
            elif kind == "stream" and dataset.details.get("stream_enabled"):
                out[template] = None
            continue
        out[template] = None
        picks: list[str] = [f"{stem}{key}" for key in dataset.object_keys_sample[:8]]
        for st in statements:
            if st.effect != "Allow" or st.resource_patterns is None or st.not_resource:
                continue
            for pattern in st.resource_patterns:
                if pattern.startswith(stem) and len(pattern) > len(stem):
                    picks.append(_instance_of(pattern))
        for pick in picks:
            if len(out) >= _MAX_SUBRESOURCES:
                break
            out[pick] = None
    return list(out)


def _instance_of(pattern: str) -> str:
    """A concrete ARN matched by ``pattern``: wildcards become a letter, variables a placeholder."""
    text = pattern
    while "${" in text:
        start = text.index("${")
        end = text.find("}", start)
        if end == -1:
            break
        text = text[:start] + "x" + text[end + 1 :]
    return text.replace("*", "x").replace("?", "x")


def _decide_any(
    principal: Principal,
    action: str,
    resources: Sequence[str],
    policy: Policy | None,
    context: Context,
    account: str,
    required: bool,
    rcps: Sequence[Sequence[Policy]] = (),
) -> Decision:
    """The best decision over the ARNs an action is evaluated on (bucket vs object ARNs)."""
    best: Decision | None = None
    for resource in resources:
        decision = decide(
            Request(
                principal=principal.request_principal,
                action=action,
                resource=resource,
                resource_account=account,
                context=context,
            ),
            identity_policies=principal.identity_policies,
            permissions_boundary=principal.boundary,
            resource_policy=policy,
            resource_policy_required=required,
            scps=principal.scps,
            rcps=rcps,
        )
        if decision.verdict is Verdict.ALLOW:
            return decision
        if best is None or (
            decision.verdict is Verdict.CONDITIONAL and best.verdict is not Verdict.CONDITIONAL
        ):
            best = decision
    if best is None:
        return Decision(
            verdict=Verdict.IMPLICIT_DENY, matched=(), conditions=(), explain="no such sub-resource"
        )
    return best


def request_resources(model: AccountModel, principal: Principal, dataset: Dataset, action: str) -> list[str]:
    """The request ARNs the graph evaluates ``action`` on for ``dataset`` (public, for ``explain``).

    The rule pack's resource templates made concrete as the access edges make them: sampled and
    policy-named object keys, and DynamoDB indexes or streams only when the table has them.
    """
    label = f"{'key' if dataset.type == KMS_KEY else 'resource'} policy of {_short(dataset.arn)}"
    policy = model.resource_policy(dataset.arn, model.effective_policies.get(dataset.arn), label)
    templates = model.rules.datastores.resource_arns(dataset.type, dataset.arn, action)
    return _concrete_resources(principal, dataset, policy, templates)


def build_graph(
    snapshot: Snapshot,
    rules: RuleSet,
    *,
    context_overrides: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    escalation: bool = True,
) -> PermissionGraph:
    """A lazily-expanded permission graph over one snapshot (``escalation``: with escalate edges)."""
    return PermissionGraph(
        AccountModel(snapshot, rules, context_overrides=context_overrides, now=now), escalation=escalation
    )


__all__ = [
    "ACCESS",
    "ASSUME",
    "ESCALATE",
    "RCP_SERVICES",
    "AccountModel",
    "DatasetIndex",
    "Edge",
    "Found",
    "GrantFinder",
    "GrantFloor",
    "HeldGrants",
    "LevelDecisions",
    "PermissionGraph",
    "Principal",
    "access_decisions",
    "bits",
    "build_graph",
    "mask_of",
]

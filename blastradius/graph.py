"""The permission graph: principals and datasets joined by ``assume``, ``escalate`` and ``access`` edges.

Edges are computed by asking the policy engine, never by matching action names. The graph is built
lazily: ``PermissionGraph.expand(arn)`` computes one principal's outgoing edges the first time a search
reaches it, so analysing one key touches only the part of the account that key can reach, while
``expand_all()`` builds everything (for audits). Candidate resources come from an index driven by the
principal's own Allow statements (DESIGN.md §4): a statement reaches the datasets its resource patterns
select by literal ARN prefix; resource policies that name the principal add theirs. Nothing evaluates
every (principal, action, resource) triple.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from blastradius.errors import PolicyError
from blastradius.model import (
    DYNAMODB_TABLE,
    KMS_KEY,
    Dataset,
    ManagedPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
)
from blastradius.policy import (
    Context,
    Decision,
    Policy,
    PrincipalMatch,
    Request,
    RequestPrincipal,
    Statement,
    Tri,
    Verdict,
    decide,
    parse_policy,
)
from blastradius.policy.s3access import effective_resource_policy
from blastradius.report import CONDITIONAL, DEFINITE, LEVELS
from blastradius.rules import RuleSet

ASSUME = "assume"
ACCESS = "access"
ESCALATE = "escalate"

ASSUME_ACTION = "sts:AssumeRole"
_NOT_DIRECT = frozenset({PrincipalMatch.NONE, PrincipalMatch.ACCOUNT})


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
        self._by_resource = {k: tuple(sorted(v)) for k, v in by_resource.items()}

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
        self._managed: dict[str, ManagedPolicy] = {p.arn: p for p in snapshot.managed_policies}
        self._policy_cache: dict[tuple[str, str], Policy | None] = {}
        self.datasets: dict[str, Dataset] = {d.arn: d for d in snapshot.datasets}
        self.roles: dict[str, Role] = {r.arn: r for r in snapshot.roles}
        self.users: dict[str, User] = {u.arn: u for u in snapshot.users}
        # Group names are unique per account only: a merged snapshot may hold two groups of one name.
        self._groups = {(_account_of(g.arn), g.name): g for g in snapshot.groups}
        self._principals: dict[str, Principal] = {}
        # service prefix -> every action datastores.toml classifies for that service's dataset types
        self._data_actions: dict[str, tuple[str, ...]] = {}
        for spec in rules.datastores.types.values():
            actions = {a for kinds in spec.levels.values() for acts in kinds.values() for a in acts}
            self._data_actions[spec.service] = tuple(
                sorted({*self._data_actions.get(spec.service, ()), *actions})
            )
        self._covers_cache: dict[tuple[int, str], bool] = {}
        self._concerned: dict[tuple[int, str], frozenset[str]] = {}
        self._grantees: dict[str, set[str]] = {}
        for d in snapshot.datasets:
            for grant in d.grants:
                self._grantees.setdefault(grant.grantee_principal, set()).add(d.arn)
        self._contexts: dict[str, Context] = {}
        self._resource_policies: dict[str, Policy | None] = {}
        self._datasets_by_service: dict[str, _PrefixIndex] = {}
        by_service: dict[str, list[str]] = {}
        for d in snapshot.datasets:
            by_service.setdefault(_service_of(d.arn), []).append(d.arn)
        for service, arns in by_service.items():
            self._datasets_by_service[service] = _PrefixIndex(arns)
        self._roles_index = _PrefixIndex(self.roles)
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

    def resource_policy(self, arn: str, document: Mapping[str, object] | None, label: str) -> Policy | None:
        """The compiled resource-based policy of a dataset or role (cached)."""
        if arn in self._resource_policies:
            return self._resource_policies[arn]
        policy = None
        if document is not None:
            try:
                policy = parse_policy(dict(document), name=label)
            except PolicyError as e:
                self.warnings.add(f"skipped malformed {label}: {e}")
        self._resource_policies[arn] = policy
        return policy

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
        )
        return Principal(
            arn=user.arn,
            kind="user",
            name=user.name,
            account_id=rp.account_id,
            identity_policies=tuple(policies),
            boundary=self._boundary(user.permissions_boundary_arn, user.arn),
            request_principal=rp,
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
        )

    # -- context ----------------------------------------------------------------------------------

    def base_context(self, principal: Principal) -> Context:
        """The attacker-model context (DESIGN.md §4) of calls by ``principal``, before the resource's keys.

        Principal keys come from the snapshot (its tags are complete, so other principal tags are
        absent); the attacker calls directly, so ``aws:ViaAWSService`` is false; the clock is the
        analysis time; ``--assume-context`` overrides win over everything.
        """
        cached = self._contexts.get(principal.arn)
        if cached is None:
            cached = Context.for_principal(
                principal.request_principal,
                values={"aws:ViaAWSService": ("false",), **_clock(self.now)},
                overrides=self.overrides,
                now=self.now,
            )
            self._contexts[principal.arn] = cached
        return cached

    def context(
        self, principal: Principal, resource_tags: Mapping[str, str], resource_account: str
    ) -> Context:
        """The request context of a call by ``principal`` on a resource with these tags and account."""
        values: dict[str, tuple[str, ...]] = {"aws:ResourceAccount": (resource_account,)}
        for k, v in resource_tags.items():
            values[f"aws:ResourceTag/{k}"] = (v,)
        # The resource's tags are complete: a tag it does not have is absent, not unknown.
        return self.base_context(principal).with_values(values, absent=("aws:ResourceTag/*",))

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

    def concerned(self, st: Statement, service: str, dataset_type: str) -> frozenset[str]:
        """Datasets of ``dataset_type`` an Allow statement may reach by its resource patterns (a superset,
        cached per statement: a managed policy's statements are shared by every principal it is on)."""
        key = (id(st), dataset_type)
        found = self._concerned.get(key)
        if found is None:
            index = self._datasets_by_service.get(service)
            arns: set[str] = set()
            if index is not None and self._covers_data_action(st, service):
                patterns = st.resource_patterns
                if patterns is None or st.not_resource:
                    arns.update(index)
                else:
                    for pattern in patterns:
                        arns.update(index.select(pattern))
            found = frozenset(a for a in arns if self.datasets[a].type == dataset_type)
            self._concerned[key] = found
        return found

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

    def __init__(self, model: AccountModel, *, edge_builders: Sequence[EdgeBuilder] | None = None) -> None:
        self.model = model
        self.graph = nx.MultiDiGraph()
        self._expanded: set[str] = set()
        self._kms_cache: dict[tuple[str, str, str], Decision | None] = {}
        self._names_cache: dict[tuple[str, str], bool] = {}
        # Engine decisions shared by requests on which the same statements apply (see _applicable).
        self.memo: dict[tuple[object, ...], Decision] = {}
        self._delegation_cache: dict[tuple[int, str, str], bool] = {}
        self.edge_builders: tuple[EdgeBuilder, ...] = tuple(
            edge_builders if edge_builders is not None else (assume_edges, access_edges)
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

    def key_use(self, principal: Principal, key_arn: str, action: str) -> Decision | None:
        """May ``principal`` call ``action`` (e.g. kms:Decrypt) on ``key_arn``? None if the key is unknown."""
        cache_key = (principal.arn, key_arn, action)
        if cache_key in self._kms_cache:
            return self._kms_cache[cache_key]
        key = self.model.datasets.get(key_arn)
        result: Decision | None = None
        if key is not None and key.type == KMS_KEY:
            result = _decide_kms(self.model, principal, key, action)
        self._kms_cache[cache_key] = result
        return result


def _decide_kms(model: AccountModel, principal: Principal, key: Dataset, action: str) -> Decision:
    """KMS key policies must themselves allow (Key policies in AWS KMS); grants add permissions."""
    if key.key_manager == "AWS":
        # AWS managed keys: their key policy lets every principal of the account use the key through
        # the owning service (kms:ViaService); direct reads through S3/DynamoDB/etc. succeed.
        return Decision(verdict=Verdict.ALLOW, matched=(), conditions=(), explain="AWS managed key")
    policy = model.resource_policy(key.arn, key.resource_policy, f"key policy of {_short(key.arn)}")
    decision = _decide(model, principal, action, key.arn, key, policy, required=True)
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
) -> Decision:
    account = resource_account or (dataset.account_id if dataset else _account_of(resource))
    context = model.context(
        principal, tags if tags is not None else (dataset.tags if dataset else {}), account
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
    """``assume`` edges: identity allows sts:AssumeRole on the role AND its trust policy allows."""
    model = graph.model
    for role_arn in sorted(model.candidate_roles(principal)):
        if role_arn == principal.arn:
            continue
        target = model.principal(role_arn)
        if target is None or target.trust_policy is None:
            continue
        role = model.roles[role_arn]
        decision = _decide(
            model,
            principal,
            ASSUME_ACTION,
            role_arn,
            None,
            target.trust_policy,
            required=True,
            tags=role.tags,
        )
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


# Condition keys whose value differs between resources (the rest of the context is per principal).
_RESOURCE_KEYS = ("aws:resourcetag/", "aws:resourceaccount", "aws:resourceorg")


def _settle(statement: Statement, context: Context) -> Tri | None:
    """A statement's conditions against the principal's context; None if they depend on the resource."""
    state = Tri.YES
    for clause in statement.conditions:
        if clause.key_lower.startswith(_RESOURCE_KEYS) or any("${" in v for v in clause.values):
            return None
        result = clause.evaluate(context, deny=statement.is_deny)
        if result is Tri.NO:
            return Tri.NO
        if result is Tri.UNKNOWN:
            state = Tri.UNKNOWN
    return state


def _action_classes(
    principal: Principal, actions: Sequence[str], context: Context
) -> tuple[_ActionClass, ...]:
    boundary = principal.boundary
    grouped: dict[tuple[int, ...], list[str]] = {}
    for action in actions:
        covering = [st for policy in principal.identity_policies for st in policy.statements_for(action)]
        if boundary is not None:
            covering += boundary.statements_for(action)
        grouped.setdefault(tuple(id(st) for st in covering), []).append(action)
    out: list[_ActionClass] = []
    for members in grouped.values():
        action = members[0]
        covering = [st for policy in principal.identity_policies for st in policy.statements_for(action)]
        bound = list(boundary.statements_for(action)) if boundary is not None else []
        settled = {id(st): _settle(st, context) for st in (*covering, *bound)}
        fast = None not in settled.values()
        keep = (
            [st for st in (*covering, *bound) if settled[id(st)] is not Tri.NO]
            if fast
            else [*covering, *bound]
        )
        identity_ids = {id(st) for st in covering}
        out.append(
            _ActionClass(
                action=action,
                members=tuple(members),
                allows=tuple(st for st in keep if not st.is_deny and id(st) in identity_ids),
                denies=tuple(st for st in keep if st.is_deny),
                boundary_allows=(
                    tuple(st for st in keep if not st.is_deny and id(st) not in identity_ids)
                    if boundary is not None
                    else None
                ),
                maybe=frozenset(i for i, state in settled.items() if state is Tri.UNKNOWN),
                fast=fast,
            )
        )
    return tuple(out)


def _split_by_policy(classes: Sequence[_ActionClass], policy: Policy) -> list[str]:
    """Representative actions once a resource policy joins: members that its statements also treat alike."""
    reps: dict[tuple[int, tuple[int, ...]], str] = {}
    for i, cls in enumerate(classes):
        for action in cls.members:
            reps.setdefault((i, tuple(id(st) for st in policy.statements_for(action))), action)
    return list(reps.values())


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
        cls.maybe,
    ]
    for resource in resources:
        hits = []
        for st in (*cls.denies, *cls.allows, *(cls.boundary_allows or ())):
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
            self._built = self._model.context(self._principal, self._dataset.tags, self._dataset.account_id)
        return self._built


def access_edges(
    graph: PermissionGraph, principal: Principal, skip: SkipGrant | None = None
) -> Iterator[Edge]:
    """``access`` edges per level (list/read/write/admin) from the rule pack's action classes.

    Per dataset type and level, only datasets the level's identity Allow statements concern (by their
    resource patterns, cached per statement and shared by every principal the policy is attached to),
    and those whose resource policy or KMS grants name the principal itself, are evaluated.
    ``skip(dataset_arn, level)`` lets a search leave out grants it already holds a better path for.
    """
    model = graph.model
    stores = model.rules.datastores
    base = model.base_context(principal)
    named = model.named_datasets(principal)
    policies: dict[str, Policy | None] = {}
    contexts: dict[str, _DatasetContext] = {}
    for dataset_type, spec in stores.types.items():
        named_here = [a for a in named if model.datasets[a].type == dataset_type]
        for level in LEVELS:
            actions = stores.actions_for(dataset_type, level)
            if not actions:
                continue
            classes = _action_classes(principal, actions, base)
            candidates: set[str] = set(named_here)
            for cls in classes:
                for st in cls.allows:
                    candidates |= model.concerned(st, spec.service, dataset_type)
            for arn in sorted(candidates):
                if skip is not None and skip(arn, level):
                    continue
                dataset = model.datasets[arn]
                if arn not in policies:
                    label = f"{'key' if dataset_type == KMS_KEY else 'resource'} policy of {_short(arn)}"
                    policies[arn] = model.resource_policy(arn, model.effective_policies[arn], label)
                    contexts[arn] = _DatasetContext(model, principal, dataset)
                policy = policies[arn]
                if not _could_grant(graph, principal, dataset, policy, classes):
                    continue
                found = _grant(graph, principal, dataset, policy, classes, actions, contexts[arn])
                if found is None:
                    continue
                edge = _access_edge(graph, principal, dataset, level, found)
                if edge is not None:
                    yield edge


def _access_edge(
    graph: PermissionGraph,
    principal: Principal,
    dataset: Dataset,
    level: str,
    found: tuple[str, str, list[str], str | None, str | None],
) -> Edge | None:
    """The access edge for a grant, once the dataset's KMS key (if any) is accounted for."""
    action, certainty, conditions, policy_name, statement = found
    stores = graph.model.rules.datastores
    kms_actions = stores.kms_actions(dataset.type, level) if dataset.kms_key else ()
    for kms_action in kms_actions:
        assert dataset.kms_key is not None
        kms = graph.key_use(principal, dataset.kms_key, kms_action)
        if kms is None:
            certainty = CONDITIONAL
            conditions.append(f"needs {kms_action} on {dataset.kms_key}, a key that was not collected")
        elif not kms.allowed:
            return None  # the data stays sealed without the key (Key policies in AWS KMS)
        elif kms.verdict is Verdict.CONDITIONAL:
            certainty = CONDITIONAL
            conditions.extend(f"{kms_action}: {c}" for c in kms.conditions)
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
        found = _best((a, _decide_kms(model, principal, dataset, a)) for a in reps)
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
            if cls.fast and policy is None:
                fast = _fast_decide(cls, resources, lazy.base)
                if isinstance(fast, Statement):
                    return cls.action, DEFINITE, [], fast.ref.policy, fast.ref.label()
                if fast is None:
                    continue
            base = lazy.base
            if not any(st.resource_state(r, base) is not Tri.NO for st in cls.allows for r in resources):
                continue  # no identity Allow names these resources, whatever its conditions say
            memo_key: tuple[object, ...] | None = None
            if policy is None and (hits := _applicable(cls, resources, base)) is not None:
                # Without a resource policy a decision depends on which statements match the resource
                # and, for conditions on the resource, on its tags and account (the rest of the context
                # is the principal's; see _DatasetContext).
                memo_key = (
                    hits
                    if cls.fast
                    else (principal.arn, hits, tuple(sorted(dataset.tags.items())), dataset.account_id)
                )
            decision = graph.memo.get(memo_key) if memo_key is not None else None
            if decision is None:
                decision = _decide_any(
                    principal, cls.action, resources, policy, lazy.get(), dataset.account_id, False
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
        statements = [st for p in principal.identity_policies for st in p.statements]
        if policy is not None:
            statements += policy.statements
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
) -> PermissionGraph:
    """A lazily-expanded permission graph over one snapshot."""
    return PermissionGraph(AccountModel(snapshot, rules, context_overrides=context_overrides, now=now))


__all__ = [
    "ACCESS",
    "ASSUME",
    "ESCALATE",
    "AccountModel",
    "Edge",
    "PermissionGraph",
    "Principal",
    "build_graph",
]

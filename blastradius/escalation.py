"""Privilege escalation: the techniques of ``policies/escalation.toml``, evaluated and emitted as edges.

A technique fires for a principal only when the policy engine allows every one of its steps on the
concrete resource it acts on (the policy attached to the actor, that user, that role whose trust policy
trusts the service, that existing function …), with the actor's denies, boundary and conditions; the
resulting edge is as certain as its weakest step. Nothing here matches action names alone.

What a technique gives is a node of the permission graph, so that the existing best-first search in
``reach.py`` chains escalations with role assumption (escalate → assume → escalate):

* another real principal (a user whose key the actor can create, the role a new function runs with);
* ``account-admin:<account>``, the synthetic administrator of an account (an identity with
  ``Allow *:*`` and no boundary), whose access edges are computed like anyone's, so resource policies,
  KMS key policies and (once wired into ``decide``) SCPs still bound it;
* a variant of a principal, ``<what>@<arn>``: capped by its permissions boundary
  (``admin-within-boundary@``), without its boundary (``without-boundary@``), or with a group's
  policies added (``member-of-<group>@``);
* for data-side "endgame" techniques, ``access`` edges on the dataset carrying the technique id (a
  search pays for them as for an escalation), or, for copies leaving the account (shared snapshots), a
  finding with no edge to follow.

The pack loader follows ``rules.py``: fail-closed, errors naming the file, line and field.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import weakref
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blastradius.graph import (
    _REQUESTED_REGION_LOWER,
    _RESOURCE_KEYS,
    ACCESS,
    ESCALATE,
    AccountModel,
    Edge,
    GrantFloor,
    KeyEffects,
    PermissionGraph,
    Principal,
    RegionSettle,
    SkipGrant,
    _access_edge,
    _action_classes,
    _ActionClass,
    _applicable,
    _decide_any,
    _instance_of,
    _PrefixIndex,
    bits,
    path_step,
)
from blastradius.model import COMPUTE_TYPES, DATASET_TYPES, EC2_INSTANCE, ComputeResource, Dataset
from blastradius.policy import (
    Context,
    Decision,
    Policy,
    PrincipalMatch,
    RequestPrincipal,
    Statement,
    Verdict,
    parse_policy,
)
from blastradius.report import CONDITIONAL, DEFINITE, LEVELS, Escalation, PathStep
from blastradius.rules import (
    ESCALATION_PACK,
    ROTATION_VARIABLES,
    FieldPath,
    PackFile,
    PackReader,
    read_pack,
)

# --------------------------------------------------------------------------------------------------
# The pack

CATEGORIES = (
    "self-escalation",
    "principal-access",
    "new-passrole",
    "existing-passrole",
    "data-endgame",
    "boundary-removal",
)
TARGETS = (
    "self",
    "attached-policy",
    "own-group",
    "group",
    "user",
    "role",
    "service-role",
    "existing",
    "dataset",
    "account",
)
GAINS = ("admin", "principal", "group", "unbounded", "access", "exfiltrate")
STEP_ON = ("target", "self", "passed-role", "role-policy", "new")
NEEDS = (
    "actor-user",
    "actor-role",
    "actor-boundary",
    "instance-profile",
    "keys-below-limit",
    "keys-at-limit",
)
# Placeholders of a technique's runbook checks (on top of the rotation pack's).
CHECK_VARIABLES = (
    "region",
    "actor_arn",
    "actor_name",
    "target_arn",
    "target_name",
    "role_arn",
    "role_name",
)
NEW_RESOURCE_VARIABLES = ("partition", "region", "account")
# Which gains and step kinds each target allows (the rest would be meaningless combinations).
_TARGET_GAINS: Mapping[str, tuple[str, ...]] = {
    "self": ("admin", "unbounded"),
    "attached-policy": ("admin",),
    "own-group": ("admin",),
    "group": ("group",),
    "user": ("principal", "admin"),
    "role": ("principal", "admin"),
    "service-role": ("principal",),
    "existing": ("principal",),
    "dataset": ("access",),
    "account": ("exfiltrate",),
}
_ACTION = re.compile(r"^([a-z0-9-]+):([A-Za-z0-9]+)$")
_ID = re.compile(r"^(?:[a-z0-9-]+-\d{3}|endgame-[a-z0-9-]+)$")
ADMIN_POLICY_ARN = "arn:{partition}:iam::aws:policy/AdministratorAccess"
# Leave out of engine calls the organisation levels that surely allow (``Evaluator._guarded`` for SCPs,
# ``Evaluator._rcps`` for RCPs); tests switch it off to compare with the engine weighing every level.
_USE_GUARDRAIL_SHORTCUTS = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One call a technique needs, and what it is made on."""

    action: str
    on: str
    resource: str | None = None  # for on = "new"
    trust: bool = False
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Technique:
    """One escalation technique of the pack."""

    id: str
    title: str
    category: str
    target: str
    gain: str
    steps: tuple[Step, ...]
    subject: str = "actor"
    trusts: tuple[str, ...] = ()
    compute_type: str | None = None
    dataset_type: str | None = None
    levels: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    check: tuple[str, ...] = ()
    emitted_by: str | None = None
    line: int = 0

    @property
    def actions(self) -> tuple[str, ...]:
        """The actions of its steps, in order, once each."""
        return tuple(dict.fromkeys(s.action for s in self.steps))


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationPack:
    """``escalation.toml``: the techniques in pack order."""

    techniques: tuple[Technique, ...]
    origin: str = ESCALATION_PACK

    def get(self, technique_id: str) -> Technique | None:
        """The technique with this id, if any."""
        for t in self.techniques:
            if t.id == technique_id:
                return t
        return None


_TECHNIQUE_KEYS = (
    "id",
    "title",
    "category",
    "target",
    "gain",
    "step",
    "subject",
    "trusts",
    "compute_type",
    "dataset_type",
    "levels",
    "needs",
    "unverified",
    "check",
    "emitted_by",
)


def parse_escalation(pack: PackFile) -> EscalationPack:
    """Validate ``escalation.toml``; a ``RulePackError`` names the file, line and field of any problem."""
    r = PackReader(pack)
    r.table(pack.data, (), allowed=("technique",), required=("technique",))
    techniques: list[Technique] = []
    ids: dict[str, FieldPath] = {}
    for path, raw in r.tables(pack.data["technique"], ("technique",)):
        table = r.table(
            raw, path, allowed=_TECHNIQUE_KEYS, required=("id", "title", "category", "target", "gain", "step")
        )
        technique_id = r.string(table["id"], (*path, "id"))
        if not _ID.match(technique_id):
            raise r.error(
                (*path, "id"), f"{technique_id!r} is neither a catalogue id (iam-001) nor endgame-<name>"
            )
        if technique_id in ids:
            raise r.error(
                (*path, "id"),
                f"duplicate technique id {technique_id!r} (first at line {pack.line_of(ids[technique_id])})",
            )
        ids[technique_id] = path
        target = r.string(table["target"], (*path, "target"), choices=TARGETS)
        gain = r.string(table["gain"], (*path, "gain"), choices=GAINS)
        if gain not in _TARGET_GAINS[target]:
            raise r.error(
                (*path, "gain"),
                f"gain {gain!r} does not go with target {target!r} (expected one of "
                + ", ".join(_TARGET_GAINS[target])
                + ")",
            )
        subject = r.string(table.get("subject", "actor"), (*path, "subject"), choices=("actor", "target"))
        if subject == "target" and (gain != "admin" or target not in ("user", "role")):
            raise r.error(
                (*path, "subject"), "subject = 'target' only applies to gain 'admin' on a user or role"
            )
        trusts = r.strings(table["trusts"], (*path, "trusts")) if "trusts" in table else ()
        if target in ("service-role", "existing") and not trusts:
            raise r.error(path, f"a technique on target {target!r} needs 'trusts' (the service principals)")
        compute_type = None
        if "compute_type" in table:
            if target != "existing":
                raise r.error((*path, "compute_type"), "'compute_type' only applies to target 'existing'")
            compute_type = r.string(table["compute_type"], (*path, "compute_type"), choices=COMPUTE_TYPES)
        dataset_type = None
        if target == "dataset":
            if "dataset_type" not in table:
                raise r.error(path, "a technique on target 'dataset' needs 'dataset_type'")
            dataset_type = r.string(table["dataset_type"], (*path, "dataset_type"), choices=DATASET_TYPES)
        elif "dataset_type" in table:
            raise r.error((*path, "dataset_type"), "'dataset_type' only applies to target 'dataset'")
        levels: tuple[str, ...] = ()
        if gain == "access":
            if "levels" not in table:
                raise r.error(path, "a technique with gain 'access' needs 'levels'")
            levels = r.strings(table["levels"], (*path, "levels"), choices=LEVELS)
        elif "levels" in table:
            raise r.error((*path, "levels"), "'levels' only applies to gain 'access'")
        needs = r.strings(table["needs"], (*path, "needs"), choices=NEEDS) if "needs" in table else ()
        unverified = r.strings(table["unverified"], (*path, "unverified")) if "unverified" in table else ()
        check = tuple(
            r.template(v, (*path, "check", i), variables=(*ROTATION_VARIABLES, *CHECK_VARIABLES))
            for i, v in enumerate(r.strings(table["check"], (*path, "check")) if "check" in table else ())
        )
        emitted_by = None
        if "emitted_by" in table:
            emitted_by = r.string(table["emitted_by"], (*path, "emitted_by"), choices=("assume",))
        steps = tuple(
            _parse_step(r, at, raw_step, target) for at, raw_step in r.tables(table["step"], (*path, "step"))
        )
        if not steps:
            raise r.error((*path, "step"), "a technique needs at least one [[technique.step]]")
        if target == "account" and any(s.on != "new" for s in steps):
            raise r.error((*path, "step"), "every step of a technique on target 'account' is on = 'new'")
        techniques.append(
            Technique(
                id=technique_id,
                title=r.string(table["title"], (*path, "title")),
                category=r.string(table["category"], (*path, "category"), choices=CATEGORIES),
                target=target,
                gain=gain,
                steps=steps,
                subject=subject,
                trusts=trusts,
                compute_type=compute_type,
                dataset_type=dataset_type,
                levels=levels,
                needs=needs,
                unverified=unverified,
                check=check,
                emitted_by=emitted_by,
                line=pack.line_of(path),
            )
        )
    return EscalationPack(techniques=tuple(techniques), origin=pack.origin)


def _parse_step(r: PackReader, path: FieldPath, raw: object, target: str) -> Step:
    table = r.table(
        raw, path, allowed=("action", "on", "resource", "trust", "context"), required=("action", "on")
    )
    action = r.string(table["action"], (*path, "action"))
    if not _ACTION.match(action):
        raise r.error(
            (*path, "action"), f"{action!r} is not an IAM action name like iam:PassRole (no wildcards)"
        )
    on = r.string(table["on"], (*path, "on"), choices=STEP_ON)
    if on == "passed-role" and target not in ("service-role", "existing"):
        raise r.error((*path, "on"), "on = 'passed-role' needs a target 'service-role' or 'existing'")
    if on == "passed-role" and action.lower() != "iam:passrole":
        raise r.error((*path, "on"), "on = 'passed-role' is for iam:PassRole")
    if on == "role-policy" and target != "role":
        raise r.error((*path, "on"), "on = 'role-policy' needs target 'role'")
    resource = None
    if on == "new":
        if "resource" not in table:
            raise r.error(path, "a step on 'new' needs 'resource' (an ARN template, or \"*\")")
        resource = r.template(table["resource"], (*path, "resource"), variables=NEW_RESOURCE_VARIABLES)
    elif "resource" in table:
        raise r.error((*path, "resource"), "'resource' only applies to steps on 'new'")
    trust = r.boolean(table.get("trust", False), (*path, "trust"))
    if trust and (action.lower() != "sts:assumerole" or target != "role"):
        raise r.error((*path, "trust"), "trust = true is for sts:AssumeRole on a target 'role'")
    context: dict[str, str] = {}
    for key, value in r.table(table.get("context", {}), (*path, "context")).items():
        context[key] = r.template(value, (*path, "context", key), variables=NEW_RESOURCE_VARIABLES)
    return Step(action=action, on=on, resource=resource, trust=trust, context=context)


def load_escalation(override_dir: Path | None = None) -> EscalationPack:
    """Load and validate ``escalation.toml`` (``override_dir`` wins over the shipped one)."""
    return parse_escalation(read_pack(ESCALATION_PACK, override_dir))


# --------------------------------------------------------------------------------------------------
# Synthetic nodes

ADMIN_NODE_PREFIX = "account-admin:"
EXFILTRATION = "exfiltration"


def admin_node(account: str) -> str:
    """The node id of "administrator of ``account``"."""
    return f"{ADMIN_NODE_PREFIX}{account}"


def is_synthetic(node: str) -> bool:
    """Whether a node id is one escalation made up (not a principal of the snapshot)."""
    return node.startswith(ADMIN_NODE_PREFIX) or ("@" in node and not node.startswith("arn:"))


def _admin_policy(partition: str) -> Policy:
    return parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Sid": "EscalatedAdmin", "Effect": "Allow", "Action": "*", "Resource": "*"}],
        },
        name=f"any policy the attacker writes ({ADMIN_POLICY_ARN.format(partition=partition)} or its own)",
    )


# --------------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True, slots=True, kw_only=True)
class Fired:
    """One technique instance that fires for one principal."""

    technique: Technique
    source: str  # the principal node it fires for
    target: str  # the node gained (a principal, a synthetic node, a dataset, or what leaves the account)
    resource: str  # what it acts on (policy, user, role, function, dataset, account)
    role: str | None  # the role handed over, when there is one
    certainty: str
    conditions: tuple[str, ...]
    policy: str | None
    statement: str | None


@dataclass(slots=True)
class _Target:
    resource: str  # the ARN the technique acts on
    gained: str | None = None  # role gained (service-role / existing) or principal
    account: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    dataset: Dataset | None = None
    notes: tuple[str, ...] = ()
    # Set when the technique acts on an existing resource of this compute type that was not collected:
    # its "target" steps are then evaluated on the ARNs such a resource could have (``_probe_resources``).
    compute: str | None = None


class Evaluator:
    """Per-graph state for escalation: indexes of the snapshot, and what fired for whom."""

    @property
    def graph(self) -> PermissionGraph:
        """The graph this evaluator serves (alive while anything evaluates on it)."""
        graph = self._graph()
        assert graph is not None, "the graph of an escalation evaluator was freed"
        return graph

    def __init__(self, graph: PermissionGraph, pack: EscalationPack) -> None:
        # Weakly: the graph is the key of ``_EVALUATORS`` (a weak mapping), which a strong reference
        # from its value would keep alive for the life of the process.
        self._graph = weakref.ref(graph)
        self.model: AccountModel = graph.model
        self.pack = pack
        snapshot = self.model.snapshot
        self.partition = snapshot.partition or "aws"
        self.default_region = snapshot.regions[0] if snapshot.regions else "us-east-1"
        self.fired: dict[str, list[Fired]] = {}
        self._users_index = _PrefixIndex(self.model.users)
        self._groups = {g.name: g for g in snapshot.groups}
        self._groups_by_arn = {g.arn: g for g in snapshot.groups}
        self._groups_index = _PrefixIndex(self._groups_by_arn)
        self._trusting: dict[tuple[str, str], tuple[bool, tuple[str, ...]]] = {}
        self._compute: dict[str, list[ComputeResource]] = {}
        self._compute_index: dict[str, _PrefixIndex] = {}
        self._probed: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], Decision | None] = {}
        for c in snapshot.compute:
            self._compute.setdefault(c.type, []).append(c)
        self._profiles: dict[str, str] = {
            p.arn: p.role_arns[0] for p in snapshot.instance_profiles if p.role_arns
        }
        self._profile_roles = {r for p in snapshot.instance_profiles for r in p.role_arns}
        # Instance profiles come with IAM (GetAccountAuthorizationDetails lists each role's): when IAM was
        # collected in full, a role in none has none, even if the account has no profile at all.
        self._profiles_known = bool(snapshot.instance_profiles) or snapshot.services.get("iam") == "ok"
        self._handed: dict[tuple[str, str], list[tuple[str, Mapping[str, str], tuple[str, ...]]]] = {}
        self._key_memo: tuple[str, KeyEffects] = ("", {})
        self._admin_policy = _admin_policy(self.partition)
        # service principal (or "*") -> roles whose trust policy names it in an Allow: the only roles a
        # service can be handed (checked precisely by _trusts).
        self._service_index: dict[str, set[str]] = {}
        for role in snapshot.roles:
            for service in _trusted_services(role.trust_policy):
                self._service_index.setdefault(service, set()).add(role.arn)
        self._rewritten: dict[tuple[str, ...], Policy] = {}
        self._techniques = tuple(t for t in pack.techniques if t.emitted_by is None)
        # Techniques that give access to a dataset (rewriting its policy…) and the others.
        self._data_side = tuple(t for t in self._techniques if t.gain == "access")
        self._principal_side = tuple(t for t in self._techniques if t.gain != "access")
        # The last request context built: (principal, resource tags object, account, context). Kept while
        # one target's steps and rewritten levels are decided (the tags object is held, so ``is`` holds).
        self._last_context: tuple[str, Mapping[str, str], str, Dataset | None, Context] | None = None
        # Set by ``for_audit``: only what changes the graph is computed (see there).
        self.audit = False
        # (principal, action, whether its SCPs are weighed) -> whether no statement of its policies for the
        # action depends on the resource, and its action class (see ``_applying``)
        self._uniform: dict[tuple[str, str, bool], bool] = {}
        self._classes: dict[tuple[str, str, bool], _ActionClass] = {}
        # Decisions that are the same on every resource of a type and account (see ``_resource_free``).
        self._uniform_decisions: dict[tuple[object, ...], Decision | None] = {}

    # -- entry point ------------------------------------------------------------------------------

    def edges(self, principal: Principal, skip: SkipGrant | None) -> Iterator[Edge]:
        """Every edge the techniques give ``principal`` (each fired instance is also recorded).

        In an audit (``for_audit``) the data-side techniques are left to ``data_edges``: the audit
        evaluates them once it knows what the principal holds anyway."""
        floor = skip if isinstance(skip, GrantFloor) else None
        # In a single-origin search, only the origin's data-side techniques are reported without being
        # on a path (``escalations``); a copy outside the account is never on one.
        others = floor is not None and floor.origin is not None and floor.origin != principal.arn
        techniques = self._principal_side if self.audit else self._techniques
        held = floor.escalated if floor is not None else None
        yield from self._fire(principal, techniques, skip, held, exfiltrate=not others)

    def link_edges(self, principal: Principal, floor: GrantFloor) -> Iterator[Edge]:
        """The edges of the techniques that give another principal (``PermissionGraph.link_edges``):
        what ``edges`` gives but the data side (``search_edges``)."""
        others = floor.origin is not None and floor.origin != principal.arn
        yield from self._fire(principal, self._principal_side, floor, None, exfiltrate=not others)

    def search_edges(
        self, principal: Principal, floor: GrantFloor, types: Collection[str] | None
    ) -> Iterator[Edge]:
        """The access edges of the data-side techniques on datasets of ``types`` (default: all) for a
        single-key search (``PermissionGraph.data_edges``): the rest of what ``edges`` gives."""
        others = floor.origin is not None and floor.origin != principal.arn
        techniques = [t for t in self._data_side if types is None or t.dataset_type in types]
        yield from self._fire(principal, techniques, floor, floor.escalated, exfiltrate=not others)

    def data_edges(self, principal: Principal, held: GrantFloor) -> Iterator[Edge]:
        """The access edges of the data-side techniques (rewriting a resource or key policy, a KMS
        grant…), leaving out grants ``held`` already has at every level a technique gives (definitely:
        an edge to them could change nothing). For an audit, after the principal's own access."""
        yield from self._fire(principal, self._data_side, held, held, exfiltrate=False)

    def _fire(
        self,
        principal: Principal,
        techniques: Sequence[Technique],
        skip: SkipGrant | None,
        held: GrantFloor | None,
        *,
        exfiltrate: bool,
    ) -> Iterator[Edge]:
        if principal.arn.startswith(ADMIN_NODE_PREFIX):
            return  # the administrator already has every permission: nothing to escalate to
        # An audit reads the graph only: nothing is recorded for a report (see ``for_audit``).
        fired: list[Fired] = [] if self.audit else self.fired.setdefault(principal.arn, [])
        synthetic = is_synthetic(principal.arn)
        for technique in techniques:
            if synthetic and technique.gain == "group":
                continue  # one group at a time: combining groups would make up a node per subset
            if (self.audit or not exfiltrate) and technique.gain == "exfiltrate":
                continue
            # A resource policy may grant dataset actions without an identity Allow (handled per target).
            if technique.target != "dataset" and not all(
                s.trust or self._may_allow(principal, s.action) for s in technique.steps
            ):
                continue
            if not self._shared_steps_may_allow(principal, technique):
                continue
            # A fired data-side technique that gives no edge is listed only for the key's own principal
            # (``escalations``): for the others, targets their KMS key seals are not worth deciding.
            unsealed = not exfiltrate or self.audit
            for target in self._targets(principal, technique, held, unsealed=unsealed):
                found = self._evaluate(principal, technique, target)
                if found is None:
                    continue
                certainty, conditions, policy, statement = found
                node = self._gain(principal, technique, target)
                if node == principal.arn:
                    continue  # nothing more than it has
                item = Fired(
                    technique=technique,
                    source=principal.arn,
                    target=node,
                    resource=target.resource,
                    role=target.gained if technique.target in ("service-role", "existing") else None,
                    certainty=certainty,
                    conditions=conditions,
                    policy=policy,
                    statement=statement,
                )
                fired.append(item)
                yield from self._edges_for(principal, item, target, skip, held)

    @property
    def has_data_side(self) -> bool:
        """Whether the pack has data-side techniques (``data_edges`` has anything to do)."""
        return bool(self._data_side)

    # -- prefilters -------------------------------------------------------------------------------

    def _shared_steps_may_allow(self, principal: Principal, technique: Technique) -> bool:
        """Whether every step whose decision is the same for all of the technique's targets may be
        allowed: steps on a resource the attacker creates, and steps on an existing resource of a type
        that was not collected (``_step`` decides both once per principal). When one is not, no target
        can fire, and none is looked at. Targets of every kind but datasets are in the principal's own
        account, the account these decisions are made for."""
        if technique.target == "dataset":
            return True
        compute = technique.compute_type if technique.target == "existing" else None
        if compute is not None and (self._compute.get(compute) or self._collected(compute)):
            compute = None  # collected: each existing resource is its own target
        probe = _Target(resource="", account=principal.account_id, compute=compute)
        for step in technique.steps:
            if step.on == "new" or (compute is not None and step.on == "target" and not step.trust):
                decision = self._step(principal, technique, step, probe)
                if decision is None or not decision.allowed:
                    return False
        return True

    @staticmethod
    def _may_allow(principal: Principal, action: str) -> bool:
        """Cheap necessary condition: some identity Allow statement covers ``action`` (cached per policy)."""
        return any(policy.may_allow(action) for policy in principal.identity_policies)

    @staticmethod
    def _allow_patterns(principal: Principal, action: str) -> list[str] | None:
        """Resource patterns of the identity Allows for ``action``; None when one covers any resource."""
        patterns: list[str] = []
        for policy in principal.identity_policies:
            for st in policy.statements_for(action):
                if st.is_deny:
                    continue
                if st.resource_patterns is None or st.not_resource:
                    return None
                patterns.extend(st.resource_patterns)
        return patterns

    def _select(self, index: _PrefixIndex, principal: Principal, action: str) -> set[str]:
        patterns = self._allow_patterns(principal, action)
        if patterns is None:
            return set(index)
        found: set[str] = set()
        for pattern in patterns:
            found.update(index.select(pattern))
        return found

    # -- targets ----------------------------------------------------------------------------------

    def _targets(
        self,
        principal: Principal,
        technique: Technique,
        held: GrantFloor | None = None,
        *,
        unsealed: bool = False,
    ) -> Iterator[_Target]:
        model = self.model
        rp = principal.request_principal
        me = rp.arn
        account = principal.account_id
        if not self._needs_actor(principal, technique):
            return
        first = next((s for s in technique.steps if s.on == "target" and not s.trust), None)
        kind = technique.target
        if kind == "self":
            tags = (
                model.users[me].tags
                if me in model.users
                else model.roles[me].tags
                if me in model.roles
                else {}
            )
            yield _Target(resource=me, account=account, tags=tags)
        elif kind == "attached-policy":
            for arn in self._attached_policies(me):
                yield _Target(resource=arn, account=account)
        elif kind == "own-group":
            user = model.users.get(me)
            for name in user.group_names if user else ():
                group = self._groups.get(name)
                if group is not None:
                    yield _Target(resource=group.arn, account=account)
        elif kind == "group":
            user = model.users.get(me)
            mine = set(user.group_names) if user else set()
            for arn in sorted(self._select(self._groups_index, principal, technique.steps[0].action)):
                group = self._groups_by_arn[arn]
                if arn.split(":")[4] != account:
                    continue
                if group.name not in mine and (group.inline_policies or group.managed_policy_arns):
                    yield _Target(resource=arn, account=account)
        elif kind == "user":
            action = first.action if first else technique.steps[0].action
            for arn in sorted(self._select(self._users_index, principal, action)):
                if arn == me or arn.split(":")[4] != account:
                    continue  # IAM changes another account's users only with that account's credentials
                user = model.users[arn]
                if "keys-below-limit" in technique.needs and len(user.access_keys) >= 2:
                    continue
                if "keys-at-limit" in technique.needs and len(user.access_keys) < 2:
                    continue
                yield _Target(resource=arn, gained=arn, account=user.arn.split(":")[4], tags=user.tags)
        elif kind == "role":
            step = first or technique.steps[0]
            if step.on == "role-policy":
                candidates = self._roles_with_customer_policies(principal, step.action)
            else:
                candidates = self._select(model._roles_index, principal, step.action)
            for arn in sorted(candidates):
                role = model.roles[arn]
                if arn == me or role.service_linked or arn.split(":")[4] != account:
                    continue
                yield _Target(resource=arn, gained=arn, account=arn.split(":")[4], tags=role.tags)
        elif kind == "service-role":
            yield from self._service_roles(principal, technique, ())
        elif kind == "existing":
            yield from self._existing(principal, technique)
        elif kind == "dataset":
            yield from self._datasets(principal, technique, held, unsealed=unsealed)
        elif kind == "account":
            yield _Target(resource=f"arn:{self.partition}:iam::{account}:root", account=account)

    def _needs_actor(self, principal: Principal, technique: Technique) -> bool:
        needs = technique.needs
        if "actor-user" in needs and principal.kind != "user":
            return False
        if "actor-role" in needs and principal.kind != "role":
            return False
        return not ("actor-boundary" in needs and principal.boundary is None)

    def _attached_policies(self, arn: str) -> list[str]:
        """Customer managed policies attached to a user (directly or by group) or role."""
        model = self.model
        found: list[str] = []
        if (user := model.users.get(arn)) is not None:
            found.extend(user.managed_policy_arns)
            for name in user.group_names:
                group = self._groups.get(name)
                if group is not None:
                    found.extend(group.managed_policy_arns)
        elif (role := model.roles.get(arn)) is not None:
            found.extend(role.managed_policy_arns)
        return [a for a in dict.fromkeys(found) if a.split(":")[4] != "aws"]

    def _roles_with_customer_policies(self, principal: Principal, action: str) -> set[str]:
        """Roles with a customer managed policy the principal's Allows for ``action`` may concern."""
        patterns = self._allow_patterns(principal, action)
        out: set[str] = set()
        for role in self.model.roles.values():
            for arn in self._attached_policies(role.arn):
                if patterns is None or any(fnmatch.fnmatchcase(arn, p) for p in patterns if "$" not in p):
                    out.add(role.arn)
                    break
        return out

    def _trusts(self, role_arn: str, service: str) -> tuple[bool, tuple[str, ...]]:
        """Whether the role's trust policy lets ``service`` assume it, and any conditions on that."""
        key = (role_arn, service)
        found = self._trusting.get(key)
        if found is None:
            principal = self.model.principal(role_arn)
            trust = principal.trust_policy if principal is not None else None
            found = (False, ())
            if trust is not None:
                svc = RequestPrincipal(arn=service, account_id="", kind="service")
                denied = any(
                    st.principal_match(svc) is not PrincipalMatch.NONE and not st.conditions
                    for st in trust.statements_for("sts:AssumeRole")
                    if st.is_deny
                )
                for st in trust.statements_for("sts:AssumeRole"):
                    if st.is_deny or denied or st.principal_match(svc) is PrincipalMatch.NONE:
                        continue
                    conditions = tuple(
                        f"the trust policy of {_short(role_arn)} requires {c.describe(deny=False)}"
                        for c in st.conditions
                    )
                    if not conditions:
                        found = (True, ())
                        break
                    found = (True, conditions)
            self._trusting[key] = found
        return found

    def _service_roles(
        self,
        principal: Principal,
        technique: Technique,
        notes: tuple[str, ...],
        compute: str | None = None,
    ) -> Iterator[_Target]:
        account = principal.account_id
        pass_step = next((s for s in technique.steps if s.on == "passed-role"), None)
        roles = self._handed_roles(technique, account)
        if pass_step is not None and roles:
            selected = self._select(self.model._roles_index, principal, pass_step.action)
            roles = [r for r in roles if r[0] in selected]
        for arn, tags, role_notes in roles:
            yield _Target(
                resource=arn,
                gained=arn,
                account=account,
                tags=tags,
                notes=(*notes, *role_notes),
                compute=compute,
            )

    def _handed_roles(
        self, technique: Technique, account: str
    ) -> list[tuple[str, Mapping[str, str], tuple[str, ...]]]:
        """(role, tags, notes) of the roles of ``account`` the technique's service can be handed, in ARN
        order: not service-linked, trusting one of its services, in an instance profile when it needs
        one (the same for every principal of the account, so computed once)."""
        key = (technique.id, account)
        found = self._handed.get(key)
        if found is not None:
            return found
        candidates: set[str] = set()
        for service in technique.trusts:
            candidates |= self._service_index.get(service, set()) | self._service_index.get("*", set())
        found = []
        for arn in sorted(candidates):
            role = self.model.roles[arn]
            if role.service_linked or arn.split(":")[4] != account:
                continue  # a role is passed only within its own account
            trust = [self._trusts(arn, s) for s in technique.trusts]
            if not any(ok for ok, _ in trust):
                continue
            trust_notes = min((c for ok, c in trust if ok), key=len)
            extra: tuple[str, ...] = ()
            if "instance-profile" in technique.needs and arn not in self._profile_roles:
                if self._profiles_known:
                    continue  # the role is in no instance profile: no instance can be launched with it
                extra = ("needs an instance profile for the role (instance profiles were not collected)",)
            found.append((arn, role.tags, (*trust_notes, *extra)))
        self._handed[key] = found
        return found

    def _existing(self, principal: Principal, technique: Technique) -> Iterator[_Target]:
        account = principal.account_id
        compute_type = technique.compute_type
        resources = self._compute.get(compute_type, []) if compute_type else []
        if compute_type is None or (not resources and not self._collected(compute_type)):
            what = compute_type or "the resource"
            note = (
                f"needs an existing {what} running with this role ({what} resources were not collected)"
                if compute_type
                else ""
            )
            yield from self._service_roles(principal, technique, (note,) if note else (), compute_type)
            return
        first = next((s for s in technique.steps if s.on == "target" and not s.trust), None)
        if first is not None:
            # Only those the identity Allows of the first action on the resource may concern (a resource
            # policy of these compute types is not modelled, so an identity Allow is needed).
            index = self._compute_index.get(compute_type)
            if index is None:
                index = self._compute_index[compute_type] = _PrefixIndex(c.arn for c in resources)
            concerned = self._select(index, principal, first.action)
            resources = [c for c in resources if c.arn in concerned]
        for c in resources:
            if c.account_id != account:
                continue
            role = c.role_arn
            if role is None and c.type == EC2_INSTANCE and c.instance_profile_arn:
                role = self._profiles.get(c.instance_profile_arn)
            if role is None or role not in self.model.roles:
                continue
            yield _Target(resource=c.arn, gained=role, account=c.account_id, tags=c.tags)

    def _collected(self, compute_type: str) -> bool:
        """Whether the snapshot says resources of this type were looked for (so none means none)."""
        services = self.model.snapshot.services
        return services.get(compute_type) == "ok" or services.get(_COMPUTE_SERVICE[compute_type]) == "ok"

    def _datasets(
        self, principal: Principal, technique: Technique, held: GrantFloor | None, *, unsealed: bool = False
    ) -> Iterator[_Target]:
        """Datasets of the technique's type its first action may concern (by the identity Allows'
        resource patterns) or whose resource policy names the principal, in ARN order; with ``held``,
        not those already held at every level the technique gives (an escalation cannot improve them).

        ``unsealed`` (a technique that gains access, fired for no report): not those whose KMS key
        surely seals every level it gives either. A rewritten resource policy does not open the key
        (Key policies in AWS KMS), so ``_edges_for`` would build no edge to them (``_access_edge``)."""
        model = self.model
        dataset_type = technique.dataset_type
        assert dataset_type is not None
        index = model.type_index(dataset_type)
        if not index.arns:
            return
        action = technique.steps[0].action
        candidates = model.named_mask(principal, dataset_type)
        if self._may_allow(principal, action):
            patterns = self._allow_patterns(principal, action)
            if patterns is None:
                candidates = (1 << len(index.arns)) - 1
            else:
                for pattern in dict.fromkeys(patterns):
                    candidates |= model.pattern_mask(dataset_type, pattern)
        if held is not None and technique.gain == "access" and technique.levels:
            done = -1
            for level in technique.levels:
                done &= held.mask(dataset_type, level)
            candidates ^= candidates & done  # & ~done, without a negative int (graph._without)
        levels = technique.levels if unsealed and technique.gain == "access" else ()
        seals: dict[str, bool] = {}  # KMS key -> sealed at every level
        for pos in bits(candidates):
            d = index.datasets[pos]
            if levels and d.kms_key is not None:
                sealed = seals.get(d.kms_key)
                if sealed is None:
                    graph = self.graph
                    sealed = seals[d.kms_key] = all(graph.key_sealed(principal, d, lv) for lv in levels)
                if sealed:
                    continue
            yield _Target(resource=d.arn, account=d.account_id, tags=d.tags, dataset=d)

    # -- steps ------------------------------------------------------------------------------------

    def _evaluate(
        self, principal: Principal, technique: Technique, target: _Target
    ) -> tuple[str, tuple[str, ...], str | None, str | None] | None:
        """(certainty, conditions, policy, statement) if every step is allowed, else None."""
        conditions: dict[str, None] = dict.fromkeys(target.notes)
        conditions.update(dict.fromkeys(technique.unverified))
        policy: str | None = None
        statements: list[str] = []
        for step in technique.steps:
            decision = self._step(principal, technique, step, target)
            if decision is None or not decision.allowed:
                return None
            for c in decision.conditions:
                conditions.setdefault(f"{step.action}: {c}", None)
            for ref in decision.matched:
                if ref.effect == "Allow":
                    policy = policy or ref.policy
                    statements.append(ref.label())
                    break
        certainty = CONDITIONAL if conditions else DEFINITE
        return certainty, tuple(conditions), policy, "; ".join(dict.fromkeys(statements)) or None

    def _step(
        self, principal: Principal, technique: Technique, step: Step, target: _Target
    ) -> Decision | None:
        model = self.model
        account = target.account or principal.account_id
        tags: Mapping[str, str] = target.tags
        resource_policy: Policy | None = None
        required = False
        extra: dict[str, str] = {
            k: v.format(partition=self.partition, region=self.default_region, account=account)
            for k, v in step.context.items()
        }
        if step.on == "target" and target.compute is not None and not step.trust:
            # The resource was not collected: any the Allows could name stands in, decided once per
            # principal and step (the answer does not depend on the role the resource would run with).
            key = (principal.arn, target.compute, step.action, tuple(sorted(extra.items())))
            if key not in self._probed:
                template = _COMPUTE_ARN.get(target.compute)
                resources = (
                    self._probe_resources(principal, template, step.action, account)
                    if template is not None
                    else [target.resource]
                )
                self._probed[key] = self._decide(
                    principal, step.action, resources, None, {}, account, extra, required=False
                )
            return self._probed[key]
        if step.on == "target":
            resources = [target.resource]
            if target.dataset is not None:
                d = target.dataset
                if d.type == "kms-key":
                    if self.graph.key_surely_denied(principal, d.arn, step.action):
                        return None  # what key_use would answer, known by bitset
                    return self.graph.key_use(principal, d.arn, step.action)
                label = f"resource policy of {_short(d.arn)}"
                # the policy AWS evaluates (an S3 ACL's grants included), as every other decision caches it
                resource_policy = model.resource_policy(d.arn, model.effective_policies.get(d.arn), label)
                hits = (
                    self._applying(self._guarded(principal, step.action, extra), step.action, resources)
                    if resource_policy is None
                    and not self._rcps(principal, d.arn, account, step.action, extra)
                    else None
                )
                if hits is not None:
                    # Identity policies alone: the decision is that of any dataset of this type and
                    # account on which the same statements apply (decided once).
                    extras = tuple(sorted(extra.items()))
                    memo = ("step", principal.arn, step.action, d.type, account, extras, hits)
                    if memo not in self._uniform_decisions:
                        self._uniform_decisions[memo] = self._decide(
                            principal, step.action, resources, None, tags, account, extra, required=False
                        )
                    return self._uniform_decisions[memo]
            elif step.trust:
                role = model.principal(target.resource)
                if role is None or role.trust_policy is None:
                    return None
                resource_policy, required = role.trust_policy, True
        elif step.on == "self":
            resources = [principal.request_principal.arn]
        elif step.on == "passed-role":
            assert target.gained is not None
            resources = [target.gained]
            tags, account = model.roles[target.gained].tags, target.gained.split(":")[4]
            trusted = [s for s in technique.trusts if self._trusts(target.gained, s)[0]]
            best: Decision | None = None
            for service in trusted or technique.trusts:
                found = self._decide(
                    principal,
                    step.action,
                    resources,
                    None,
                    tags,
                    account,
                    {**extra, "iam:PassedToService": service},
                    required=False,
                )
                if found.verdict is Verdict.ALLOW:
                    return found
                if best is None or (found.allowed and not best.allowed):
                    best = found
            return best
        elif step.on == "role-policy":
            resources = self._attached_policies(target.resource)
            if not resources:
                return None
            tags = {}
        else:  # new: what the attacker creates does not depend on the target (decided once)
            assert step.resource is not None
            key = (principal.arn, f"new:{account}:{step.resource}", step.action, tuple(sorted(extra.items())))
            if key not in self._probed:
                resources = self._probe_resources(principal, step.resource, step.action, account)
                self._probed[key] = self._decide(
                    principal, step.action, resources, None, {}, account, extra, required=False
                )
            return self._probed[key]
        return self._decide(
            principal, step.action, resources, resource_policy, tags, account, extra, required=required
        )

    def _decide(
        self,
        principal: Principal,
        action: str,
        resources: Sequence[str],
        policy: Policy | None,
        tags: Mapping[str, str],
        account: str,
        extra: Mapping[str, str],
        *,
        required: bool,
    ) -> Decision:
        context = self._context(principal, tags, account)
        if extra:
            context = context.with_values({k: (v,) for k, v in extra.items()})
        rcps = self._rcps(principal, resources[0], account, action, extra) if resources else ()
        guarded = self._guarded(principal, action, extra)
        return _decide_any(guarded, action, resources, policy, context, account, required, rcps)

    def _guarded(self, principal: Principal, action: str, extra: Mapping[str, str]) -> Principal:
        """The principal as a decision of ``action`` (with the step's ``extra`` keys) must see it: without
        its SCPs when every level surely allows the request (graph ``AccountModel.scp_free``)."""
        if not _USE_GUARDRAIL_SHORTCUTS:
            return principal
        return self.model.scp_free(principal, (action,), extra)

    def _rcps(
        self, principal: Principal, resource: str, account: str, action: str, extra: Mapping[str, str]
    ) -> tuple[tuple[Policy, ...], ...]:
        """The RCP levels a decision of ``action`` on ``resource`` must weigh: none when they are
        transparent to the principal (graph ``AccountModel.rcps_for``); a decision that depended on the
        resource only through them may then be shared (``_uniform_decisions``)."""
        if not _USE_GUARDRAIL_SHORTCUTS:
            return self.model.rcps(resource, account)
        return self.model.rcps_for(principal, resource, account, (action,), extra)

    def _applying(self, principal: Principal, action: str, resources: Sequence[str]) -> object | None:
        """What the engine's decision on ``resources`` depends on, from the principal's side: which of
        its statements for ``action`` apply to each request ARN (graph ``_applicable``), or () when none
        depends on the resource (``_resource_free``); None when this does not settle it (a condition on
        the resource or a policy variable). Decisions with the same answer, the same resource policy on
        ``"*"`` (or none) and no RCP are the same. Given the principal as its decision sees it
        (``_guarded``): SCPs that surely allow the request take no part in the decision, so none of
        theirs is matched."""
        if self._resource_free(principal, action):
            return ()
        key = (principal.arn, action, bool(principal.scps))
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = _action_classes(
                principal, (action,), self.model.base_context(principal), self.model.region_state
            )[0]
        if not cls.fast:
            return None
        return _applicable(cls, resources, self.model.base_context(principal))

    def _resource_free(self, principal: Principal, action: str) -> bool:
        """Whether no statement of the principal's policies for ``action`` (identity, boundary, SCPs) depends
        on the resource: each covers every resource (``Resource: "*"``) and no condition reads the
        resource's tags, account or organisation or a policy variable. Then the engine's decision (with no
        resource policy, or one on ``"*"``, and no RCP) is the same on every resource of an account."""
        key = (principal.arn, action, bool(principal.scps))
        found = self._uniform.get(key)
        if found is None:
            statements = [st for p in principal.identity_policies for st in p.statements_for(action)]
            if principal.boundary is not None:
                statements.extend(principal.boundary.statements_for(action))
            for level in principal.scps:
                for policy in level:
                    statements.extend(policy.statements_for(action))
            regional = self.model.region_state
            found = self._uniform[key] = all(_covers_any_resource(st, regional) for st in statements)
        return found

    def _context(
        self, principal: Principal, tags: Mapping[str, str], account: str, dataset: Dataset | None = None
    ) -> Context:
        """``model.context``, reused while the same principal acts on the same resource."""
        last = self._last_context
        if (
            last is not None
            and last[0] == principal.arn
            and last[1] is tags
            and last[2] == account
            and last[3] is dataset
        ):
            return last[4]
        context = self.model.context(principal, tags, account, None, dataset)
        self._last_context = (principal.arn, tags, account, dataset, context)
        return context

    def _probe_resources(self, principal: Principal, template: str, action: str, account: str) -> list[str]:
        """ARNs standing for "a resource the attacker creates and names" (or one that exists but was not
        collected): one generic instance of ``template``, and one per Allow pattern for ``action`` that
        fits it."""
        glob = template.format(partition=self.partition, region="*", account=account)
        if glob == "*":
            return ["*"]
        out = [template.format(partition=self.partition, region=self.default_region, account=account)]
        out[0] = out[0].replace("*", "blastradius-probe")
        for pattern in self._allow_patterns(principal, action) or ():
            pick = _instance_of(pattern)
            if fnmatch.fnmatchcase(pick, glob) and pick not in out:
                out.append(pick)
            if len(out) >= 8:
                break
        return out

    # -- gains ------------------------------------------------------------------------------------

    def _gain(self, principal: Principal, technique: Technique, target: _Target) -> str:
        gain = technique.gain
        if gain == "principal":
            assert target.gained is not None
            return target.gained
        if gain == "admin":
            subject = principal if technique.subject == "actor" else self.model.principal(target.resource)
            assert subject is not None
            return self._admin_of(subject)
        if gain == "group":
            group = self._groups_by_arn[target.resource]
            node = f"member-of-{group.name}@{principal.arn}"
            if self.model.principal(node) is None:
                policies = list(principal.identity_policies)
                for doc in group.inline_policies:
                    if (p := self.model._parse(group.arn, doc)) is not None:
                        policies.append(p)
                for arn in group.managed_policy_arns:
                    missing = f"managed policy {arn} of group {group.name} was not in the snapshot"
                    if (p := self.model._managed_policy(arn, group.arn, missing=missing)) is not None:
                        policies.append(p)
                self.model.add_principal(
                    dataclasses.replace(principal, arn=node, identity_policies=tuple(policies))
                )
            return node
        if gain == "unbounded":
            if self._admin_policy in principal.identity_policies:
                return self._admin_of(dataclasses.replace(principal, boundary=None))
            node = f"without-boundary@{principal.arn}"
            if self.model.principal(node) is None:
                self.model.add_principal(dataclasses.replace(principal, arn=node, boundary=None))
            return node
        if gain == "access":
            return target.resource
        # exfiltrate: what leaves the account
        step = technique.steps[-1]
        assert step.resource is not None
        return step.resource.format(
            partition=self.partition, region=self.default_region, account=target.account
        )

    def _after_rewrite(self, principal: Principal, dataset: Dataset, level: str) -> Decision | None:
        """The decision for ``level`` once the resource policy (or a KMS grant) names the principal itself.

        What the attacker writes is unknown, so the most it could write stands in: an Allow of every
        action to the principal (its user, or its role and any session of it). Explicit denies in its own
        policies and boundary (and, once wired into ``decide``, SCPs/RCPs) still apply (*Policy
        evaluation logic*); the grant still needs the dataset's KMS key (checked by the access edge).
        """
        rp = principal.request_principal
        names = tuple(n for n in (rp.arn, rp.session_arn) if n)
        rewritten = self._rewritten.get(names)
        if rewritten is None:
            rewritten = parse_policy(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": list(names)}, "Action": "*", "Resource": "*"}
                    ],
                },
                name="the policy the attacker writes",
            )
            self._rewritten[names] = rewritten
        stores = self.model.rules.datastores
        best: Decision | None = None
        for action in stores.actions_for(dataset.type, level):
            resources = stores.resource_arns(dataset.type, dataset.arn, action)
            # A rewritten resource policy does not lift an RCP deny ("Resource control policies").
            rcps = self._rcps(principal, dataset.arn, dataset.account_id, action, {})
            memo: tuple[object, ...] | None = None
            if not rcps:
                # The rewritten policy names the principal on "*": the decision is that of any dataset
                # of this type and account on whose request ARNs the same statements apply.
                hits = self._applying(self._guarded(principal, action, {}), action, resources)
                if hits is not None:
                    memo = ("rewrite", principal.arn, action, dataset.type, dataset.account_id, hits)
                if memo is not None and memo in self._uniform_decisions:
                    decision = self._uniform_decisions[memo]
                    assert decision is not None
                    if decision.verdict is Verdict.ALLOW:
                        return decision
                    if decision.allowed and best is None:
                        best = decision
                    continue
            decision = _decide_any(
                self._guarded(principal, action, {}),
                action,
                resources,
                rewritten,
                self._context(principal, dataset.tags, dataset.account_id, dataset),
                dataset.account_id,
                dataset.type == "kms-key",
                rcps,
            )
            if memo is not None:
                self._uniform_decisions[memo] = decision
            if decision.verdict is Verdict.ALLOW:
                return decision
            if decision.allowed and best is None:
                best = decision
        return best

    def _key_effects(self, principal: Principal) -> KeyEffects:
        """``_access_edge``'s memo of KMS key verdicts for ``principal`` (kept for the last one asked)."""
        if self._key_memo[0] != principal.arn:
            self._key_memo = (principal.arn, {})
        return self._key_memo[1]

    def _admin_of(self, subject: Principal) -> str:
        """The account admin node, or (``subject`` has a permissions boundary) the subject capped by it."""
        if subject.boundary is None:
            node = admin_node(subject.account_id)
            if self.model.principal(node) is None:
                account = subject.account_id
                rp = RequestPrincipal(
                    arn=f"arn:{self.partition}:iam::{account}:role/blastradius-escalated-admin",
                    account_id=account,
                    kind="role",
                    session_arn=f"arn:{self.partition}:sts::{account}:assumed-role/blastradius-escalated-admin/*",
                )
                self.model.add_principal(
                    Principal(
                        arn=node,
                        kind="role",
                        name=f"administrator of {account}",
                        account_id=account,
                        identity_policies=(self._admin_policy,),
                        boundary=None,
                        request_principal=rp,
                    )
                )
            return node
        if self._admin_policy in subject.identity_policies:
            return subject.arn  # already as much as its boundary lets it have
        base = subject.arn
        node = f"admin-within-boundary@{base}"
        if self.model.principal(node) is None:
            self.model.add_principal(
                dataclasses.replace(
                    subject, arn=node, identity_policies=(*subject.identity_policies, self._admin_policy)
                )
            )
        return node

    def _edges_for(
        self,
        principal: Principal,
        item: Fired,
        target: _Target,
        skip: SkipGrant | None,
        held: GrantFloor | None = None,
    ) -> Iterator[Edge]:
        technique = item.technique
        if technique.gain == "exfiltrate":
            return  # nothing in the graph to follow; the report lists it
        if technique.gain == "access":
            dataset = target.dataset
            assert dataset is not None
            for level in technique.levels:
                if (skip is not None and skip(dataset.arn, level)) or (
                    held is not None and held(dataset.arn, level)
                ):
                    continue
                gained = self._after_rewrite(principal, dataset, level)
                if gained is None:
                    continue
                conditions = [*item.conditions, *gained.conditions]
                certainty = CONDITIONAL if conditions else DEFINITE
                edge = _access_edge(
                    self.graph,
                    principal,
                    dataset,
                    level,
                    (technique.actions[0], certainty, conditions, item.policy, item.statement),
                    self._key_effects(principal),
                )
                if edge is not None:
                    yield dataclasses.replace(edge, actions=technique.actions, technique=technique.id)
            return
        if item.target == principal.arn:
            return
        yield Edge(
            source=principal.arn,
            target=item.target,
            kind=ESCALATE,
            certainty=item.certainty,
            actions=technique.actions,
            policy=item.policy,
            statement=item.statement,
            conditions=item.conditions,
            technique=technique.id,
        )


def _covers_any_resource(st: Statement, regional: RegionSettle) -> bool:
    """Whether a statement applies alike to every resource: ``Resource: "*"`` (or none), and no condition
    on the resource (its tags, account, organisation, or a Region where the Regions disagree: see
    ``AccountModel.region_state``) or with a policy variable."""
    patterns = st.resource_patterns
    if patterns is not None and (st.not_resource or "*" not in patterns):
        return False
    for c in st.conditions:
        if any("${" in v for v in c.values):
            return False
        if c.key_lower == _REQUESTED_REGION_LOWER:
            if regional(c, st.is_deny) is None:
                return False
        elif c.key_lower.startswith(_RESOURCE_KEYS):
            return False
    return True


# What the ARN of a compute resource looks like (for resources that were not collected).
_COMPUTE_ARN = {
    "lambda-function": "arn:{partition}:lambda:{region}:{account}:function:*",
    "ec2-instance": "arn:{partition}:ec2:{region}:{account}:instance/*",
    "cloudformation-stack": "arn:{partition}:cloudformation:{region}:{account}:stack/*",
    "codebuild-project": "arn:{partition}:codebuild:{region}:{account}:project/*",
    "sagemaker-notebook": "arn:{partition}:sagemaker:{region}:{account}:notebook-instance/*",
    "ecs-task-definition": "arn:{partition}:ecs:{region}:{account}:task-definition/*",
    "glue-dev-endpoint": "arn:{partition}:glue:{region}:{account}:devEndpoint/*",
}

_COMPUTE_SERVICE = {
    "lambda-function": "lambda",
    "ec2-instance": "ec2",
    "cloudformation-stack": "cloudformation",
    "codebuild-project": "codebuild",
    "sagemaker-notebook": "sagemaker",
    "ecs-task-definition": "ecs",
    "glue-dev-endpoint": "glue",
}


def _trusted_services(trust: Mapping[str, Any]) -> set[str]:
    """Service principals an Allow of a trust policy names ("*" for a wildcard or NotPrincipal)."""
    found: set[str] = set()
    statements = trust.get("Statement", [])
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if "NotPrincipal" in st or principal == "*":
            found.add("*")
            continue
        if isinstance(principal, dict):
            services = principal.get("Service", [])
            for service in [services] if isinstance(services, str) else services:
                if isinstance(service, str):
                    found.add("*" if "*" in service or "?" in service else service)
            if principal.get("AWS") == "*":
                found.add("*")
    return found


def _account(node: str) -> str:
    """The account of a principal node (a synthetic ``what@arn`` node: of its ARN)."""
    arn = node.split("@", 1)[-1]
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _short(arn: str) -> str:
    return arn.split(":", 5)[-1] if arn.startswith("arn:") else arn


# --------------------------------------------------------------------------------------------------
# Graph wiring and report

_EVALUATORS: weakref.WeakKeyDictionary[PermissionGraph, Evaluator] = weakref.WeakKeyDictionary()


def evaluator(graph: PermissionGraph) -> Evaluator | None:
    """The graph's escalation evaluator (None when the rule set has no escalation pack)."""
    found = _EVALUATORS.get(graph)
    if found is None:
        pack = graph.model.rules.escalation
        if pack is None:
            return None
        found = Evaluator(graph, pack)
        _EVALUATORS[graph] = found
    return found


def for_audit(graph: PermissionGraph) -> None:
    """Have the graph's evaluator compute only what changes the graph, for an audit that reads nothing
    else: techniques that give nothing to follow (copies leaving the account, "exfiltrate") are not
    evaluated, fired instances are not recorded for a report (an audit of a large organisation would
    keep millions), and the data-side techniques are left out of ``edges``: the audit runs them with
    ``Evaluator.data_edges`` once it knows what each principal holds anyway."""
    ev = evaluator(graph)
    if ev is not None:
        ev.audit = True


def escalation_edges(
    graph: PermissionGraph, principal: Principal, skip: SkipGrant | None = None
) -> Iterable[Edge]:
    """The edge builder: escalate edges (and endgame access edges) of ``principal``."""
    ev = evaluator(graph)
    if ev is None:
        return ()
    return list(ev.edges(principal, skip))


def link_edges(graph: PermissionGraph, principal: Principal, floor: GrantFloor) -> list[Edge]:
    """Escalate edges to other principals (``Evaluator.link_edges``)."""
    ev = evaluator(graph)
    return [] if ev is None else list(ev.link_edges(principal, floor))


def search_data_edges(
    graph: PermissionGraph, principal: Principal, floor: GrantFloor, types: Collection[str] | None
) -> list[Edge]:
    """Access edges of the data-side techniques (``Evaluator.search_edges``)."""
    ev = evaluator(graph)
    return [] if ev is None else list(ev.search_edges(principal, floor, types))


def escalations(
    graph: PermissionGraph,
    routes: Mapping[str, Sequence[Edge]],
    used: Iterable[Sequence[Edge]] = (),
) -> list[Escalation]:
    """The techniques that fire for reached principals, with the path to each, for the report.

    ``routes`` maps each reached principal to the edges that reach it; ``used`` are the other paths the
    report shows (the grants'). Listed: every technique that fires for the key's own principal; the
    techniques that give another principal to the roles it can assume; and every escalation step the
    shown paths take (a chain's second escalation, a rewritten bucket policy that adds a level). Data-side
    techniques of assumable roles that add nothing to the shown paths, and the techniques of escalated
    principals, are left out: with broad roles they number in the thousands and bury the answer (the
    graph still has them). Principals reached through the administrator of their own account are left
    out too: once admin there, every technique is redundant.
    """
    ev = _EVALUATORS.get(graph)
    if ev is None:
        return []
    on_paths: set[tuple[str, str, str | None]] = set()
    for path in (*routes.values(), *used):
        on_paths.update((e.source, e.target, e.technique) for e in path if e.technique)
    out: list[Escalation] = []
    for arn, route in routes.items():
        admin_of = {
            e.target[len(ADMIN_NODE_PREFIX) :] for e in route if e.target.startswith(ADMIN_NODE_PREFIX)
        }
        if arn.startswith(ADMIN_NODE_PREFIX) or _account(arn) in admin_of:
            continue  # already administrator of that account
        first_order = not any(e.technique for e in route)
        for item in ev.fired.get(arn, ()):
            shown = (arn, item.target, item.technique.id) in on_paths
            data_side = item.technique.gain in ("access", "exfiltrate")
            if not (shown or not route or (first_order and not data_side)):
                continue
            steps = [path_step(e) for e in route]
            steps.append(
                PathStep(
                    from_=arn,
                    to=item.target,
                    kind=ACCESS if item.technique.gain == "access" else ESCALATE,
                    actions=item.technique.actions,
                    policy=item.policy,
                    statement=item.statement,
                    certainty=item.certainty,
                    conditions=item.conditions,
                    technique=item.technique.id,
                )
            )
            certainty = CONDITIONAL if any(s.certainty == CONDITIONAL for s in steps) else DEFINITE
            out.append(
                Escalation(
                    technique=item.technique.id,
                    from_=arn,
                    to=item.target,
                    certainty=certainty,
                    actions=item.technique.actions,
                    path=tuple(steps),
                    title=item.technique.title,
                    resource=item.resource,
                    role=item.role,
                    conditions=item.conditions,
                    checks=item.technique.check,
                )
            )
    out.sort(
        key=lambda e: (e.certainty != DEFINITE, len(e.path), e.technique, e.from_, e.to, e.resource or "")
    )
    unique: dict[tuple[str, str, str, str | None], Escalation] = {}
    for e in out:
        unique.setdefault((e.technique, e.from_, e.to, e.resource), e)  # the best path of each
    return list(unique.values())


def pack_summary(pack: EscalationPack) -> list[dict[str, Any]]:
    """id / title / actions per technique (the README table is checked against this)."""
    return [{"id": t.id, "title": t.title, "actions": list(t.actions)} for t in pack.techniques]


__all__ = [
    "ADMIN_NODE_PREFIX",
    "EscalationPack",
    "Evaluator",
    "Fired",
    "Step",
    "Technique",
    "admin_node",
    "escalation_edges",
    "escalations",
    "evaluator",
    "for_audit",
    "is_synthetic",
    "load_escalation",
    "parse_escalation",
]

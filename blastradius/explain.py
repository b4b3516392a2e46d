"""``blastradius explain``: why a dataset is reachable from a leaked key — or why it is not.

Reachable: the path ``analyze`` found (the same graph and search), and for each step every statement that
allows or denies its action, each condition with the context value it was evaluated against.
Not reachable: for each principal the key reaches, and each action of the asked level, the guard that
stopped it — no allow, an explicit deny, the permissions boundary, the resource or key policy, a
condition — straight from the engine's decision ("Policy evaluation logic").

Built on public pieces only: ``build_graph``/``AccountModel`` for principals, contexts and compiled
policies, ``reach`` for paths, ``policy.decide`` and ``Statement.evaluate`` for the evidence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from rich.tree import Tree

from blastradius.errors import PolicyError, UsageError
from blastradius.graph import (
    ACCESS,
    ASSUME,
    ESCALATE,
    AccountModel,
    Edge,
    PermissionGraph,
    Principal,
    build_graph,
    request_resources,
)
from blastradius.keys import parse_access_key_id
from blastradius.model import KMS_KEY, RCP, SCP, Dataset, Organization, OrgPolicy, Snapshot
from blastradius.policy import (
    Choice,
    Context,
    Decision,
    KeyState,
    Policy,
    Request,
    Tri,
    Verdict,
    decide,
    parse_policy,
    rcps_apply,
)
from blastradius.reach import Reach, reach
from blastradius.report import LEVELS, level_rank
from blastradius.rules import RuleSet, load_rules

__all__ = [
    "ClauseEvidence",
    "Explanation",
    "Guard",
    "StatementEvidence",
    "StepExplanation",
    "explain_dataset",
    "render_tree",
]

_TRI = {Tri.YES: "true", Tri.NO: "false", Tri.UNKNOWN: "unknown"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ClauseEvidence:
    """One condition clause, the request value it met, and its outcome."""

    operator: str
    key: str
    policy_values: tuple[str, ...]
    context_value: str  # the value(s), or "(absent)", "(attacker picks)", "(unknown)"
    result: str  # true | false | unknown
    describe: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "operator": self.operator,
            "key": self.key,
            "policy_values": list(self.policy_values),
            "context_value": self.context_value,
            "result": self.result,
            "describe": self.describe,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementEvidence:
    """A statement covering the action: in which layer, whether it applies, and its conditions."""

    layer: str
    policy: str
    statement: str
    effect: str
    applies: str  # true | false | unknown
    conditions: tuple[ClauseEvidence, ...] = ()
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "layer": self.layer,
            "policy": self.policy,
            "statement": self.statement,
            "effect": self.effect,
            "applies": self.applies,
            "conditions": [c.to_json() for c in self.conditions],
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StepExplanation:
    """One step of the path, re-decided by the engine with all its evidence."""

    source: str
    target: str
    kind: str
    action: str | None
    resource: str | None
    verdict: str | None
    explain: str
    certainty: str
    conditions: tuple[str, ...] = ()
    technique: str | None = None
    statements: tuple[StatementEvidence, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "from": self.source,
            "to": self.target,
            "kind": self.kind,
            "action": self.action,
            "resource": self.resource,
            "verdict": self.verdict,
            "certainty": self.certainty,
            "explain": self.explain,
            "conditions": list(self.conditions),
            "technique": self.technique,
            "statements": [s.to_json() for s in self.statements],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Guard:
    """What stopped one reachable principal from one action on the dataset."""

    principal: str
    actions: tuple[str, ...]
    guard: str  # no allow | explicit deny | permissions boundary | resource policy | key policy | ...
    verdict: str
    explain: str
    conditions: tuple[str, ...] = ()
    statements: tuple[StatementEvidence, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "principal": self.principal,
            "actions": list(self.actions),
            "guard": self.guard,
            "verdict": self.verdict,
            "explain": self.explain,
            "conditions": list(self.conditions),
            "statements": [s.to_json() for s in self.statements],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why a dataset is (or is not) reachable at a level from the key's principal."""

    key: str
    origin: str
    dataset: str
    dataset_name: str
    dataset_type: str
    level: str
    reachable: bool
    certainty: str | None
    levels_reached: tuple[str, ...]
    steps: tuple[StepExplanation, ...] = ()
    guards: tuple[Guard, ...] = ()
    principals: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """JSON form (``blastradius explain --format json``)."""
        return {
            "key": self.key,
            "origin": self.origin,
            "dataset": {"arn": self.dataset, "name": self.dataset_name, "type": self.dataset_type},
            "level": self.level,
            "reachable": self.reachable,
            "certainty": self.certainty,
            "levels_reached": list(self.levels_reached),
            "path": [s.to_json() for s in self.steps],
            "principals": list(self.principals),
            "guards": [g.to_json() for g in self.guards],
            "warnings": list(self.warnings),
        }


# ------------------------------------------------------------------------------------------ evidence


def _context_value(ctx: Context, key: str) -> str:
    found = ctx.lookup(key)
    if found is KeyState.ABSENT:
        return "(absent)"
    if found is KeyState.ATTACKER:
        return "(attacker picks)"
    if found is KeyState.UNKNOWN:
        return "(unknown)"
    if isinstance(found, Choice):
        return f"(attacker picks: {found.why})" if found.why else "(attacker picks one of several)"
    assert isinstance(found, tuple)
    return ", ".join(found) if found else "(empty)"


def statement_evidence(
    request: Request, layers: Sequence[tuple[str, Policy | None, bool]], *, has_boundary: bool
) -> tuple[StatementEvidence, ...]:
    """Every statement of the given (layer, policy, resource side) layers that covers the action."""
    out: list[StatementEvidence] = []
    ctx = request.context
    for layer, policy, resource_side in layers:
        if policy is None:
            continue
        for st in policy.statements_for(request.action):
            applicability = st.evaluate_matched(
                request, resource_side=resource_side, has_boundary=has_boundary
            )
            clauses = tuple(
                ClauseEvidence(
                    operator=c.operator,
                    key=c.key,
                    policy_values=c.values,
                    context_value=_context_value(ctx, c.key),
                    result=_TRI[c.evaluate(ctx, deny=st.is_deny)],
                    describe=c.describe(deny=st.is_deny),
                )
                for c in st.conditions
            )
            out.append(
                StatementEvidence(
                    layer=layer,
                    policy=st.ref.policy,
                    statement=st.ref.label(),
                    effect=st.effect,
                    applies=_TRI[applicability.state],
                    conditions=clauses,
                    reasons=applicability.reasons,
                )
            )
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Call:
    """One engine call as the graph makes it, kept with its request and layers for the evidence."""

    request: Request
    decision: Decision
    layers: tuple[tuple[str, Policy | None, bool], ...]
    has_boundary: bool

    def evidence(self) -> tuple[StatementEvidence, ...]:
        return statement_evidence(self.request, self.layers, has_boundary=self.has_boundary)


class _Org:
    """The organisation's SCP and RCP levels for an account, compiled once per explanation.

    "Policy evaluation logic": every level from the root to the account must allow, SCPs on the
    principal's account, RCPs on the resource's; ``Organization.levels`` leaves out the management
    account and policy types that are not enabled.
    """

    def __init__(self, organization: Organization | None) -> None:
        self._organization = organization
        self._compiled: dict[str, Policy | None] = {}
        self.warnings: list[str] = []

    def _policy(self, org_policy: OrgPolicy) -> Policy | None:
        if org_policy.policy_id not in self._compiled:
            kind = "SCP" if org_policy.type == SCP else "RCP"
            try:
                compiled: Policy | None = parse_policy(org_policy.document, name=f"{kind} {org_policy.name}")
            except PolicyError as e:
                self.warnings.append(f"skipped malformed {kind} {org_policy.name}: {e}")
                compiled = None
            self._compiled[org_policy.policy_id] = compiled
        return self._compiled[org_policy.policy_id]

    def levels(self, account_id: str, policy_type: str) -> tuple[tuple[Policy, ...], ...]:
        """Compiled levels, root first; empty when the type does not govern the account."""
        if self._organization is None or not account_id:
            return ()
        found = self._organization.levels(account_id, policy_type)
        if found is None:
            return ()
        return tuple(tuple(p for op in level if (p := self._policy(op)) is not None) for level in found)


def _call(
    model: AccountModel,
    org: _Org,
    principal: Principal,
    action: str,
    resource: str,
    *,
    account: str,
    tags: Mapping[str, str],
    resource_policy: Policy | None,
    resource_layer: str,
    required: bool,
    dataset: Dataset | None = None,
) -> _Call:
    request = Request(
        principal=principal.request_principal,
        action=action,
        resource=resource,
        resource_account=account,
        context=model.context(principal, tags, account, None, dataset),
    )
    scps = org.levels(principal.account_id, SCP)
    rcps = org.levels(account, RCP)
    decision = decide(
        request,
        identity_policies=principal.identity_policies,
        permissions_boundary=principal.boundary,
        resource_policy=resource_policy,
        resource_policy_required=required,
        scps=scps,
        rcps=rcps,
    )
    layers: list[tuple[str, Policy | None, bool]] = [
        ("identity", p, False) for p in principal.identity_policies
    ]
    layers.append(("permissions boundary", principal.boundary, False))
    layers.append((resource_layer, resource_policy, True))
    layers.extend((f"SCP level {i}", p, False) for i, level in enumerate(scps) for p in level)
    if rcps_apply(action):  # an RCP does not affect services it does not support (AWS Organizations RCPs)
        layers.extend((f"RCP level {i}", p, True) for i, level in enumerate(rcps) for p in level)
    return _Call(
        request=request, decision=decision, layers=tuple(layers), has_boundary=principal.boundary is not None
    )


def _rank(decision: Decision) -> int:
    return {Verdict.ALLOW: 3, Verdict.CONDITIONAL: 2, Verdict.IMPLICIT_DENY: 1, Verdict.EXPLICIT_DENY: 0}[
        decision.verdict
    ]


def _dataset_policy(model: AccountModel, dataset: Dataset) -> tuple[Policy | None, str]:
    kind = "key" if dataset.type == KMS_KEY else "resource"
    label = f"{kind} policy of {dataset.name}"
    # The same document the graph compiles (S3 ACL grants, RestrictPublicBuckets): the cache is by ARN.
    document = model.effective_policies.get(dataset.arn)
    return model.resource_policy(dataset.arn, document, label), f"{kind} policy"


def _dataset_calls(
    graph: PermissionGraph, org: _Org, principal: Principal, dataset: Dataset, action: str
) -> list[_Call]:
    """The engine calls the graph makes for ``action`` on ``dataset``, one per request ARN.

    For a KMS key the decision is the graph's own (``key_use``): AWS managed keys and KMS grants count
    there, as they do for the access edges; the statement evidence still comes from the key policy.
    """
    model = graph.model
    policy, layer = _dataset_policy(model, dataset)
    resources = request_resources(model, principal, dataset, action) or [dataset.arn]
    calls = [
        _call(
            model,
            org,
            principal,
            action,
            resource,
            account=dataset.account_id,
            tags=dataset.tags,
            resource_policy=policy,
            resource_layer=layer,
            required=dataset.type == KMS_KEY,
            dataset=dataset,
        )
        for resource in resources
    ]
    if dataset.type == KMS_KEY:
        used = graph.key_use(principal, dataset.arn, action)
        if used is not None:
            calls = [dataclasses.replace(c, decision=used) for c in calls]
    return calls


def _best(calls: Sequence[_Call]) -> _Call:
    return max(calls, key=lambda c: _rank(c.decision))


def guard_of(decision: Decision) -> str:
    """The kind of guard a non-allowing decision names (from the engine's explanation)."""
    if decision.verdict is Verdict.EXPLICIT_DENY:
        # decide() names the layer in parentheses: "... of policy P (permissions boundary) applies to ..."
        for name in (
            "SCP",
            "RCP",
            "permissions boundary",
            "session policy",
            "resource-based policy",
            "identity-based policy",
        ):
            if f"({name})" in decision.explain:
                return f"explicit deny in the {name}"
        return "explicit deny"
    if decision.verdict is Verdict.CONDITIONAL:
        return "condition"
    text = decision.explain
    for needle, guard in (
        ("no SCP", "SCP"),
        ("no RCP", "RCP"),
        ("KMS key policies must allow", "key or trust policy"),
        ("Key policies in AWS KMS", "key policy (delegates to IAM, which does not allow)"),
        ("Cross-account", "resource policy of the other account"),
        ("permissions boundary", "permissions boundary"),
        ("session policy", "session policy"),
    ):
        if needle in text:
            return guard
    return "no allow"


# --------------------------------------------------------------------------------------------- steps


def _explain_step(graph: PermissionGraph, org: _Org, edge: Edge) -> StepExplanation:
    model = graph.model
    principal = model.principal(edge.source)
    base: dict[str, Any] = {
        "source": edge.source,
        "target": edge.target,
        "kind": edge.kind,
        "certainty": edge.certainty,
        "conditions": edge.conditions,
        "technique": edge.technique,
    }
    action = edge.actions[0] if edge.actions else None
    if principal is None or action is None or edge.kind == ESCALATE:
        why = f"{edge.kind} via {edge.technique or ', '.join(edge.actions)}"
        if edge.policy:
            why += f" (policy {edge.policy}, statement {edge.statement})"
        return StepExplanation(action=action, resource=None, verdict=None, explain=why, **base)
    if edge.kind == ASSUME:
        target = model.principal(edge.target)
        role = model.roles.get(edge.target)
        call = _call(
            model,
            org,
            principal,
            action,
            edge.target,
            account=target.account_id if target else "",
            tags=role.tags if role else {},
            resource_policy=target.trust_policy if target else None,
            resource_layer="trust policy",
            required=True,
        )
        return StepExplanation(
            action=action,
            resource=edge.target,
            verdict=call.decision.verdict.value,
            explain=call.decision.explain,
            statements=call.evidence(),
            **base,
        )
    dataset = model.datasets[edge.target]
    call = _best(_dataset_calls(graph, org, principal, dataset, action))
    notes: list[str] = []
    if edge.kind == ACCESS and dataset.kms_key and edge.level is not None:
        via = model.via_service(dataset.type, dataset.kms_key)
        for kms_action in model.rules.datastores.kms_actions(dataset.type, edge.level):
            used = graph.key_use(principal, dataset.kms_key, kms_action, via)
            if used is None:
                notes.append(f"{kms_action} on {dataset.kms_key}: key not collected, so not checked")
            else:
                notes.append(f"{kms_action} on {dataset.kms_key}: {used.verdict.value} — {used.explain}")
    return StepExplanation(
        action=action,
        resource=call.request.resource,
        verdict=call.decision.verdict.value,
        explain=call.decision.explain,
        statements=call.evidence(),
        notes=tuple(notes),
        **base,
    )


def _guards(graph: PermissionGraph, org: _Org, result: Reach, dataset: Dataset, level: str) -> list[Guard]:
    model = graph.model
    actions = model.rules.datastores.actions_for(dataset.type, level)
    guards: list[Guard] = []
    for arn in sorted(result.principals, key=lambda a: (len(result.principals[a].edges), a)):
        principal = model.principal(arn)
        if principal is None:
            continue
        grouped: dict[tuple[str, str, tuple[str, ...]], list[tuple[str, _Call, Decision]]] = {}
        for action in actions:
            call = _best(_dataset_calls(graph, org, principal, dataset, action))
            decision = call.decision
            guard = guard_of(decision)
            if decision.allowed and dataset.kms_key:
                via = model.via_service(dataset.type, dataset.kms_key)
                for kms_action in model.rules.datastores.kms_actions(dataset.type, level):
                    used = graph.key_use(principal, dataset.kms_key, kms_action, via)
                    if used is not None and not used.allowed:
                        decision = used
                        guard = f"key policy of {dataset.kms_key} ({kms_action})"
                        break
            elif decision.allowed:
                guard = "allowed by the engine, but not on the path analyze kept (see analyze)"
            refs = tuple(ref.describe() for ref in decision.matched)
            grouped.setdefault((guard, decision.verdict.value, refs), []).append((action, call, decision))
        for (guard, verdict, _), members in grouped.items():
            first, shown = members[0][1], members[0][2]
            guards.append(
                Guard(
                    principal=arn,
                    actions=tuple(a for a, _, _ in members),
                    guard=guard,
                    verdict=verdict,
                    explain=shown.explain,
                    conditions=shown.conditions,
                    statements=first.evidence(),
                )
            )
    return guards


# ------------------------------------------------------------------------------------------ entry


def _find_dataset(model: AccountModel, wanted: str) -> Dataset:
    if wanted in model.datasets:
        return model.datasets[wanted]
    matches = [d for d in model.datasets.values() if d.name == wanted]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(
            f"--dataset {wanted!r} is neither the ARN nor the name of a dataset in the snapshot",
            hint="Use a dataset ARN as `analyze --format json` prints it.",
        )
    arns = ", ".join(sorted(d.arn for d in matches))
    raise UsageError(f"--dataset {wanted!r} names several datasets: {arns}", hint="Give the ARN.")


def _disagreements(steps: Sequence[StepExplanation]) -> list[str]:
    """Steps the graph kept that the full decision (with the organisation's SCPs and RCPs) denies."""
    return [
        f"step {s.source} → {s.target} ({s.action}) is {s.verdict} when every layer, including the "
        "organisation's SCPs and RCPs, is applied; the path above does not hold"
        for s in steps
        if s.verdict in (Verdict.IMPLICIT_DENY.value, Verdict.EXPLICIT_DENY.value)
    ]


def explain_dataset(
    snapshot: Snapshot,
    key_id: str,
    dataset: str,
    *,
    origin: str,
    level: str | None = None,
    rules: RuleSet | None = None,
    context_overrides: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> Explanation:
    """Explain the reach of ``dataset`` (ARN or name) from the key's owner ``origin`` (see
    ``api.explain``, which finds it); ``level`` defaults to the strongest level reached, or ``read``."""
    if level is not None and level not in LEVELS:
        raise UsageError(f"--level {level!r} is not one of {', '.join(LEVELS)}")
    rules = rules or load_rules()
    graph = build_graph(snapshot, rules, context_overrides=context_overrides, now=now)
    if graph.model.principal(origin) is None:
        raise UsageError(
            f"the key's owner {origin} is not in the snapshot", hint="Collect the owner's account."
        )
    target = _find_dataset(graph.model, dataset)
    result = reach(graph, origin)
    org = _Org(snapshot.organization)
    reached = result.grants.get(target.arn, {})
    levels_reached = tuple(sorted(reached, key=level_rank))
    chosen = level or (levels_reached[-1] if levels_reached else "read")
    route = reached.get(chosen)
    common: dict[str, Any] = {
        "key": parse_access_key_id(key_id).masked,
        "origin": origin,
        "dataset": target.arn,
        "dataset_name": target.name,
        "dataset_type": target.type,
        "level": chosen,
        "levels_reached": levels_reached,
        "principals": tuple(result.principals),
    }
    if route is not None:
        steps = tuple(_explain_step(graph, org, e) for e in route.edges)
        return Explanation(
            reachable=True,
            certainty=route.certainty,
            steps=steps,
            warnings=(*graph.model.warnings.items, *org.warnings, *_disagreements(steps)),
            **common,
        )
    guards = tuple(_guards(graph, org, result, target, chosen))
    return Explanation(
        reachable=False,
        certainty=None,
        guards=guards,
        warnings=(*graph.model.warnings.items, *org.warnings),
        **common,
    )


# ------------------------------------------------------------------------------------------ render

_VERDICT_STYLE = {
    "allow": "green",
    "conditional": "yellow",
    "implicit-deny": "red",
    "explicit-deny": "bold red",
}


def _statement_node(parent: Tree, ev: StatementEvidence) -> None:
    style = "green" if ev.effect == "Allow" else "red"
    applies = {"true": "applies", "false": "does not apply", "unknown": "may apply"}[ev.applies]
    node = parent.add(
        Text.assemble(
            (f"{ev.effect} ", style),
            f"{ev.layer}: {ev.policy} statement {ev.statement} — ",
            (applies, "bold"),
        )
    )
    for c in ev.conditions:
        shown = ", ".join(c.policy_values)
        node.add(Text(f"{c.operator} {c.key} [{shown}] vs request value {c.context_value} → {c.result}"))
    for reason in ev.reasons:
        node.add(Text(f"open: {reason}", style="yellow"))


def render_tree(explanation: Explanation) -> Tree:
    """A rich Tree: the path with its evidence, or, when unreachable, the guard per principal."""
    e = explanation
    state = (
        Text(f"reachable ({e.level}, {e.certainty})", style="bold green")
        if e.reachable
        else Text(f"not reachable at level {e.level}", style="bold red")
    )
    root = Tree(Text.assemble(f"{e.dataset_type} {e.dataset_name} from key {e.key} ({e.origin}): ", state))
    if e.levels_reached:
        root.add(Text(f"levels reached: {', '.join(e.levels_reached)}"))
    for step in e.steps:
        verdict = step.verdict or step.kind
        node = root.add(
            Text.assemble(
                f"{step.source} ─{step.kind} {step.action or step.technique or ''}→ {step.target}  ",
                (verdict, _VERDICT_STYLE.get(verdict, "")),
            )
        )
        if step.resource and step.resource != step.target:
            node.add(Text(f"evaluated on {step.resource}"))
        node.add(Text(step.explain, style="dim"))
        for ev in step.statements:
            _statement_node(node, ev)
        for cond in step.conditions:
            node.add(Text(f"condition: {cond}", style="yellow"))
        for note in step.notes:
            node.add(Text(note))
    if not e.reachable:
        by_principal: dict[str, Tree] = {}
        for g in e.guards:
            parent = by_principal.get(g.principal)
            if parent is None:
                parent = by_principal[g.principal] = root.add(Text(f"principal {g.principal}", style="bold"))
            node = parent.add(
                Text.assemble(
                    (g.guard, _VERDICT_STYLE.get(g.verdict, "")), f" — {', '.join(g.actions)}: {g.verdict}"
                )
            )
            node.add(Text(g.explain, style="dim"))
            for cond in g.conditions:
                node.add(Text(f"condition: {cond}", style="yellow"))
            for ev in g.statements:
                _statement_node(node, ev)
        if not e.guards:
            root.add(Text("no principal reachable by the key is in the snapshot"))
    for w in e.warnings:
        root.add(Text(f"warning: {w}", style="yellow"))
    return root

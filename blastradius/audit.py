"""Audit: every access key of the snapshot's account(s), ranked by blast radius, from one graph.

Analysing each key on its own would repeat the same work thousands of times (and a 10,000-principal
organisation would take hours). Instead:

1. **One principal graph.** Starting from the users that own access keys, every principal reachable over
   ``assume`` / ``escalate`` edges is found by expanding a graph without the ``access`` builder
   (``PermissionGraph(model, edge_builders=…)``, ``expand``). Nothing is computed for principals no key
   can reach.
2. **Strongly connected components** of that graph (``networkx.condensation``) are processed in reverse
   topological order; a component's reach is the OR of its members' own bitsets and its successors'
   reach. Each principal's own ``access`` edges are computed once (``expand`` of a graph with only the
   ``access`` builder), when its component's turn comes, and folded into bitsets over a dataset index
   (Python ints: bit *i* is dataset *i*), one per access level and certainty; grants its definite
   successors already hold definitely are skipped (``expand``'s ``skip``), since they could change
   nothing. The access computation of a principal is thus shared by every key that can reach it. A key
   then reads its user's component. Principals of one wave (components of equal height) are expanded
   in parallel worker processes (``jobs``).
3. **Certainty: definite wins.** The closure is computed twice: over every edge (what the key *may*
   reach), and over definite edges only with definite grants only (what it reaches *for sure*). A
   dataset level is definite when an all-definite path grants it, conditional otherwise. Without
   escalation this is exactly ``analyze``'s certainty (its search prefers definite paths); when
   escalation is involved ``analyze`` reports the certainty of the path with the fewest escalations,
   which may be conditional where an all-definite path through more escalations exists.

Reachable datasets and levels per key are exactly those of ``analyze_snapshot`` for that key (the tests
compare them on synthetic and scenario accounts).

*Admin reachable*: the key reaches a principal whose policies allow a set of unrelated administrative
actions on every resource (``ADMIN_PROBES``: it can change any permission of the account), or a node
that is not an IAM principal reached by an ``escalate`` edge (an "admin of account X" node).
*Escalation possible*: a reachable principal has an outgoing ``escalate`` edge.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from typing import Any

import networkx as nx

from blastradius.analyze import utc_now
from blastradius.classify import classify
from blastradius.escalation import evaluator, for_audit
from blastradius.graph import (
    _SEALED,
    ACCESS,
    ESCALATE,
    AccountModel,
    DatasetIndex,
    Edge,
    GrantFinder,
    GrantFloor,
    HeldGrants,
    KeyEffects,
    PermissionGraph,
    Principal,
    access_decisions,
    access_edges,
    bits,
    build_graph,
    dataset_key_effect,
    escalate_edges,
    mask_of,
)
from blastradius.jsonio import gc_paused
from blastradius.model import Snapshot, User
from blastradius.parallel import default_jobs
from blastradius.policy import Request, Verdict, decide
from blastradius.report import (
    CONDITIONAL,
    DEFINITE,
    LEVELS,
    SENSITIVITIES,
    Coverage,
    sensitivity_rank,
)
from blastradius.rules import RuleSet, load_rules

AUDIT_SCHEMA = "blastradius.audit/v1"

log = logging.getLogger(__name__)

# Actions that, all allowed on every resource, make a principal an administrator of its account: it can
# give any principal any permission (iam), run code (ec2, lambda) and open any bucket or key to anyone.
ADMIN_PROBES = (
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:CreateAccessKey",
    "ec2:RunInstances",
    "lambda:CreateFunction",
    "s3:PutBucketPolicy",
    "kms:PutKeyPolicy",
)

TOP_DATASETS = 5  # per key, the most sensitive reachable datasets listed by name
_LEVELS_STRONG_FIRST = tuple(reversed(LEVELS))
_SENSITIVITIES_STRONG_FIRST = tuple(reversed(SENSITIVITIES))


# -- the result ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SensitivityReach:
    """How many datasets of one sensitivity a key reaches, how surely, and at which levels."""

    sensitivity: str
    datasets: int
    definite: int
    levels: Mapping[str, int]  # level -> datasets granted at that level

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "datasets": self.datasets,
            "definite": self.definite,
            "levels": {level: self.levels.get(level, 0) for level in LEVELS},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TopDataset:
    """One of the most sensitive datasets a key reaches."""

    arn: str
    name: str
    type: str
    sensitivity: str
    access: tuple[str, ...]
    certainty: str

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "arn": self.arn,
            "name": self.name,
            "type": self.type,
            "sensitivity": self.sensitivity,
            "access": list(self.access),
            "certainty": self.certainty,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyAudit:
    """One access key: who owns it, how old and used it is, and what it could reach."""

    rank: int
    access_key_id: str
    account_id: str
    user_arn: str
    user_name: str
    status: str
    created: str | None
    age_days: int | None
    last_used: Mapping[str, str | None]
    last_used_days_ago: int | None
    datasets_reachable: int
    highest_sensitivity: str | None  # of the reachable datasets; None when none is reachable
    sensitivity: Mapping[str, SensitivityReach]
    principals_reachable: int  # other than the key's user
    admin_reachable: bool
    admin_certainty: str | None
    admin_principals: tuple[str, ...]
    escalation_possible: bool
    escalations: int  # escalate edges out of reachable principals
    top_datasets: tuple[TopDataset, ...]

    @property
    def active(self) -> bool:
        """An active key works now; an inactive one only after someone reactivates it."""
        return self.status == "Active"

    def to_json(self) -> dict[str, Any]:
        """Contract form (``blastradius.audit/v1`` ``keys[]``)."""
        return {
            "rank": self.rank,
            "access_key_id": self.access_key_id,
            "account_id": self.account_id,
            "user_arn": self.user_arn,
            "user_name": self.user_name,
            "status": self.status,
            "created": self.created,
            "age_days": self.age_days,
            "last_used": dict(self.last_used),
            "last_used_days_ago": self.last_used_days_ago,
            "datasets_reachable": self.datasets_reachable,
            "highest_sensitivity": self.highest_sensitivity,
            "sensitivity": {
                s: self.sensitivity[s].to_json() for s in _SENSITIVITIES_STRONG_FIRST if s in self.sensitivity
            },
            "principals_reachable": self.principals_reachable,
            "admin_reachable": self.admin_reachable,
            "admin_certainty": self.admin_certainty,
            "admin_principals": list(self.admin_principals),
            "escalation_possible": self.escalation_possible,
            "escalations": self.escalations,
            "top_datasets": [d.to_json() for d in self.top_datasets],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditStats:
    """How much work the audit did (for the benchmark and the curious)."""

    principals_expanded: int
    components: int
    access_edges: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "principals_expanded": self.principals_expanded,
            "components": self.components,
            "access_edges": self.access_edges,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditReport:
    """Every access key of the account(s), ranked by blast radius (``blastradius.audit/v1``)."""

    generated_at: str
    account_ids: tuple[str, ...]
    keys: tuple[KeyAudit, ...]
    users: int
    principals: int
    datasets: int
    coverage: Coverage
    stats: AuditStats | None = None
    schema: str = AUDIT_SCHEMA

    def to_json(self) -> dict[str, Any]:
        """The ``blastradius.audit/v1`` document (``stats`` left out: timings would break determinism)."""
        return {
            "schema": self.schema,
            "generated_at": self.generated_at,
            "account_ids": list(self.account_ids),
            "summary": {
                "keys": len(self.keys),
                "active_keys": sum(1 for k in self.keys if k.active),
                "users_with_keys": len({k.user_arn for k in self.keys}),
                "users": self.users,
                "principals": self.principals,
                "datasets": self.datasets,
                "keys_reaching": {
                    s: sum(1 for k in self.keys if k.sensitivity.get(s) and k.sensitivity[s].datasets)
                    for s in _SENSITIVITIES_STRONG_FIRST
                },
                "keys_reaching_admin": sum(1 for k in self.keys if k.admin_reachable),
            },
            "keys": [k.to_json() for k in self.keys],
            "coverage": self.coverage.to_json(),
        }


# -- bitsets ------------------------------------------------------------------------------------------

# Per node: one int per access level (LEVELS order) — the datasets granted at that level.
Bits = list[int]


def _or_into(levels: list[int], values: Sequence[int]) -> None:
    """``levels[i] |= values[i]`` for every level."""
    for slot, value in enumerate(values):
        if value:
            levels[slot] |= value


def _bits_of(value: int) -> Iterator[int]:
    """Indexes of the set bits of ``value``, lowest first."""
    while value:
        low = value & -value
        yield low.bit_length() - 1
        value ^= low


@dataclass(slots=True)
class _Own:
    """One node's own outgoing edges, folded: access bitsets and principal edges."""

    any_: Bits
    definite: Bits
    edges: list[tuple[str, bool, str]]  # (target, definite, kind)
    escalations: int = 0
    access_edges: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Closure:
    """What one node reaches: per-level dataset bitsets (any / definite) and principal bitsets."""

    any_: tuple[int, ...]
    definite: tuple[int, ...]
    principals: int  # node index bitset, any certainty
    definite_principals: int


@dataclass(slots=True)
class AuditGraph:
    """The folded principal graph of an account and the closures of the nodes asked for."""

    graph: PermissionGraph
    datasets: list[str]  # index -> ARN
    nodes: list[str]  # index -> node (principal or synthetic) ARN
    closures: dict[str, Closure]  # node -> closure, for the nodes asked for
    escalating: int  # node bitset: nodes with an outgoing escalate edge
    escalations: dict[str, int] = field(default_factory=dict)  # node -> escalate edges out of it
    access_edges: int = 0
    components: int = 0

    def dataset_levels(self, node: str) -> dict[str, dict[str, str]]:
        """Dataset ARN -> level -> certainty, as ``analyze`` would list them (for checks and tests)."""
        closure = self.closures[node]
        out: dict[str, dict[str, str]] = {}
        for level, any_, definite in zip(LEVELS, closure.any_, closure.definite, strict=True):
            for i in _bits_of(any_):
                out.setdefault(self.datasets[i], {})[level] = DEFINITE if definite >> i & 1 else CONDITIONAL
        return out

    def principals_of(self, value: int) -> list[str]:
        """The node ARNs of a node bitset."""
        return [self.nodes[i] for i in _bits_of(value)]


_LEVEL_AT = {level: i for i, level in enumerate(LEVELS)}


def _fold(
    graph: PermissionGraph, arn: str, index: Mapping[str, int], cover: Sequence[int] | None = None
) -> _Own:
    """Expand one node once and fold its edges; its networkx edges are dropped afterwards.

    An audit expands every reachable principal: keeping each access edge as a networkx edge (hundreds of
    millions in a large organisation) would not fit in memory, and the bitsets hold all the audit needs.
    ``cover``: per level, datasets the node surely reaches anyway (through a definite edge to a principal
    that definitely holds them): these grants are skipped, they could change nothing.
    """
    any_ = [0] * len(LEVELS)
    definite = [0] * len(LEVELS)
    own = _Own(any_=any_, definite=definite, edges=[])
    level_at = _LEVEL_AT
    skip = None
    if cover is not None and any(cover):

        def skip(dataset: str, level: str) -> bool:
            i = index.get(dataset)
            return i is not None and bool(cover[level_at[level]] >> i & 1)

    _fold_edges(own, graph.expand(arn, skip), index)
    if arn in graph.graph:
        graph.graph.remove_edges_from(list(graph.graph.out_edges(arn, keys=True)))
    return own


def _fold_links(graph: PermissionGraph, arn: str, index: Mapping[str, int]) -> _Own:
    """``_fold`` of a graph without the ``access`` builder, straight from its builders (no networkx edge
    to add and drop). Edges are deduplicated as the graph's multigraph does: one per (target, kind,
    level, technique), the last one built kept, in the order the graph lists them (by target)."""
    own = _Own(any_=[0] * len(LEVELS), definite=[0] * len(LEVELS), edges=[])
    principal = graph.model.principal(arn)
    if principal is None:
        return own
    built: dict[str, dict[tuple[str, str | None, str | None], Edge]] = {}
    for builder in graph.edge_builders:
        for edge in builder(graph, principal, None):
            built.setdefault(edge.target, {})[(edge.kind, edge.level, edge.technique)] = edge
    _fold_edges(own, (edge for by_key in built.values() for edge in by_key.values()), index)
    return own


def _fold_edges(own: _Own, edges: Iterable[Edge], index: Mapping[str, int]) -> None:
    """Fold edges into ``own``: access edges into its bitsets, the others into its edge list."""
    any_, definite, level_at = own.any_, own.definite, _LEVEL_AT
    for edge in edges:
        if edge.kind == ACCESS:
            i = index.get(edge.target)
            if i is None or edge.level is None:
                continue
            bit = 1 << i
            slot = level_at[edge.level]
            any_[slot] |= bit
            if edge.certainty == DEFINITE:
                definite[slot] |= bit
            own.access_edges += 1
            if edge.technique is not None:
                own.escalations += 1  # a data-side escalation (e.g. rewriting a bucket policy)
        else:
            own.edges.append((edge.target, edge.certainty == DEFINITE, edge.kind))
            if edge.kind == ESCALATE:
                own.escalations += 1


class _Place:
    """Where the datasets of one type sit in the audit's dataset index (ARN order): a type's datasets are
    one run of consecutive indexes when no other type's ARN sorts between them (each type has its own
    service prefix), so a mask over ``type_index`` maps to the audit's by one shift; otherwise bit by bit."""

    __slots__ = ("full", "kms", "offset", "positions")

    def __init__(self, index: DatasetIndex, audit_index: Mapping[str, int]) -> None:
        self.positions = tuple(audit_index[arn] for arn in index.arns)
        first = self.positions[0] if self.positions else 0
        contiguous = all(p == first + i for i, p in enumerate(self.positions))
        self.offset: int | None = first if contiguous else None
        self.full = (1 << len(self.positions)) - 1
        # Datasets encrypted with a KMS key: a grant on them also needs the key (``_access_edge``).
        self.kms = mask_of(i for i, d in enumerate(index.datasets) if d.kms_key)

    def to_audit(self, local: int) -> int:
        """A mask over the type's index as a mask over the audit's."""
        if self.offset is not None:
            return local << self.offset
        return mask_of(self.positions[i] for i in bits(local))

    def to_local(self, value: int) -> int:
        """The part of an audit mask over this type, as a mask over the type's index."""
        if self.offset is not None:
            return (value >> self.offset) & self.full
        return mask_of(i for i, p in enumerate(self.positions) if value >> p & 1)


def _places(model: AccountModel, audit_index: Mapping[str, int]) -> dict[str, _Place]:
    """``_Place`` of every dataset type the rule pack knows."""
    return {t: _Place(model.type_index(t), audit_index) for t in model.rules.datastores.types}


def _fold_access(
    graph: PermissionGraph, arn: str, places: Mapping[str, _Place], cover: Sequence[int] | None = None
) -> _Own:
    """``_fold`` of the ``access_edges`` builder alone, by bitsets: the same grants, without an ``Edge``
    per dataset.

    It follows ``graph.access_edges`` step by step (the tests compare the two principal by principal):
    the same candidates, the same bitset decisions (``_mask_decide``), and the same per-dataset engine
    calls for the rest. What differs is only what is produced: a definite bitset grant on a dataset
    without a KMS key is a definite edge (``_access_edge`` adds nothing to it), so those are OR-ed in
    whole; every other grant goes through ``_access_edge`` as before. Grants of ``cover`` (per level,
    datasets the node surely reaches anyway) are left out of the candidates, as a ``GrantFloor`` would.
    """
    any_ = [0] * len(LEVELS)
    definite = [0] * len(LEVELS)
    own = _Own(any_=any_, definite=definite, edges=[])
    principal = graph.model.principal(arn)
    if principal is None:
        return own
    held: HeldGrants | None = None
    if cover is not None and any(cover):

        def held(dataset_type: str, level: str) -> tuple[int, int]:
            assert cover is not None
            return places[dataset_type].to_local(cover[_LEVEL_AT[level]]), 0

    find = GrantFinder(graph, principal)
    key_effects: KeyEffects = {}
    for decisions in access_decisions(graph, principal, held, conditional=True):
        place = places[decisions.dataset_type]
        slot = _LEVEL_AT[decisions.level]
        sure = decisions.decided_mask
        plain = sure & ~place.kms  # definite, and no key to need: definite edges as they are
        if plain:
            granted = place.to_audit(plain)
            any_[slot] |= granted
            definite[slot] |= granted
            own.access_edges += plain.bit_count()
        maybe = decisions.conditional
        if maybe:
            # Conditional grants: conditional edges whatever the key adds, unless it seals the data.
            open_ = maybe & ~place.kms
            for pos in bits(maybe & place.kms):
                dataset = decisions.index.datasets[pos]
                effect = dataset_key_effect(graph, principal, dataset, decisions.level, key_effects)
                if effect is not _SEALED:
                    open_ |= 1 << pos
            any_[slot] |= place.to_audit(open_)
            own.access_edges += open_.bit_count()
        for pos in bits(decisions.slow | (sure & ~plain)):
            if sure >> pos & 1:
                certainty = DEFINITE  # decided by bitsets (no statement kept: nothing to report)
            else:
                found = find(decisions, pos)
                if found is None:
                    continue
                certainty = found[1]
            dataset = decisions.index.datasets[pos]
            if dataset.kms_key is not None:  # as ``_access_edge`` does, without building the edge
                effect = dataset_key_effect(graph, principal, dataset, decisions.level, key_effects)
                if effect is _SEALED:
                    continue
                if effect:
                    certainty = CONDITIONAL
            bit = place.to_audit(1 << pos)
            any_[slot] |= bit
            if certainty == DEFINITE:
                definite[slot] |= bit
            own.access_edges += 1
    return own


FoldBatch = Callable[[list[tuple[str, tuple[int, ...]]]], Iterable[tuple[str, _Own, list[str]]]]


def _keep(
    component: int,
    members: Iterable[str],
    result: tuple[list[int], int],
    wanted: set[str],
    waiting: Mapping[int, int],
    results: dict[int, tuple[list[int], int]],
    out: dict[str, tuple[tuple[int, ...], int]],
) -> None:
    """Hand a component's closure to the wanted members, and keep it while predecessors still need it."""
    for member in members:
        if member in wanted:
            out[member] = (tuple(result[0]), result[1])
    if waiting[component] > 0:
        results[component] = result


def _definite_pass(
    sure: nx.DiGraph,
    own: dict[str, _Own],
    node_index: Mapping[str, int],
    wanted: set[str],
    fold_access: FoldBatch,
    warn: Callable[[str], None],
) -> tuple[dict[str, tuple[tuple[int, ...], int]], int]:
    """The definite closures of the wanted nodes, computing every node's access edges on the way.

    Components of the definite-edge graph are processed in reverse topological order, in waves of equal
    height (a wave's components depend only on earlier waves, so a wave's principals are expanded
    together, in parallel when ``fold_access`` does so). What a component's successors definitely reach
    is known before its members are expanded and is passed as their ``cover``: grants it already holds
    are not computed again. Returns the closures and the number of components.
    """
    condensed = nx.condensation(sure)
    height: dict[int, int] = {}
    for component in reversed(list(nx.topological_sort(condensed))):
        height[component] = 1 + max((height[s] for s in condensed.successors(component)), default=-1)
    waves: dict[int, list[int]] = {}
    for component, h in height.items():
        waves.setdefault(h, []).append(component)
    waiting = {c: condensed.in_degree(c) for c in condensed.nodes}
    results: dict[int, tuple[list[int], int]] = {}
    out: dict[str, tuple[tuple[int, ...], int]] = {}
    for h in sorted(waves):
        covers: dict[int, tuple[list[int], int]] = {}
        tasks: list[tuple[str, tuple[int, ...]]] = []
        for component in sorted(waves[h]):
            levels = [0] * len(LEVELS)
            principals = 0
            for successor in condensed.successors(component):
                theirs, reached = results[successor]
                principals |= reached
                _or_into(levels, theirs)
            covers[component] = (levels, principals)
            members = sorted(condensed.nodes[component]["members"])
            tasks.extend((m, tuple(levels)) for m in members)
        log.debug("audit: access edges of wave %d (%d principals)", h, len(tasks))
        for arn, folded, warnings in fold_access(tasks):
            for warning in warnings:
                warn(warning)
            mine = own[arn]
            for slot in range(len(LEVELS)):
                mine.any_[slot] |= folded.any_[slot]
                mine.definite[slot] |= folded.definite[slot]
            mine.access_edges += folded.access_edges
            mine.escalations += folded.escalations
        for component in sorted(waves[h]):
            levels, principals = covers[component]
            members = condensed.nodes[component]["members"]
            for member in members:
                principals |= 1 << node_index[member]
                _or_into(levels, own[member].definite)
            for successor in condensed.successors(component):
                waiting[successor] -= 1
                if waiting[successor] == 0:
                    del results[successor]
            _keep(component, members, (levels, principals), wanted, waiting, results, out)
    return out, condensed.number_of_nodes()


def _closures(
    graph: nx.DiGraph,
    own: Mapping[str, _Own],
    node_index: Mapping[str, int],
    wanted: set[str],
    *,
    counts: list[int],
) -> dict[str, tuple[tuple[int, ...], int]]:
    """Per wanted node: (per-level dataset bitsets, principal bitset) of everything it may reach (any
    certainty). Components are processed in reverse topological order, each result freed once every
    predecessor has used it; ``counts`` receives the number of components."""
    condensed = nx.condensation(graph)
    counts.append(condensed.number_of_nodes())
    waiting = {c: condensed.in_degree(c) for c in condensed.nodes}
    results: dict[int, tuple[list[int], int]] = {}
    out: dict[str, tuple[tuple[int, ...], int]] = {}
    for component in reversed(list(nx.topological_sort(condensed))):
        levels = [0] * len(LEVELS)
        principals = 0
        members = condensed.nodes[component]["members"]
        for member in members:
            principals |= 1 << node_index[member]
            _or_into(levels, own[member].any_)
        for successor in condensed.successors(component):
            theirs, reached = results[successor]
            principals |= reached
            _or_into(levels, theirs)
            waiting[successor] -= 1
            if waiting[successor] == 0:
                del results[successor]
        _keep(component, members, (levels, principals), wanted, waiting, results, out)
    return out


# Below this many principals at one level of the search, forking workers costs more than it saves.
_MIN_PARALLEL = 32

# Set in the parent just before the worker processes fork, so that they inherit the compiled account:
# (graph of principal edges, graph of access edges, dataset index).
_WORKER_STATE: tuple[PermissionGraph, PermissionGraph, Mapping[str, int]] | None = None
# The audit index's place of each dataset type, when the access graph is ``access_edges`` alone (then
# ``_fold_access`` folds it by bitsets); None otherwise (``_fold`` of whatever its builders give).
_PLACES: dict[str, _Place] | None = None
# The audit index's place of each dataset type (for the data-side techniques' floors).
_DATA_PLACES: dict[str, _Place] = {}


def _fold_access_in_worker(task: tuple[str, tuple[int, ...]]) -> tuple[str, _Own, list[str]]:
    """``_fold`` of one principal's access edges (with its cover) in a worker process."""
    assert _WORKER_STATE is not None
    _, access, index = _WORKER_STATE
    arn, cover = task
    before = len(access.model.warnings.items)
    if _PLACES is not None:
        folded = _fold_access(access, arn, _PLACES, cover)
    else:
        folded = _fold(access, arn, index, cover)
    _fold_data_side(_WORKER_STATE, arn, cover, folded)
    return arn, folded, access.model.warnings.items[before:]


def _fold_data_side(
    state: tuple[PermissionGraph, PermissionGraph, Mapping[str, int]],
    arn: str,
    cover: Sequence[int],
    own: _Own,
) -> None:
    """Fold the data-side escalation edges of ``arn`` (rewriting a resource or key policy, a KMS grant…)
    into ``own``, its access edges folded already: a grant it holds definitely, or that ``cover`` says
    a successor surely holds, is left out (``Evaluator.data_edges``): an edge to it could change
    neither closure. What is left counts as an escalation of the node."""
    links, _, index = state
    if escalate_edges not in links.edge_builders:
        return  # an audit without escalation
    ev = evaluator(links)
    principal = links.model.principal(arn)
    if ev is None or principal is None or not ev.has_data_side:
        return
    masks: dict[tuple[str, str], int] = {}
    for dataset_type, place in _DATA_PLACES.items():
        for level, slot in _LEVEL_AT.items():
            masks[(dataset_type, level)] = place.to_local(own.definite[slot] | cover[slot])
    _fold_edges(own, ev.data_edges(principal, GrantFloor.of(links.model, masks)), index)


def _fold_links_in_worker(arn: str) -> tuple[str, _Own, list[str]]:
    """``_fold`` of one principal's principal edges (every builder but ``access``) in a worker process."""
    assert _WORKER_STATE is not None
    links, _, index = _WORKER_STATE
    before = len(links.model.warnings.items)
    folded = _fold_links(links, arn, index)
    return arn, folded, links.model.warnings.items[before:]


class _Folder:
    """Runs the folds, in forked worker processes once a batch is large enough.

    Escalation builders add the principals they give (an account's administrator, a principal without its
    boundary…) to the model of the process that ran them. So principal edges of snapshot principals may be
    folded in workers, but those of such added principals are folded here, once this process has added
    them too (``register``); and the workers for access edges are forked anew after every principal is
    known, so that they inherit all of them.
    """

    def __init__(
        self, links: PermissionGraph, access: PermissionGraph, index: Mapping[str, int], jobs: int
    ) -> None:
        self.state = (links, access, index)
        self.all_places = _places(access.model, index)
        self.places = self.all_places if tuple(access.edge_builders) == (access_edges,) else None
        self.jobs = jobs if jobs > 1 and sys.platform == "linux" else 1
        self._pool: Pool | None = None
        self._phase = ""

    def _map(
        self, phase: str, worker: Callable[[Any], tuple[str, _Own, list[str]]], tasks: list[Any]
    ) -> Iterable[tuple[str, _Own, list[str]]]:
        global _WORKER_STATE, _PLACES, _DATA_PLACES
        _WORKER_STATE, _PLACES, _DATA_PLACES = self.state, self.places, self.all_places
        if self._pool is not None and self._phase != phase:
            self.close()
            _WORKER_STATE, _PLACES, _DATA_PLACES = self.state, self.places, self.all_places
        if self.jobs > 1 and self._pool is None and len(tasks) >= _MIN_PARALLEL:
            self._pool = multiprocessing.get_context("fork").Pool(self.jobs)
            self._phase = phase
        if self._pool is None:
            return [worker(t) for t in tasks]
        chunk = max(1, min(32, len(tasks) // (self.jobs * 8)))
        return self._pool.imap_unordered(worker, tasks, chunksize=chunk)

    def links(self, arns: list[str]) -> list[tuple[str, _Own, list[str]]]:
        """Fold the principal edges of ``arns``: snapshot principals in workers, added ones here."""
        links, _, index = self.state
        model = links.model
        known = [a for a in arns if a in model.users or a in model.roles]
        added = [a for a in arns if not (a in model.users or a in model.roles)]
        out = list(self._map("links", _fold_links_in_worker, known))
        out.extend((arn, _fold_links(links, arn, index), []) for arn in added)
        return out

    def register(self, sources: Iterable[str]) -> None:
        """Run the principal-edge builders of ``sources`` here (their fold was done in a worker), so that
        the principals they add to the model exist in this process as well."""
        links, _, _ = self.state
        for arn in sources:
            links.expand(arn)
            if arn in links.graph:
                links.graph.remove_edges_from(list(links.graph.out_edges(arn, keys=True)))

    def access(self, tasks: list[tuple[str, tuple[int, ...]]]) -> Iterable[tuple[str, _Own, list[str]]]:
        """Fold the access edges of each (principal, cover)."""
        return self._map("access", _fold_access_in_worker, tasks)

    def close(self) -> None:
        """Stop the workers (if any were started)."""
        global _WORKER_STATE, _PLACES, _DATA_PLACES
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _WORKER_STATE, _PLACES, _DATA_PLACES = None, None, {}


def _expand_reachable(folder: _Folder, origins: list[str], warn: Callable[[str], None]) -> dict[str, _Own]:
    """Fold the principal edges of every node reachable from ``origins``, breadth first (each level of
    the search is one batch: principals are independent of one another once the account is compiled)."""
    links = folder.state[0]
    model = links.model
    own: dict[str, _Own] = {}
    frontier = list(dict.fromkeys(origins))
    while frontier:
        found: dict[str, None] = {}
        sources: dict[str, None] = {}  # of edges to principals added by a builder in a worker
        for arn, folded, warnings in folder.links(frontier):
            for warning in warnings:
                warn(warning)
            own[arn] = folded
            for target, _, _ in folded.edges:
                found.setdefault(target, None)
                if model.principal(target) is None and target not in model.datasets:
                    sources.setdefault(arn, None)
        folder.register(sources)
        frontier = sorted(t for t in found if t not in own)
        log.debug("audit: principal edges of %d principals, %d more found", len(own), len(frontier))
    return own


def _principal_graphs(
    own: Mapping[str, _Own], node_index: Mapping[str, int]
) -> tuple[nx.DiGraph, nx.DiGraph]:
    """The graph of every principal edge and that of the definite ones."""
    full = nx.DiGraph()
    sure = nx.DiGraph()
    full.add_nodes_from(node_index)
    sure.add_nodes_from(node_index)
    for arn, folded in own.items():
        for target, is_definite, _ in folded.edges:
            if target == arn:
                continue
            full.add_edge(arn, target)
            if is_definite:
                sure.add_edge(arn, target)
    return full, sure


def build_audit_graph(graph: PermissionGraph, origins: Iterable[str], *, jobs: int = 1) -> AuditGraph:
    """Expand everything reachable from ``origins`` once and compute each origin's closure.

    ``jobs``: processes for the expansion (see ``_Folder``); the result does not depend on it.
    """
    model = graph.model
    datasets = sorted(model.datasets)
    index = {arn: i for i, arn in enumerate(datasets)}
    origins = [o for o in dict.fromkeys(origins) if model.principal(o) is not None]
    # Two graphs over the one compiled account: principal edges first (to know the order), then access
    # edges in reverse topological order, each principal's grants its successors surely hold skipped.
    links = PermissionGraph(model, edge_builders=[b for b in graph.edge_builders if b is not access_edges])
    for_audit(links)
    access = PermissionGraph(model, edge_builders=[b for b in graph.edge_builders if b is access_edges])
    folder = _Folder(links, access, index, jobs)
    try:
        own = _expand_reachable(folder, origins, model.warnings.add)
        nodes = sorted(own)
        node_index = {arn: i for i, arn in enumerate(nodes)}
        full, sure = _principal_graphs(own, node_index)
        wanted = set(origins)
        sure_closures, _ = _definite_pass(sure, own, node_index, wanted, folder.access, model.warnings.add)
    finally:
        folder.close()
    escalating = mask_of(node_index[arn] for arn, f in own.items() if f.escalations)
    counts: list[int] = []
    any_closures = _closures(full, own, node_index, wanted, counts=counts)
    closures = {
        arn: Closure(
            any_=any_closures[arn][0],
            definite=sure_closures[arn][0],
            principals=any_closures[arn][1],
            definite_principals=sure_closures[arn][1],
        )
        for arn in origins
    }
    return AuditGraph(
        graph=graph,
        datasets=datasets,
        nodes=nodes,
        closures=closures,
        escalating=escalating,
        escalations={arn: f.escalations for arn, f in own.items() if f.escalations},
        access_edges=sum(f.access_edges for f in own.values()),
        components=counts[0],
    )


# -- admin -------------------------------------------------------------------------------------------


def _admin_verdict(graph: PermissionGraph, principal: Principal) -> str | None:
    """DEFINITE / CONDITIONAL when every ``ADMIN_PROBES`` action is allowed on ``*``; None otherwise."""
    certainty = DEFINITE
    context = graph.model.base_context(principal)
    for action in ADMIN_PROBES:
        decision = decide(
            Request(
                principal=principal.request_principal,
                action=action,
                resource="*",
                resource_account=principal.account_id,
                context=context,
            ),
            identity_policies=principal.identity_policies,
            permissions_boundary=principal.boundary,
        )
        if decision.verdict is Verdict.CONDITIONAL:
            certainty = CONDITIONAL
        elif decision.verdict is not Verdict.ALLOW:
            return None
    return certainty


def _admin_nodes(audit: AuditGraph) -> tuple[int, int]:
    """Node bitsets of administrators: (any certainty, definite)."""
    model = audit.graph.model
    any_, sure = 0, 0
    for i, arn in enumerate(audit.nodes):
        principal = model.principal(arn)
        if principal is None:
            if arn in model.datasets:
                continue
            # Reached by an escalate edge but no IAM principal: a synthetic "admin of account" node.
            any_ |= 1 << i
            sure |= 1 << i
            continue
        verdict = _admin_verdict(audit.graph, principal)
        if verdict is not None:
            any_ |= 1 << i
            if verdict == DEFINITE:
                sure |= 1 << i
    return any_, sure


# -- per key -------------------------------------------------------------------------------------------


def _days_between(earlier: str | None, now: dt.datetime) -> int | None:
    if not earlier:
        return None
    try:
        when = dt.datetime.fromisoformat(earlier.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0, (now - when).days)


@dataclass(frozen=True, slots=True)
class _Masks:
    """Dataset bitsets per sensitivity, and each dataset's classification."""

    by_sensitivity: dict[str, int]
    sensitivity_of: list[str]


def _masks(datasets: list[str], graph: PermissionGraph, rules: RuleSet) -> _Masks:
    by: dict[str, int] = dict.fromkeys(SENSITIVITIES, 0)
    labels: list[str] = []
    for i, arn in enumerate(datasets):
        label = classify(graph.model.datasets[arn], rules.sensitivity).sensitivity
        by[label] |= 1 << i
        labels.append(label)
    return _Masks(by_sensitivity=by, sensitivity_of=labels)


def _top_indexes(closure: Closure, masks: _Masks) -> list[int]:
    """Dataset indexes of the most sensitive datasets reached, in ``analyze``'s order: sensitivity,
    strongest level, definite before conditional (any level definite), then ARN (the index order)."""
    sure = 0
    for value in closure.definite:
        sure |= value
    found: list[int] = []
    for sensitivity in _SENSITIVITIES_STRONG_FIRST:
        if sensitivity == "none":
            break
        mask = masks.by_sensitivity[sensitivity]
        taken = 0
        for slot in reversed(range(len(LEVELS))):
            candidates = closure.any_[slot] & mask & ~taken
            taken |= candidates
            for group in (candidates & sure, candidates & ~sure):
                for i in _bits_of(group):
                    found.append(i)
                    if len(found) == TOP_DATASETS:
                        return found
    return found


def _top(audit: AuditGraph, closure: Closure, masks: _Masks) -> tuple[TopDataset, ...]:
    """The most sensitive datasets reached (at most ``TOP_DATASETS``), named."""
    model = audit.graph.model
    out: list[TopDataset] = []
    for i in _top_indexes(closure, masks):
        dataset = model.datasets[audit.datasets[i]]
        access = tuple(level for slot, level in enumerate(LEVELS) if closure.any_[slot] >> i & 1)
        sure = any(closure.definite[slot] >> i & 1 for slot in range(len(LEVELS)))
        out.append(
            TopDataset(
                arn=dataset.arn,
                name=dataset.name,
                type=dataset.type,
                sensitivity=masks.sensitivity_of[i],
                access=access,
                certainty=DEFINITE if sure else CONDITIONAL,
            )
        )
    return tuple(out)


def _key_audits(
    audit: AuditGraph, users: list[User], masks: _Masks, admins: tuple[int, int], now: dt.datetime
) -> list[KeyAudit]:
    out: list[KeyAudit] = []
    admin_any, admin_sure = admins
    for user in users:
        closure = audit.closures.get(user.arn)
        if closure is None:
            continue
        reached_any = 0
        reached_sure = 0
        for value in closure.any_:
            reached_any |= value
        for value in closure.definite:
            reached_sure |= value
        per: dict[str, SensitivityReach] = {}
        highest: str | None = None
        for sensitivity in SENSITIVITIES:
            mask = masks.by_sensitivity[sensitivity]
            count = (reached_any & mask).bit_count()
            if count and (highest is None or sensitivity_rank(sensitivity) > sensitivity_rank(highest)):
                highest = sensitivity
            per[sensitivity] = SensitivityReach(
                sensitivity=sensitivity,
                datasets=count,
                definite=(reached_sure & mask).bit_count(),
                levels={level: (closure.any_[slot] & mask).bit_count() for slot, level in enumerate(LEVELS)},
            )
        admin_hit = closure.principals & admin_any
        admin_certainty = None
        if admin_hit:
            admin_certainty = DEFINITE if closure.definite_principals & admin_sure else CONDITIONAL
        escalating = closure.principals & audit.escalating
        for key in user.access_keys:
            out.append(
                KeyAudit(
                    rank=0,
                    access_key_id=key.access_key_id,
                    account_id=_account_of(user.arn),
                    user_arn=user.arn,
                    user_name=user.name,
                    status=key.status,
                    created=key.created,
                    age_days=_days_between(key.created, now),
                    last_used={
                        "date": key.last_used_date,
                        "service": key.last_used_service,
                        "region": key.last_used_region,
                    },
                    last_used_days_ago=_days_between(key.last_used_date, now),
                    datasets_reachable=reached_any.bit_count(),
                    highest_sensitivity=highest,
                    sensitivity=per,
                    principals_reachable=closure.principals.bit_count() - 1,
                    admin_reachable=bool(admin_hit),
                    admin_certainty=admin_certainty,
                    admin_principals=tuple(audit.principals_of(admin_hit)[:TOP_DATASETS]),
                    escalation_possible=bool(escalating),
                    escalations=sum(audit.escalations.get(a, 0) for a in audit.principals_of(escalating)),
                    top_datasets=_top(audit, closure, masks),
                )
            )
    return out


def rank_key(k: KeyAudit) -> tuple[Any, ...]:
    """Ranking: admin reachable, then sensitive datasets (high, medium, low), escalation, total, active."""
    return (
        not k.admin_reachable,
        k.admin_certainty != DEFINITE,
        *(-k.sensitivity[s].datasets for s in ("high", "medium", "low")),
        not k.escalation_possible,
        -k.datasets_reachable,
        not k.active,
        k.access_key_id,
    )


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


@gc_paused()
def audit_snapshot(
    snapshot: Snapshot,
    *,
    rules: RuleSet | None = None,
    context_overrides: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    jobs: int | None = None,
    escalation: bool = True,
) -> AuditReport:
    """Rank every access key of the snapshot by blast radius, with one graph for all keys.

    ``jobs``: processes expanding principals (default: the CPUs available); the report does not depend on it.
    ``escalation``: include privilege-escalation techniques (escalate edges), as ``analyze`` does.
    """
    started = time.perf_counter()
    rules = rules or load_rules()
    now = now or utc_now()
    graph = build_graph(snapshot, rules, context_overrides=context_overrides, now=now, escalation=escalation)
    users = sorted((u for u in snapshot.users if u.access_keys), key=lambda u: u.arn)
    audit = build_audit_graph(graph, (u.arn for u in users), jobs=jobs or default_jobs())
    masks = _masks(audit.datasets, graph, rules)
    keys = _key_audits(audit, users, masks, _admin_nodes(audit), now)
    keys.sort(key=rank_key)
    ranked = tuple(dataclasses.replace(k, rank=i) for i, k in enumerate(keys, start=1))
    warnings = list(snapshot.warnings)
    # Sorted: with several processes the order in which principals were built (and warned about) varies.
    warnings.extend(sorted(graph.model.warnings.items))
    coverage = Coverage.of(snapshot, tuple(warnings))
    return AuditReport(
        generated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        account_ids=tuple(dict.fromkeys((snapshot.account_id, *snapshot.accounts))),
        keys=ranked,
        users=len(snapshot.users),
        principals=len(snapshot.users) + len(snapshot.roles),
        datasets=len(snapshot.datasets),
        coverage=coverage,
        stats=AuditStats(
            principals_expanded=len(audit.nodes),
            components=audit.components,
            access_edges=audit.access_edges,
            seconds=time.perf_counter() - started,
        ),
    )


def fails(report: AuditReport, threshold: str) -> bool:
    """Whether an *active* key reaches a dataset at or above ``threshold`` (``none``: never)."""
    if threshold == "none":
        return False
    rank = sensitivity_rank(threshold)
    return any(
        k.active and k.highest_sensitivity is not None and sensitivity_rank(k.highest_sensitivity) >= rank
        for k in report.keys
    )


__all__ = [
    "AUDIT_SCHEMA",
    "AuditGraph",
    "AuditReport",
    "KeyAudit",
    "audit_snapshot",
    "build_audit_graph",
    "fails",
]

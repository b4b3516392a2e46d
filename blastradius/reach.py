"""Reachability: from the key's principal, which principals and datasets can it get to, and how.

A best-first search over the lazily expanded permission graph. Paths are compared by
(escalations, conditional steps, hops): a path without escalation beats one with, a definite path beats
a conditional one, and then the shorter wins. Each dataset gets, per access level, the best such path
(its *grant*); certainty is the weakest link on that path.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from blastradius.escalation import Fired, evaluator
from blastradius.graph import ESCALATE, Edge, GrantFloor, PermissionGraph, Principal
from blastradius.report import CONDITIONAL, DEFINITE

Cost = tuple[int, int, int]
S = TypeVar("S")


def _edge_cost(edge: Edge) -> Cost:
    # An access edge that carries a technique (a rewritten bucket policy, a KMS grant) is an escalation too.
    escalates = edge.kind == ESCALATE or edge.technique is not None
    return (1 if escalates else 0, 1 if edge.certainty == CONDITIONAL else 0, 1)


def _add(a: Cost, b: Cost) -> Cost:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A path of edges from the origin, with its cost and certainty."""

    edges: tuple[Edge, ...]
    cost: Cost

    @property
    def certainty(self) -> str:
        """Definite only if every step is definite."""
        return CONDITIONAL if self.cost[1] else DEFINITE  # the cost counts the conditional steps

    @property
    def conditions(self) -> tuple[str, ...]:
        """Every unsettled condition along the path, in order, once each."""
        seen: dict[str, None] = {}
        for e in self.edges:
            for c in e.conditions:
                seen.setdefault(c, None)
        return tuple(seen)

    @property
    def via(self) -> str:
        """How the last principal was reached: origin, assume or escalate."""
        if not self.edges:
            return "origin"
        return ESCALATE if any(e.kind == ESCALATE for e in self.edges) else self.edges[-1].kind


# Alternative paths kept per dataset and level with ``all_paths`` (shortest paths multiply along chains).
MAX_PATHS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Reach:
    """Everything reachable from one origin principal."""

    origin: str
    principals: dict[str, Route]
    grants: dict[str, dict[str, Route]]  # dataset ARN -> level -> best route
    # With ``all_paths``: every last edge of equal best cost, into principals and into grants.
    principal_edges: dict[str, list[Edge]] = field(default_factory=dict)
    grant_edges: dict[str, dict[str, list[Edge]]] = field(default_factory=dict)

    def routes(self, dataset: str, level: str, limit: int = MAX_PATHS) -> list[tuple[Edge, ...]]:
        """Every distinct path of equal best cost granting ``level`` on ``dataset`` (at most ``limit``,
        the first one being ``grants[dataset][level]``). Only the best one unless searched with
        ``all_paths``."""
        best = self.grants.get(dataset, {}).get(level)
        if best is None:
            return []
        last = self.grant_edges.get(dataset, {}).get(level)
        if not last:
            return [best.edges]
        found: dict[tuple[Edge, ...], None] = {best.edges: None}
        memo: dict[str, list[tuple[Edge, ...]]] = {}
        for edge in last:
            for head in self._principal_routes(edge.source, limit, memo, set()):
                found.setdefault((*head, edge), None)
                if len(found) >= limit:
                    return list(found)
        return list(found)

    def _principal_routes(
        self, arn: str, limit: int, memo: dict[str, list[tuple[Edge, ...]]], visiting: set[str]
    ) -> list[tuple[Edge, ...]]:
        if arn in memo:
            return memo[arn]
        if arn == self.origin:
            return [()]
        edges = self.principal_edges.get(arn)
        if not edges or arn in visiting:
            route = self.principals.get(arn)
            return [route.edges] if route is not None else []
        visiting.add(arn)
        out: dict[tuple[Edge, ...], None] = {}
        route = self.principals.get(arn)
        if route is not None:
            out[route.edges] = None
        for edge in edges:
            for head in self._principal_routes(edge.source, limit, memo, visiting):
                out.setdefault((*head, edge), None)
                if len(out) >= limit:
                    break
            if len(out) >= limit:
                break
        visiting.discard(arn)
        memo[arn] = list(out)
        return memo[arn]


def reach(graph: PermissionGraph, origin: str, *, all_paths: bool = False, jobs: int = 1) -> Reach:
    """Best-first search from ``origin`` over assume/escalate edges, collecting access grants.

    Principals leave the queue in order of cost, so an access edge from the one being expanded costs at
    least its cost + (0, 0, 1) (the *floor*). A grant already held at the floor or less cannot be
    improved: it goes into a ``GrantFloor`` that the graph's edge builders skip by bitset. One held at
    most at cost + (0, 1, 1) can only be improved by a definite edge: the builders look only for those.

    Grants never change which principals are reached, nor how cheaply: the search runs in two passes,
    principals first (``PermissionGraph.link_edges``), then the grants of each principal in the order the
    first pass expanded them (``PermissionGraph.data_edges``), which is the order and the floors of a
    search in one pass. Floors are per dataset type, so the second pass may be split by type between
    ``jobs`` processes (``blastradius.parallel``); the result is the same.

    ``all_paths`` also keeps every last edge of equal best cost (``Reach.routes`` enumerates the paths);
    grants are then pruned only when held at a cost strictly below the floor, so ties are still seen.
    """
    found, parts = reach_shares(graph, origin, _grants_of, all_paths=all_paths, jobs=jobs)
    grants: dict[str, dict[str, Route]] = {}
    grant_edges: dict[str, dict[str, list[Edge]]] = {}
    for part, edges in parts:
        grants.update(part)
        grant_edges.update(edges)
    return dataclasses.replace(found, grants=grants, grant_edges=grant_edges)


def _grants_of(share: Reach) -> tuple[dict[str, dict[str, Route]], dict[str, dict[str, list[Edge]]]]:
    return share.grants, share.grant_edges


def reach_shares(
    graph: PermissionGraph,
    origin: str,
    summarize: Callable[[Reach], S],
    *,
    all_paths: bool = False,
    jobs: int = 1,
) -> tuple[Reach, list[S]]:
    """``reach``, each share of the second pass summarised where it was searched. Returns a ``Reach``
    of every principal (and no grant), and ``summarize`` of each share: a ``Reach`` with every principal
    and the grants of that share (one share, the whole search, when it is not split). A share searched in
    a forked process is summarised there and its summary pickled back: what the caller makes of the
    grants (a report's findings) is made in parallel too, and only that is sent.

    A split search forks as soon as the principals settled make enough work (``parallel.enough_work``):
    the children search the grants of the principals settled so far, and of each one settled later as
    this process settles it (with its final route, and the principal itself when escalation made it up),
    while this process finishes the first pass; then it searches its own share."""
    from blastradius import parallel  # it imports this module

    best: dict[str, Route] = {origin: Route(edges=(), cost=(0, 0, 0))}
    principal_edges: dict[str, list[Edge]] = {}
    settling = _settle(graph, origin, best, principal_edges, all_paths=all_paths)
    principals = Reach(origin=origin, principals=best, grants={}, principal_edges=principal_edges)

    def share_of(found: Found, grant_edges: dict[str, dict[str, list[Edge]]]) -> Reach:
        grants = {
            dataset: {
                level: Route(edges=(*best[edge.source].edges, edge), cost=cost)
                for level, (cost, edge) in levels.items()
            }
            for dataset, levels in found.items()
        }
        return dataclasses.replace(principals, grants=grants, grant_edges=grant_edges)

    shares = parallel.shares(graph.model, jobs) if not all_paths else None
    order: list[tuple[Cost, str]] = []
    if shares is not None:
        for settled in settling:
            order.append(settled)
            if parallel.enough_work(graph.model, len(order)):
                break
        else:
            shares = None  # the first pass ended first: too little work to split
    if shares is None:
        order.extend(settling)
        graph.prepare_data()
        return principals, [summarize(share_of(*data_pass(graph, origin, order, None, all_paths=all_paths)))]

    def coming() -> Iterator[Settled]:
        snapshot_principals = graph.model.users.keys() | graph.model.roles.keys()
        for cost, arn in settling:
            made_up = None if arn in snapshot_principals else graph.model.principal(arn)
            yield cost, arn, best[arn], made_up

    def received(entries: Iterable[Settled]) -> Iterator[tuple[Cost, str]]:
        for cost, arn, route, made_up in entries:
            best[arn] = route  # final (in a child, its route may have improved since the fork)
            if made_up is not None and graph.model.principal(arn) is None:
                graph.model.add_principal(made_up)
            yield cost, arn

    def share(types: Collection[str], entries: Iterable[Settled]) -> S:
        graph.prepare_data(types)
        found, _ = data_pass(graph, origin, received(entries), types, all_paths=False)
        return summarize(share_of(found, {}))

    found = [(cost, arn, best[arn], None) for cost, arn in order]
    journal, absorb = (lambda: _journal(graph)), (lambda x: _absorb(graph, x))
    return principals, parallel.run(shares, share, found, coming(), journal, absorb)


# A principal the first pass settled, as fed to a share of the second: its cost, ARN, final route, and
# the principal itself when escalation made it up (a forked process could not build it from the snapshot).
Settled = tuple[Cost, str, Route, Principal | None]


def _below(cost: Cost, limit: Cost, all_paths: bool) -> bool:
    return cost < limit if all_paths else cost <= limit


def _settle(
    graph: PermissionGraph,
    origin: str,
    best: dict[str, Route],
    principal_edges: dict[str, list[Edge]],
    *,
    all_paths: bool,
) -> Iterator[tuple[Cost, str]]:
    """The first pass, one principal at a time: each is given (cost, ARN) in order of expansion as it is
    settled (its route in ``best`` is then final), before it is expanded. ``best`` starts with the
    origin; ``principal_edges`` gets the equal-cost last edges with ``all_paths``."""
    done: set[str] = set()
    queue: list[tuple[Cost, str]] = [((0, 0, 0), origin)]
    floor: Cost = (0, 0, 0)
    carrier = GrantFloor(graph.model)  # gives the builders the origin and the principals held
    carrier.origin = origin

    def principal_settled(arn: str) -> bool:
        # Every edge costs at least (0, 0, 1): one into a principal held at the floor or less is no better.
        known = best.get(arn)
        return known is not None and _below(known.cost, floor, all_paths)

    carrier.principals = principal_settled
    while queue:
        cost, arn = heapq.heappop(queue)
        if arn in done:
            continue
        done.add(arn)
        yield cost, arn
        route = best[arn]
        floor = _add(cost, (0, 0, 1))
        for edge in graph.link_edges(arn, carrier):
            if edge.target in done:
                continue
            new_cost = _add(cost, _edge_cost(edge))
            known = best.get(edge.target)
            if known is None or new_cost < known.cost:
                best[edge.target] = Route(edges=(*route.edges, edge), cost=new_cost)
                heapq.heappush(queue, (new_cost, edge.target))
                if all_paths:
                    principal_edges[edge.target] = [edge]
            elif all_paths and new_cost == known.cost:
                principal_edges[edge.target].append(edge)


# One dataset's best grant per level, as the second pass finds it: (cost, the access edge, its source).
Found = dict[str, dict[str, tuple[Cost, Edge]]]


# What a data pass records besides its grants: the data-side techniques fired (per principal, for the
# report's escalations) and the build warnings.
Recorded = tuple[dict[str, list[Fired]], list[str]]


def _journal(graph: PermissionGraph) -> Callable[[], Recorded]:
    """Mark what is recorded now; the function returned gives what was recorded since."""
    ev = evaluator(graph)
    fired = {arn: len(items) for arn, items in ev.fired.items()} if ev is not None else {}
    warnings = len(graph.model.warnings.items)

    def since() -> Recorded:
        new: dict[str, list[Fired]] = {}
        if ev is not None:
            for arn, items in ev.fired.items():
                if len(items) > fired.get(arn, 0):
                    new[arn] = items[fired.get(arn, 0) :]
        return new, graph.model.warnings.items[warnings:]

    return since


def _absorb(graph: PermissionGraph, recorded: Recorded) -> None:
    """Record here what a data pass recorded in another process (``_journal``)."""
    fired, warnings = recorded
    ev = evaluator(graph)
    if ev is not None:
        for arn, items in fired.items():
            ev.fired.setdefault(arn, []).extend(items)
    for text in warnings:
        graph.model.warnings.add(text)


def data_pass(
    graph: PermissionGraph,
    origin: str,
    order: Iterable[tuple[Cost, str]],
    types: Collection[str] | None,
    *,
    all_paths: bool,
) -> tuple[Found, dict[str, dict[str, list[Edge]]]]:
    """The grants of the principals in ``order`` (the first pass's), on datasets of ``types`` (default:
    all), with the floors of a search in one pass (see ``reach``)."""
    grants: Found = {}
    settled = GrantFloor(graph.model)
    # Grants held through at most as many escalations as the principal being expanded: an escalation
    # edge from it costs one more, so it cannot improve them (see GrantFloor.escalated).
    escalated = settled.escalated = GrantFloor(graph.model)
    settled.origin = origin
    pending_escalated: list[tuple[int, str, str]] = []
    # (cost, dataset, level) of grants above the floor, and above the conditional floor
    pending: list[tuple[Cost, str, str]] = []
    pending_conditional: list[tuple[Cost, str, str]] = []
    grant_edges: dict[str, dict[str, list[Edge]]] = {}
    for cost, arn in order:
        floor = _add(cost, (0, 0, 1))
        conditional_floor = _add(cost, (0, 1, 1))
        while pending and _below(pending[0][0], floor, all_paths):
            _, dataset, level = heapq.heappop(pending)
            settled.add(dataset, level)
        while pending_conditional and _below(pending_conditional[0][0], conditional_floor, all_paths):
            _, dataset, level = heapq.heappop(pending_conditional)
            settled.add(dataset, level, definite_only=True)
        while pending_escalated and pending_escalated[0][0] <= cost[0]:
            _, dataset, level = heapq.heappop(pending_escalated)
            escalated.add(dataset, level)
        # An edge improves the grant held if it costs less; the grant is then settled (or waits in the
        # pending heaps until the floor rises to its cost), and held at its escalation count.
        for edge in graph.data_edges(arn, settled, types):
            target, granted = edge.target, edge.level
            assert granted is not None
            new_cost = _add(cost, _edge_cost(edge))
            levels = grants.get(target)
            if levels is None:
                levels = grants[target] = {}
            current = levels.get(granted)
            if current is None or new_cost < current[0]:
                levels[granted] = (new_cost, edge)
                if all_paths:
                    grant_edges.setdefault(target, {})[granted] = [edge]
                if new_cost[0] <= cost[0]:
                    escalated.add(target, granted)
                else:
                    heapq.heappush(pending_escalated, (new_cost[0], target, granted))
                if _below(new_cost, floor, all_paths):
                    settled.add(target, granted)
                else:
                    heapq.heappush(pending, (new_cost, target, granted))
                    heapq.heappush(pending_conditional, (new_cost, target, granted))
            elif all_paths and new_cost == current[0]:
                grant_edges[target][granted].append(edge)
    return grants, grant_edges

"""Reachability: from the key's principal, which principals and datasets can it get to, and how.

A best-first search over the lazily expanded permission graph. Paths are compared by
(escalations, conditional steps, hops): a path without escalation beats one with, a definite path beats
a conditional one, and then the shorter wins. Each dataset gets, per access level, the best such path
(its *grant*); certainty is the weakest link on that path.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from blastradius.graph import ACCESS, ESCALATE, Edge, GrantFloor, PermissionGraph
from blastradius.report import CONDITIONAL, DEFINITE

Cost = tuple[int, int, int]


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


def reach(graph: PermissionGraph, origin: str, *, all_paths: bool = False) -> Reach:
    """Best-first search from ``origin`` over assume/escalate edges, collecting access grants.

    Principals leave the queue in order of cost, so an access edge from the one being expanded costs at
    least its cost + (0, 0, 1) (the *floor*). A grant already held at the floor or less cannot be
    improved: it goes into a ``GrantFloor`` that the graph's edge builders skip by bitset. One held at
    most at cost + (0, 1, 1) can only be improved by a definite edge: the builders look only for those.

    ``all_paths`` also keeps every last edge of equal best cost (``Reach.routes`` enumerates the paths);
    grants are then pruned only when held at a cost strictly below the floor, so ties are still seen.
    """
    best: dict[str, Route] = {origin: Route(edges=(), cost=(0, 0, 0))}
    done: set[str] = set()
    queue: list[tuple[Cost, str]] = [((0, 0, 0), origin)]
    grants: dict[str, dict[str, Route]] = {}
    settled = GrantFloor(graph.model)
    # Grants held through at most as many escalations as the principal being expanded: an escalation
    # edge from it costs one more, so it cannot improve them (see GrantFloor.escalated).
    escalated = settled.escalated = GrantFloor(graph.model)
    settled.origin = origin
    pending_escalated: list[tuple[int, str, str]] = []
    # (cost, dataset, level) of grants above the floor, and above the conditional floor
    pending: list[tuple[Cost, str, str]] = []
    pending_conditional: list[tuple[Cost, str, str]] = []
    floor: Cost = (0, 0, 0)
    principal_edges: dict[str, list[Edge]] = {}
    grant_edges: dict[str, dict[str, list[Edge]]] = {}

    def below(cost: Cost, limit: Cost) -> bool:
        return cost < limit if all_paths else cost <= limit

    def principal_settled(arn: str) -> bool:
        # Every edge costs at least (0, 0, 1): one into a principal held at the floor or less is no better.
        known = best.get(arn)
        return known is not None and below(known.cost, floor)

    settled.principals = principal_settled

    while queue:
        cost, arn = heapq.heappop(queue)
        if arn in done:
            continue
        done.add(arn)
        route = best[arn]
        floor = _add(cost, (0, 0, 1))
        conditional_floor = _add(cost, (0, 1, 1))
        while pending and below(pending[0][0], floor):
            _, dataset, level = heapq.heappop(pending)
            settled.add(dataset, level)
        while pending_conditional and below(pending_conditional[0][0], conditional_floor):
            _, dataset, level = heapq.heappop(pending_conditional)
            settled.add(dataset, level, definite_only=True)
        while pending_escalated and pending_escalated[0][0] <= cost[0]:
            _, dataset, level = heapq.heappop(pending_escalated)
            escalated.add(dataset, level)
        for edge in graph.expand(arn, settled):
            new_cost = _add(cost, _edge_cost(edge))
            if edge.kind == ACCESS:
                assert edge.level is not None
                levels = grants.setdefault(edge.target, {})
                current = levels.get(edge.level)
                if current is None or new_cost < current.cost:
                    levels[edge.level] = Route(edges=(*route.edges, edge), cost=new_cost)
                    if all_paths:
                        grant_edges.setdefault(edge.target, {})[edge.level] = [edge]
                    if new_cost[0] <= cost[0]:
                        escalated.add(edge.target, edge.level)
                    else:
                        heapq.heappush(pending_escalated, (new_cost[0], edge.target, edge.level))
                    if below(new_cost, floor):
                        settled.add(edge.target, edge.level)
                    else:
                        heapq.heappush(pending, (new_cost, edge.target, edge.level))
                        heapq.heappush(pending_conditional, (new_cost, edge.target, edge.level))
                elif all_paths and new_cost == current.cost:
                    grant_edges[edge.target][edge.level].append(edge)
                continue
            if edge.target in done:
                continue
            known = best.get(edge.target)
            if known is None or new_cost < known.cost:
                best[edge.target] = Route(edges=(*route.edges, edge), cost=new_cost)
                heapq.heappush(queue, (new_cost, edge.target))
                if all_paths:
                    principal_edges[edge.target] = [edge]
            elif all_paths and new_cost == known.cost:
                principal_edges[edge.target].append(edge)
    return Reach(
        origin=origin,
        principals=best,
        grants=grants,
        principal_edges=principal_edges,
        grant_edges=grant_edges,
    )

"""Reachability: from the key's principal, which principals and datasets can it get to, and how.

A best-first search over the lazily expanded permission graph. Paths are compared by
(escalations, conditional steps, hops): a path without escalation beats one with, a definite path beats
a conditional one, and then the shorter wins. Each dataset gets, per access level, the best such path
(its *grant*); certainty is the weakest link on that path.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from blastradius.graph import ACCESS, ESCALATE, Edge, GrantFloor, PermissionGraph
from blastradius.report import CONDITIONAL, DEFINITE

Cost = tuple[int, int, int]


def _edge_cost(edge: Edge) -> Cost:
    return (1 if edge.kind == ESCALATE else 0, 1 if edge.certainty == CONDITIONAL else 0, 1)


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
        return CONDITIONAL if any(e.certainty == CONDITIONAL for e in self.edges) else DEFINITE

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Reach:
    """Everything reachable from one origin principal."""

    origin: str
    principals: dict[str, Route]
    grants: dict[str, dict[str, Route]]  # dataset ARN -> level -> best route


def reach(graph: PermissionGraph, origin: str) -> Reach:
    """Best-first search from ``origin`` over assume/escalate edges, collecting access grants.

    Principals leave the queue in order of cost, so an access edge from the one being expanded costs at
    least its cost + (0, 0, 1) (the *floor*). A grant already held at the floor or less cannot be
    improved: it goes into a ``GrantFloor`` that the graph's edge builders skip by bitset. One held at
    most at cost + (0, 1, 1) can only be improved by a definite edge: the builders look only for those.
    """
    best: dict[str, Route] = {origin: Route(edges=(), cost=(0, 0, 0))}
    done: set[str] = set()
    queue: list[tuple[Cost, str]] = [((0, 0, 0), origin)]
    grants: dict[str, dict[str, Route]] = {}
    settled = GrantFloor(graph.model)
    # (cost, dataset, level) of grants above the floor, and above the conditional floor
    pending: list[tuple[Cost, str, str]] = []
    pending_conditional: list[tuple[Cost, str, str]] = []
    floor: Cost = (0, 0, 0)

    while queue:
        cost, arn = heapq.heappop(queue)
        if arn in done:
            continue
        done.add(arn)
        route = best[arn]
        floor = _add(cost, (0, 0, 1))
        conditional_floor = _add(cost, (0, 1, 1))
        while pending and pending[0][0] <= floor:
            _, dataset, level = heapq.heappop(pending)
            settled.add(dataset, level)
        while pending_conditional and pending_conditional[0][0] <= conditional_floor:
            _, dataset, level = heapq.heappop(pending_conditional)
            settled.add(dataset, level, definite_only=True)
        for edge in graph.expand(arn, settled):
            new_cost = _add(cost, _edge_cost(edge))
            if edge.kind == ACCESS:
                assert edge.level is not None
                levels = grants.setdefault(edge.target, {})
                current = levels.get(edge.level)
                if current is None or new_cost < current.cost:
                    levels[edge.level] = Route(edges=(*route.edges, edge), cost=new_cost)
                    if new_cost <= floor:
                        settled.add(edge.target, edge.level)
                    else:
                        heapq.heappush(pending, (new_cost, edge.target, edge.level))
                        heapq.heappush(pending_conditional, (new_cost, edge.target, edge.level))
                continue
            if edge.target in done:
                continue
            known = best.get(edge.target)
            if known is None or new_cost < known.cost:
                best[edge.target] = Route(edges=(*route.edges, edge), cost=new_cost)
                heapq.heappush(queue, (new_cost, edge.target))
    return Reach(origin=origin, principals=best, grants=grants)

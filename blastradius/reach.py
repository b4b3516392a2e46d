"""Reachability: from the key's principal, which principals and datasets can it get to, and how.

A best-first search over the lazily expanded permission graph. Paths are compared by
(escalations, conditional steps, hops): a path without escalation beats one with, a definite path beats
a conditional one, and then the shorter wins. Each dataset gets, per access level, the best such path
(its *grant*); certainty is the weakest link on that path.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from blastradius.graph import ACCESS, ESCALATE, Edge, PermissionGraph
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
    """Best-first search from ``origin`` over assume/escalate edges, collecting access grants."""
    best: dict[str, Route] = {origin: Route(edges=(), cost=(0, 0, 0))}
    done: set[str] = set()
    queue: list[tuple[Cost, str]] = [((0, 0, 0), origin)]
    grants: dict[str, dict[str, Route]] = {}

    def settled(dataset: str, level: str) -> bool:
        # An access edge from the principal being expanded costs at least its own cost + (0, 0, 1);
        # a grant already held at that cost or less cannot be improved, so it is not evaluated again.
        # (Principals leave the queue in order of cost, so this prunes most grants found earlier.)
        found = grants.get(dataset, {}).get(level)
        return found is not None and found.cost <= floor

    while queue:
        cost, arn = heapq.heappop(queue)
        if arn in done:
            continue
        done.add(arn)
        route = best[arn]
        floor = _add(cost, (0, 0, 1))
        for edge in graph.expand(arn, settled):
            new_cost = _add(cost, _edge_cost(edge))
            if edge.kind == ACCESS:
                assert edge.level is not None
                levels = grants.setdefault(edge.target, {})
                current = levels.get(edge.level)
                if current is None or new_cost < current.cost:
                    levels[edge.level] = Route(edges=(*route.edges, edge), cost=new_cost)
                continue
            if edge.target in done:
                continue
            known = best.get(edge.target)
            if known is None or new_cost < known.cost:
                best[edge.target] = Route(edges=(*route.edges, edge), cost=new_cost)
                heapq.heappush(queue, (new_cost, edge.target))
    return Reach(origin=origin, principals=best, grants=grants)

"""An analysis leaves nothing of its graph behind: a host that analyses many keys (an audit, a service
calling ``api.analyze``) must not keep every graph it ever built.

The escalation evaluator of a graph is kept in a weak mapping keyed by the graph; a strong reference
from the evaluator back to its graph kept the key, so the entry, alive for the life of the process.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from test_identity_only_policies import KEY, NOW
from test_lazy_work import role, snapshot, user

from blastradius import analyze as analyze_module
from blastradius import escalation
from blastradius.analyze import analyze_snapshot
from blastradius.graph import PermissionGraph, build_graph
from blastradius.rules import load_rules


def _paused_collector() -> Any:
    was = gc.isenabled()
    gc.disable()
    return was


def test_a_graph_with_an_evaluator_is_freed_by_reference_counting() -> None:
    graph = build_graph(snapshot((user(),)), load_rules(), now=NOW)
    assert escalation.evaluator(graph) is not None
    freed = weakref.ref(graph)
    was = _paused_collector()  # no cycle collection: the graph must go when its last reference does
    try:
        del graph
        assert freed() is None
    finally:
        if was:
            gc.enable()


def test_an_analysis_does_not_keep_its_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[weakref.ref[PermissionGraph]] = []
    original = analyze_module.build_graph

    def remember(*args: Any, **kwargs: Any) -> PermissionGraph:
        graph = original(*args, **kwargs)
        built.append(weakref.ref(graph))
        return graph

    monkeypatch.setattr(analyze_module, "build_graph", remember)
    account = snapshot(
        (user({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),),
        (role("ops", {"Effect": "Allow", "Action": "*", "Resource": "*"}),),
    )
    was = _paused_collector()
    try:
        report = analyze_snapshot(account, KEY, now=NOW, jobs=1)
        assert report.principals  # the analysis did reach something (and used the evaluator)
        assert built and built[0]() is None
    finally:
        if was:
            gc.enable()

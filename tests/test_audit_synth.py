"""The audit's one-graph closure equals ``analyze`` key by key, on synthetic organisations.

Synthetic accounts (benchmarks/synth.py: shared managed policies, wildcards, NotAction, denies,
boundaries, ABAC conditions, role chains, resource and key policies, grants) are audited once; for a
sample of keys, the datasets, levels and certainties the audit computed for the key's user must be
exactly those of ``analyze_snapshot`` for that key. Escalate edges (another stage adds them) are
exercised with a stand-in edge builder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib.util
import os
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from blastradius import audit as audit_module
from blastradius.analyze import analyze_snapshot
from blastradius.audit import TOP_DATASETS, _masks, _top, audit_snapshot, build_audit_graph
from blastradius.graph import (
    ESCALATE,
    AccountModel,
    Edge,
    EdgeBuilder,
    PermissionGraph,
    Principal,
    SkipGrant,
    access_edges,
    assume_edges,
    build_graph,
)
from blastradius.model import Snapshot, User
from blastradius.policy import parse_policy
from blastradius.render.audit import render_audit
from blastradius.report import DEFINITE, DatasetFinding, Report
from blastradius.rules import load_rules

SYNTH = Path(__file__).resolve().parent.parent / "benchmarks" / "synth.py"
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def _synth() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_synth_audit", SYNTH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _snapshot(seed: int) -> Snapshot:
    snapshot: Snapshot = _synth().generate(principals=120, datasets=1200, policies=20, seed=seed).snapshot
    return snapshot


@pytest.mark.parametrize("seed", [3, 11])
def test_audit_reach_equals_analyze_on_synthetic_accounts(seed: int) -> None:
    snapshot = _snapshot(seed)
    users = [u for u in snapshot.users if u.access_keys]
    # Without escalation the audit's "definite wins" certainty is exactly analyze's (with escalation, analyze
    # reports the certainty of its fewest-escalation path instead; see audit.py).
    audit = build_audit_graph(
        build_graph(snapshot, load_rules(), now=NOW, escalation=False), [u.arn for u in users]
    )
    sample = random.Random(seed).sample(users, 12)
    masks = _masks(audit.datasets, audit.graph, load_rules())
    reached = 0
    for user in sample:
        report = analyze_snapshot(snapshot, _key_of(user), now=NOW, escalation=False)
        expected = {d.arn: {g.level: g.certainty for g in d.grants} for d in _reach(report)}
        assert audit.dataset_levels(user.arn) == expected, user.arn
        principals = {p.arn for p in report.principals}
        closure = audit.closures[user.arn]
        # The key's most sensitive datasets come in analyze's order (ties on the name aside).
        ranked = [
            (d.sensitivity, d.strongest, d.certainty) for d in _reach(report) if d.sensitivity != "none"
        ]
        top = [(t.sensitivity, t.access[-1], t.certainty) for t in _top(audit, closure, masks)]
        assert top == ranked[: len(top)] and len(top) == min(TOP_DATASETS, len(ranked))
        if report.key.status != "Inactive":  # an inactive key's report lists only its owner as reached
            assert set(audit.principals_of(closure.principals)) == principals
        reached += len(expected)
    assert reached > 100  # the comparison is not vacuous


# Where the worker stand-ins below record which process folded which principal (set before the fork).
_TASK_LOG: Path | None = None


def _logged(phase: str, worker: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``worker`` that also appends "phase pid principal" to ``_TASK_LOG``. Takes ``worker``'s module and
    name, so that the pool pickles it by that name, which the monkeypatched module then resolves to this."""

    @functools.wraps(worker)
    def logged(task: Any) -> Any:
        result = worker(task)
        assert _TASK_LOG is not None
        with _TASK_LOG.open("a", encoding="utf-8") as fh:  # one short append per line: atomic enough
            fh.write(f"{phase} {os.getpid()} {result[0]}\n")
        return result

    return logged


def test_one_process_and_two_give_the_same_audit_json_and_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole ``audit --format json`` document, and the work counters, are the same whether one process
    expands the principals or two worker processes share them and the parent merges their results: a
    result lost or merged twice changes a key's reach, its rank or the counters. Only ``stats.seconds``
    (a timing) may differ. The account is large enough for both phases (principal edges, access edges) to
    be handed to the workers (``_MIN_PARALLEL``), and the log shows that both workers did part of each."""
    global _TASK_LOG
    snapshot = _snapshot(5)
    serial = audit_snapshot(snapshot, now=NOW, jobs=1)

    _TASK_LOG = tmp_path / "tasks.log"
    _TASK_LOG.touch()
    monkeypatch.setattr(
        audit_module, "_fold_links_in_worker", _logged("links", audit_module._fold_links_in_worker)
    )
    monkeypatch.setattr(
        audit_module, "_fold_access_in_worker", _logged("access", audit_module._fold_access_in_worker)
    )
    try:
        parallel = audit_snapshot(snapshot, now=NOW, jobs=2)
    finally:
        _TASK_LOG = None

    assert render_audit(parallel, "json") == render_audit(serial, "json")
    assert serial.stats is not None and parallel.stats is not None
    assert dataclasses.replace(parallel.stats, seconds=0) == dataclasses.replace(serial.stats, seconds=0)

    tasks = [line.split() for line in (tmp_path / "tasks.log").read_text(encoding="utf-8").splitlines()]
    for phase in ("links", "access"):
        pids = [int(pid) for p, pid, _ in tasks if p == phase]
        assert os.getpid() not in pids  # folded in worker processes, not here
        assert len(set(pids)) == 2 and min(pids.count(p) for p in set(pids)) > 1, (phase, pids)
    folded = [arn for p, _, arn in tasks if p == "links"]
    assert len(folded) == len(set(folded)) == serial.stats.principals_expanded  # each once, in a worker
    document = serial.to_json()
    assert document["summary"]["keys"] > 40 and document["summary"]["keys_reaching"]["high"] > 10


# -- escalate edges (added by the escalation stage; a stand-in here) -----------------------------------

ADMIN_NODE = "arn:aws:iam::{account}:synthetic/admin"


def _escalations(targets: dict[str, str]) -> EdgeBuilder:
    """An edge builder giving each principal in ``targets`` one escalate edge to its target."""

    def build(graph: PermissionGraph, principal: Principal, skip: SkipGrant | None = None) -> Iterator[Edge]:
        del graph, skip
        if principal.arn in targets:
            yield Edge(
                source=principal.arn,
                target=targets[principal.arn],
                kind=ESCALATE,
                certainty=DEFINITE,
                actions=("iam:CreatePolicyVersion",),
                policy=None,
                statement=None,
                technique="iam:CreatePolicyVersion",
            )

    return build


def test_escalate_edges_count_and_extend_reach() -> None:
    """A user that escalates to a role reaches the role's datasets; one that escalates to a synthetic
    "admin of the account" node has admin reachable; both count as escalation possible."""
    snapshot = _snapshot(3)
    users = sorted((u for u in snapshot.users if u.access_keys), key=lambda u: u.arn)
    plain = build_audit_graph(build_graph(snapshot, load_rules(), now=NOW), [u.arn for u in users])
    # The narrowest user escalates into the role whose own reach is widest.
    by_reach = sorted(users, key=lambda u: sum(v.bit_count() for v in plain.closures[u.arn].any_))
    low, other = by_reach[0], by_reach[1]
    roles = build_audit_graph(build_graph(snapshot, load_rules(), now=NOW), [r.arn for r in snapshot.roles])
    already = set(plain.principals_of(plain.closures[low.arn].principals))
    role = max(
        (r.arn for r in snapshot.roles if r.arn not in already),
        key=lambda r: sum(v.bit_count() for v in roles.closures[r].any_),
    )
    admin = ADMIN_NODE.format(account=snapshot.account_id)
    builders = (assume_edges, access_edges, _escalations({low.arn: role, other.arn: admin}))
    graph = PermissionGraph(AccountModel(snapshot, load_rules(), now=NOW), edge_builders=builders)
    audit = build_audit_graph(graph, [u.arn for u in users])

    before = plain.dataset_levels(low.arn)
    after = audit.dataset_levels(low.arn)
    assert set(before) < set(after)  # the role's datasets were added
    assert role in audit.principals_of(audit.closures[low.arn].principals)
    assert audit.escalations == {low.arn: 1, other.arn: 1}
    assert audit.closures[other.arn].principals & (1 << audit.nodes.index(admin))

    from blastradius.audit import _admin_nodes

    admin_any, _ = _admin_nodes(audit)
    assert admin_any >> audit.nodes.index(admin) & 1


def _key_of(user: User) -> str:
    """An active key of the user when it has one (an inactive key's reach is what it would regain)."""
    active = [k for k in user.access_keys if k.status == "Active"]
    return (active or list(user.access_keys))[0].access_key_id


def _reach(report: Report) -> tuple[DatasetFinding, ...]:
    """What the key's user reaches: for an inactive key, what it would reach again if re-activated."""
    return report.datasets or tuple(getattr(report, "if_reactivated", ()))


def _registering_escalation(sources: set[str], node: str) -> EdgeBuilder:
    """Like the escalation stage: the builder adds the administrator it gives to the model (a principal
    with ``Allow *:*``), then emits an escalate edge to it."""

    def build(graph: PermissionGraph, principal: Principal, skip: SkipGrant | None = None) -> Iterator[Edge]:
        del skip
        if principal.arn not in sources:
            return
        model = graph.model
        if model.principal(node) is None:
            admin = parse_policy({"Version": "2012-10-17", "Statement": [ADMIN_STATEMENT]}, name="admin")
            rp = dataclasses.replace(principal.request_principal, arn=node)
            model._principals.setdefault(  # what AccountModel.add_principal does
                node,
                dataclasses.replace(
                    principal, arn=node, identity_policies=(admin,), boundary=None, request_principal=rp
                ),
            )
        yield Edge(
            source=principal.arn,
            target=node,
            kind=ESCALATE,
            certainty=DEFINITE,
            actions=("iam:AttachUserPolicy",),
            policy=None,
            statement=None,
            technique="iam:AttachUserPolicy",
        )

    return build


ADMIN_STATEMENT = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def test_principals_added_by_a_builder_are_expanded_in_every_process() -> None:
    """A synthetic administrator registered by the escalation builder (in whichever process ran it) is
    expanded with its access edges, with one process or several: the escalating users reach what an
    administrator does."""
    snapshot = _snapshot(11)
    users = sorted((u for u in snapshot.users if u.access_keys), key=lambda u: u.arn)
    node = f"account-admin:{snapshot.account_id}"
    escalating = {users[0].arn}  # one: the other worker process never runs the builder that adds the admin
    reach = []
    for jobs in (1, 2):
        builders = (assume_edges, access_edges, _registering_escalation(escalating, node))
        graph = PermissionGraph(AccountModel(snapshot, load_rules(), now=NOW), edge_builders=builders)
        audit = build_audit_graph(graph, [u.arn for u in users], jobs=jobs)
        assert node in audit.nodes
        assert audit.escalations == {users[0].arn: 1}
        reach.append({u.arn: audit.dataset_levels(u.arn) for u in users})
    assert reach[0] == reach[1]
    assert len(reach[1][users[0].arn]) > len(snapshot.datasets) // 2  # an administrator reads most data

"""A single-key search in two passes, its second split by dataset type between forked processes.

Grants never change which principals a key reaches: ``reach`` finds the principals first, then the grants
of each in the order the first pass expanded them, which gives the floors of a search in one pass. Floors
are per dataset type, so the second pass may run in several processes (``blastradius.parallel``). The
report must be the same whatever the split: grants, paths, escalations (data-side techniques fired in a
child), warnings (a malformed policy), and when a child fails, its share is computed again in the parent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pickle
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_audit_synth import _synth
from test_escalation_paths import KEY, A, bucket, chain_account, doc

from blastradius import parallel
from blastradius.analyze import analyze_snapshot
from blastradius.graph import ACCESS, Edge, PermissionGraph, access_edges, build_graph
from blastradius.jsonio import dumps
from blastradius.model import KMS_KEY, Dataset, Snapshot
from blastradius.reach import Reach, reach, reach_shares
from blastradius.rules import load_rules

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def account() -> tuple[Snapshot, list[str]]:
    generated = _synth().generate(principals=150, datasets=1500, policies=20, seed=5)
    snapshot: Snapshot = generated.snapshot
    # A bucket policy and a secret's policy malformed, each prepared where its type is searched: their
    # warnings must come out the same however the search is split.
    broken = {}
    for dataset_type in ("s3-bucket", "secretsmanager-secret"):
        first = next(d for d in snapshot.datasets if d.type == dataset_type)
        broken[first.arn] = dataclasses.replace(first, resource_policy={"Statement": [{"Effect": "Maybe"}]})
    datasets = tuple(broken.get(d.arn, d) for d in snapshot.datasets)
    # A broad key, and one whose paths go through data-side escalations (a rewritten key policy).
    return dataclasses.replace(snapshot, datasets=datasets), [generated.broad_keys[0], ESCALATING_KEY]


# A key of the seed-5 synthetic account that reaches 25 principals, with rewritten KMS key policies on
# its paths (if benchmarks/synth.py changes, pick another such key).
ESCALATING_KEY = "AKIARTXV5AHD5ZX3MBT3"


def _report(snapshot: Snapshot, key: str, jobs: int) -> str:
    report = analyze_snapshot(snapshot, key, now=NOW, jobs=jobs).to_json()
    report.pop("generated_at", None)
    return dumps(report)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Split every search (no minimum of work), and count the children forked. The test runner's own
    threads (pytest-xdist) are not ours to worry about: the children here only compute and exit."""
    monkeypatch.setattr(parallel, "MIN_SEARCH_WORK", 0)
    monkeypatch.setattr(parallel, "can_fork", lambda: sys.platform == "linux")
    children: list[int] = []
    fork = os.fork

    def counted() -> int:
        pid = fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    yield children


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
@pytest.mark.parametrize("child", ["default split", "kms-key", "s3-bucket"])
def test_a_search_split_between_processes_gives_the_report_of_one(
    account: tuple[Snapshot, list[str]], forks: list[int], monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    snapshot, keys = account
    if child != "default split":  # this type in the child, the others here
        others = tuple(sorted({d.type for d in snapshot.datasets} - {child}))
        monkeypatch.setattr(parallel, "shares", lambda _m, jobs: [others, (child,)] if jobs > 1 else None)
    reports = []
    for key in keys:
        forks.clear()
        split = _report(snapshot, key, jobs=2)
        assert len(forks) == 1  # the second pass did run in a child
        forks.clear()
        assert _report(snapshot, key, jobs=1) == split
        assert forks == []
        reports.append(split)
    for report in reports:
        warnings = json.loads(report)["coverage"]["warnings"]
        malformed = [w for w in warnings if w.startswith("skipped malformed resource policy of")]
        assert len(malformed) == 2 and {"secret" in w for w in malformed} == {True, False}
    assert '"technique": "endgame-kms-key-policy"' in reports[1]  # escalations are compared too


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
def test_a_share_whose_child_fails_is_computed_in_the_parent(
    account: tuple[Snapshot, list[str]], forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot, keys = account
    expected = _report(snapshot, keys[0], jobs=1)
    parent = os.getpid()
    original = access_edges

    def failing_in_child(*args: Any, **kwargs: Any) -> Iterator[Edge]:
        if os.getpid() != parent:
            raise RuntimeError("a worker failure")
        return original(*args, **kwargs)

    # The graph's builders are bound when it is built: patch them on the class the search calls.
    monkeypatch.setattr(PermissionGraph, "data_edges", _with_builder(failing_in_child))
    assert _report(snapshot, keys[0], jobs=2) == expected
    assert len(forks) == 1


def _with_builder(builder: Any) -> Any:
    data_edges = PermissionGraph.data_edges

    def patched(self: PermissionGraph, arn: str, floor: Any, types: Any = None) -> list[Edge]:
        builder(self, self.model.principal(arn), floor, types)  # raises in the child only
        return data_edges(self, arn, floor, types)

    return patched


def test_no_split_with_one_job_little_work_or_other_threads(
    account: tuple[Snapshot, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot, _ = account
    model = build_graph(snapshot, load_rules(), now=NOW).model
    monkeypatch.setattr(parallel, "MIN_SEARCH_WORK", 0)
    alone = threading.active_count() == 1  # pytest-xdist runs threads of its own
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    assert parallel.shares(model, 1) is None
    parts = parallel.shares(model, 2)
    if sys.platform == "linux":
        assert parts is not None and len(parts) == 2
        assert sorted(t for p in parts for t in p) == sorted({d.type for d in snapshot.datasets})
    assert parallel.enough_work(model, 100)
    monkeypatch.setattr(parallel, "MIN_SEARCH_WORK", 10**12)
    assert not parallel.enough_work(model, 100)
    monkeypatch.setattr(parallel, "MIN_SEARCH_WORK", 0)
    monkeypatch.undo()
    if alone:  # forking a threaded process is not safe
        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
        try:
            assert not parallel.can_fork()
        finally:
            stop.set()
            other.join()
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    monkeypatch.setattr(parallel, "MIN_SEARCH_WORK", 0)
    assert parallel.shares(model, 2) is None


def test_the_two_passes_give_the_grants_of_a_search_in_one(account: tuple[Snapshot, list[str]]) -> None:
    """Expanding each principal whole (``expand``, as the audit does) and searching in two passes find
    the same best grants: same levels, costs and last edges."""
    snapshot, keys = account
    graph = build_graph(snapshot, load_rules(), now=NOW)
    owner = next(u.arn for u in snapshot.users if any(k.access_key_id == keys[0] for k in u.access_keys))
    result = reach(graph, owner)
    whole = build_graph(snapshot, load_rules(), now=NOW)
    offered: dict[tuple[str, str], Edge] = {}
    for arn in result.principals:
        for edge in whole.expand(arn):
            if edge.kind == ACCESS and edge.level is not None:
                offered.setdefault((edge.target, edge.level), edge)
    found = {(d, lv) for d, levels in result.grants.items() for lv in levels}
    assert found == set(offered)  # nothing offered to a reached principal is missing, nothing extra
    assert len(found) > 200


def test_a_builder_other_than_the_standard_ones_still_gives_its_edges() -> None:
    """``link_edges``/``data_edges`` take any other builder's edges whole (its access edges in the second
    pass, the others in the first)."""
    snapshot: Snapshot = _synth().generate(principals=30, datasets=200, policies=5, seed=2).snapshot
    model = build_graph(snapshot, load_rules(), now=NOW).model
    calls: list[str] = []

    def custom(graph: PermissionGraph, principal: Any, skip: Any = None) -> list[Edge]:
        calls.append(principal.arn)
        return list(access_edges(graph, principal))

    graph = PermissionGraph(model, edge_builders=[custom])
    owner = snapshot.users[0].arn
    result = reach(graph, owner)
    expected = {(e.target, e.level) for e in access_edges(graph, model.principal(owner))}  # type: ignore[arg-type]
    assert {(d, lv) for d, levels in result.grants.items() for lv in levels} == expected
    assert calls == [owner]  # computed once, though both passes asked


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
def test_the_cli_takes_jobs_and_gives_the_same_json(
    account: tuple[Snapshot, list[str]], forks: list[int], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from blastradius.api import save_snapshot
    from blastradius.cli import app

    snapshot, keys = account
    path = tmp_path / "snap.json"
    save_snapshot(snapshot, path)
    outputs = []
    for jobs in ("1", "2"):
        result = CliRunner().invoke(
            app,
            ["analyze", "--snapshot", str(path), "--key", keys[1], "--format", "json", "--jobs", jobs],
            env={"SOURCE_DATE_EPOCH": "1795000000"},
        )
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and len(forks) == 1
    bad = CliRunner().invoke(app, ["analyze", "--snapshot", str(path), "--key", keys[1], "--jobs", "0"])
    assert bad.exit_code == 2


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
def test_when_this_process_fails_its_children_are_not_left_behind(
    account: tuple[Snapshot, list[str]], forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot, keys = account
    parent = os.getpid()
    data_edges = PermissionGraph.data_edges

    def failing_here(self: PermissionGraph, arn: str, floor: Any, types: Any = None) -> list[Edge]:
        if os.getpid() == parent:
            raise RuntimeError("this process fails")
        return data_edges(self, arn, floor, types)

    monkeypatch.setattr(PermissionGraph, "data_edges", failing_here)
    with pytest.raises(RuntimeError, match="this process fails"):
        analyze_snapshot(snapshot, keys[0], now=NOW, jobs=2)
    assert len(forks) == 1
    with pytest.raises(ChildProcessError):  # reaped already: no zombie, no process left running
        os.waitpid(forks[0], os.WNOHANG)


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
def test_each_share_is_summarised_in_the_process_that_searched_it(
    account: tuple[Snapshot, list[str]], forks: list[int]
) -> None:
    # A report's findings are built in the child from its grants, and only they are sent back.
    snapshot, keys = account
    graph = build_graph(snapshot, load_rules(), now=NOW)
    origin = next(u.arn for u in snapshot.users if any(k.access_key_id == keys[0] for k in u.access_keys))
    whole = reach(graph, origin)

    def summarize(share: Reach) -> tuple[int, list[str], int]:
        return os.getpid(), sorted(share.grants), len(share.principals)

    graph = build_graph(snapshot, load_rules(), now=NOW)
    found, summaries = reach_shares(graph, origin, summarize, jobs=2)
    assert len(forks) == 1 and len(summaries) == 2
    assert summaries[0][0] == os.getpid() and summaries[1][0] == forks[0]
    mine, theirs = set(summaries[0][1]), set(summaries[1][1])
    assert mine and theirs and not mine & theirs
    assert mine | theirs == set(whole.grants)
    assert found.grants == {} and set(found.principals) == set(whole.principals)
    assert summaries[0][2] == summaries[1][2] == len(whole.principals)  # every share sees every principal


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
def test_principals_escalation_makes_up_after_the_fork_are_fed_to_the_child(forks: list[int]) -> None:
    # The child is forked once the origin is settled (no minimum of work): the account's administrator
    # (a principal escalation makes up, which a child could not build from the snapshot) and the roles
    # on the way are settled later, and fed to it with their routes.
    table = Dataset(
        arn=f"arn:aws:dynamodb:us-east-1:{A}:table/customers",
        type="dynamodb-table",
        name="customers",
        account_id=A,
        region="us-east-1",
    )
    key = Dataset(
        arn=f"arn:aws:kms:us-east-1:{A}:key/1234abcd-0000-0000-0000-000000000000",
        type=KMS_KEY,
        name="1234abcd",
        account_id=A,
        region="us-east-1",
        resource_policy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ),
    )
    account = chain_account(bucket(), table, key)
    split = _report(account, KEY, jobs=2)
    assert len(forks) == 1
    forks.clear()
    assert _report(account, KEY, jobs=1) == split and forks == []
    report = json.loads(split)
    assert {d["name"] for d in report["datasets"]} == {"vault", "customers", "1234abcd"}
    admin = f"account-admin:{A}"
    assert any(p["arn"] == admin for p in report["principals"])
    customers = next(d for d in report["datasets"] if d["name"] == "customers")
    assert customers["path"][-1]["from"] == admin  # granted to the made-up principal, in whichever process


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
def test_a_child_that_cannot_be_fed_is_stopped_and_its_share_computed_here(
    account: tuple[Snapshot, list[str]], forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. a made-up principal that does not pickle, or a child that died: never a partial share.
    snapshot, keys = account
    expected = _report(snapshot, keys[0], jobs=1)
    monkeypatch.setattr(parallel._Child, "send", lambda self, entry: False)
    assert _report(snapshot, keys[0], jobs=2) == expected
    assert len(forks) == 1
    with pytest.raises(ChildProcessError):  # stopped and reaped
        os.waitpid(forks[0], os.WNOHANG)


def test_feeding_a_child_never_waits_for_it_to_read() -> None:
    # A child busy with its first principals reads nothing for a while: the principals settled meanwhile
    # queue up here (a thread writes them) instead of stopping the first pass on a full pipe.
    read, write = os.pipe()
    child = parallel._Child(pid=-1, result=-1, feed=write)
    entry = "x" * 1000
    for _ in range(3000):  # 3 MB: more than any pipe holds
        assert child.send(entry)
    received = os.fdopen(read, "rb")
    for _ in range(3000):
        assert pickle.load(received) == entry
    child.close_feed()
    assert pickle.load(received) is None
    child.stop_feeding()
    assert received.read() == b""  # the feed is closed
    received.close()


def test_a_child_gone_before_it_is_fed_is_reported_broken() -> None:
    read, write = os.pipe()
    child = parallel._Child(pid=-1, result=-1, feed=write)
    os.close(read)
    assert child.send("first")  # queued; the thread then finds the pipe broken
    child.close_feed()
    child.stop_feeding()
    assert child.broken and not child.send("more")


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
def test_three_processes_give_the_report_of_one(
    account: tuple[Snapshot, list[str]], forks: list[int]
) -> None:
    # Each child is fed; a later child closes the pipes of the earlier ones it inherited.
    snapshot, keys = account
    split = _report(snapshot, keys[1], jobs=3)
    assert len(forks) == 2
    assert _report(snapshot, keys[1], jobs=1) == split


@pytest.mark.skipif(sys.platform != "linux", reason="the search forks only on Linux")
def test_a_failure_in_the_first_pass_after_the_fork_leaves_no_child_behind(
    account: tuple[Snapshot, list[str]], forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child is forked once the origin is settled; the parent then fails while it settles the rest
    # (and feeds the child): the child is stopped, its feeding thread too, and nothing is left running.
    snapshot, keys = account
    link_edges = PermissionGraph.link_edges
    expanded: list[str] = []

    def failing_later(self: PermissionGraph, arn: str, floor: Any) -> Any:
        expanded.append(arn)
        if len(expanded) == 3:
            raise RuntimeError("the first pass fails")
        return link_edges(self, arn, floor)

    monkeypatch.setattr(PermissionGraph, "link_edges", failing_later)
    with pytest.raises(RuntimeError, match="the first pass fails"):
        analyze_snapshot(snapshot, keys[0], now=NOW, jobs=2)
    assert len(forks) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(forks[0], os.WNOHANG)
    assert not [t for t in threading.enumerate() if t.name.startswith("feed-")]

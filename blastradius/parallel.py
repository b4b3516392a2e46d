"""Work split between forked processes: a single-key search's grants, by dataset type (``run``), and
how many processes to use (``default_jobs``, for the audit's worker pool too).

A forked child inherits the parent's compiled account (parsed policies, bitset indexes, caches), so no
input is sent; only its result comes back, pickled through a pipe. Forking is used only on Linux, and
only when this process runs a single thread (forking a threaded process may copy a lock another thread
holds). When a child fails, its share is computed again in the parent: the result never depends on
how the work was split, or whether it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from blastradius.graph import AccountModel

log = logging.getLogger(__name__)

T = TypeVar("T")
X = TypeVar("X")

# A single-key search forks only when its second pass has at least this much work: principals to expand
# times datasets (below it, forking and sending the result back cost more than they save).
MIN_SEARCH_WORK = 2_000_000


def default_jobs() -> int:
    """Processes to use by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether work may be forked off here (Linux, and no other thread running)."""
    return sys.platform == "linux" and threading.active_count() == 1


def shares(model: AccountModel, principals: int, jobs: int) -> list[tuple[str, ...]] | None:
    """The dataset types of the account split into ``jobs`` shares of about equal work, or None when the
    search should not be split (one job, little work, or forking not possible here).

    A type's work is estimated by its datasets, counting those with a resource policy (each decided by
    the engine for every principal that may be granted it) ten times."""
    if jobs < 2 or not can_fork():
        return None
    weights: dict[str, int] = {}
    for dataset in model.datasets.values():
        heavy = model.effective_policies.get(dataset.arn) is not None
        weights[dataset.type] = weights.get(dataset.type, 0) + (10 if heavy else 1)
    if principals * len(model.datasets) < MIN_SEARCH_WORK or len(weights) < 2:
        return None
    parts: list[list[str]] = [[] for _ in range(min(jobs, len(weights)))]
    loads = [0] * len(parts)
    for dataset_type, weight in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])):
        lightest = loads.index(min(loads))
        parts[lightest].append(dataset_type)
        loads[lightest] += weight
    return [tuple(p) for p in parts]


def run(
    parts: Sequence[Collection[str]],
    work: Callable[[Collection[str]], T],
    journal: Callable[[], Callable[[], X]],
    absorb: Callable[[X], None],
) -> list[T]:
    """``work(part)`` for every part, the first in this process and the others in forked children at
    the same time; results in the order of ``parts``. What a child's work records besides its result
    (``journal()`` is called before it, and what it returns after) is handed to ``absorb`` here."""
    children = [_fork(part, work, journal) for part in parts[1:]]
    try:
        results = [work(parts[0])]
    except BaseException:  # this process failed (or was interrupted): no child is left behind
        for child in children:
            if child is not None:
                _abandon(child)
        raise
    for part, child in zip(parts[1:], children, strict=True):
        found: tuple[T, X] | None = _collect(child) if child is not None else None
        if found is None:
            log.debug("the worker for %s failed or did not start: its share is computed here", part)
            results.append(work(part))
            continue
        result, recorded = found
        absorb(recorded)
        results.append(result)
    return results


def _fork(
    part: Collection[str], work: Callable[[Collection[str]], T], journal: Callable[[], Callable[[], X]]
) -> tuple[int, int] | None:
    try:
        read, write = os.pipe()
        pid = os.fork()
    except OSError as e:
        log.debug("could not fork: %s", e)
        return None
    if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
        status = 0
        try:
            os.close(read)
            try:
                since = journal()
                result = work(part)
                payload = pickle.dumps((result, since()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # anything: the parent computes the share itself
                payload, status = b"", 1
            with os.fdopen(write, "wb") as out:
                out.write(payload)
        finally:
            os._exit(status)
    os.close(write)
    return pid, read


def _abandon(child: tuple[int, int]) -> None:
    pid, read = child
    with contextlib.suppress(OSError):  # already gone
        os.kill(pid, signal.SIGKILL)
    os.close(read)
    os.waitpid(pid, 0)


def _collect(child: tuple[int, int]) -> tuple[T, X] | None:
    pid, read = child
    try:
        with os.fdopen(read, "rb") as source:
            data = source.read()
    finally:
        os.waitpid(pid, 0)
    try:
        found = pickle.loads(data) if data else None
    except Exception:  # a truncated result: computed again by the caller
        return None
    return found if isinstance(found, tuple) and len(found) == 2 else None

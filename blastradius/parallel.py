"""Work split between forked processes: a single-key search's grants, by dataset type (``run``), and
how many processes to use (``default_jobs``, for the audit's worker pool too).

A forked child inherits the parent's compiled account (parsed policies, bitset indexes, caches) and the
work's entries found so far; the entries found after it was forked are fed to it through a pipe as they
come (the principals a search settles while its children already search their grants), and its result
comes back pickled through another. Forking is used only on Linux, and only when this process runs a
single thread (forking a threaded process may copy a lock another thread holds). When a child fails, its
share is computed again in the parent: the result never depends on how the work was split, or whether
it was.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from blastradius.graph import AccountModel

log = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E")
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


def shares(model: AccountModel, jobs: int) -> list[tuple[str, ...]] | None:
    """The dataset types of the account split into ``jobs`` shares of about equal work, or None when the
    search should not be split (one job, one type, or forking not possible here). Whether it is worth
    it depends on how many principals it reaches too (``enough_work``).

    A type's work is estimated by its datasets, counting those with a resource policy (each decided by
    the engine for every principal that may be granted it) ten times."""
    if jobs < 2 or not can_fork():
        return None
    weights: dict[str, int] = {}
    for dataset in model.datasets.values():
        heavy = model.effective_policies.get(dataset.arn) is not None
        weights[dataset.type] = weights.get(dataset.type, 0) + (10 if heavy else 1)
    if len(weights) < 2:
        return None
    parts: list[list[str]] = [[] for _ in range(min(jobs, len(weights)))]
    loads = [0] * len(parts)
    for dataset_type, weight in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])):
        lightest = loads.index(min(loads))
        parts[lightest].append(dataset_type)
        loads[lightest] += weight
    return [tuple(p) for p in parts]


def enough_work(model: AccountModel, principals: int) -> bool:
    """Whether a search's second pass over ``principals`` is worth splitting (``MIN_SEARCH_WORK``)."""
    return principals * len(model.datasets) >= MIN_SEARCH_WORK


def run(
    parts: Sequence[Collection[str]],
    work: Callable[[Collection[str], Iterable[E]], T],
    found: Sequence[E],
    coming: Iterable[E],
    journal: Callable[[], Callable[[], X]],
    absorb: Callable[[X], None],
) -> list[T]:
    """``work(part, entries)`` for every part, the first in this process and the others in forked
    children; results in the order of ``parts``. The entries are ``found`` then ``coming``: a child is
    forked with those found, and ``coming`` is drawn here while the children already work, each entry
    fed to them as it comes; this process's own work starts once ``coming`` is exhausted. What a child's
    work records besides its result (``journal()`` is called before it, and what it returns after) is
    handed to ``absorb`` here."""
    children: list[_Child | None] = []
    for part in parts[1:]:
        others = [fd for c in children if c is not None for fd in (c.feed, c.result)]
        children.append(_fork(part, work, found, journal, others))
    entries = list(found)
    try:
        for entry in coming:
            entries.append(entry)
            for i, child in enumerate(children):
                if child is not None and not child.send(entry):
                    log.debug("the worker for %s could not be fed: its share is computed here", parts[i + 1])
                    _abandon(child)
                    children[i] = None
        for child in children:
            if child is not None:
                child.close_feed()
        results = [work(parts[0], entries)]
    except BaseException:  # this process failed (or was interrupted): no child is left behind
        for child in children:
            if child is not None:
                _abandon(child)
        raise
    for part, child in zip(parts[1:], children, strict=True):
        got: tuple[T, X] | None = _collect(child) if child is not None else None
        if got is None:
            log.debug("the worker for %s failed or did not start: its share is computed here", part)
            results.append(work(part, entries))
            continue
        result, recorded = got
        absorb(recorded)
        results.append(result)
    return results


# Entries are fed to a child one pickle after another, None at the end, through a pipe of this size.
_PIPE_SIZE = 1 << 20


class _Child:
    """A forked worker: its pid, the pipe its result comes back on, and the pipe it is fed through, by a
    thread of this process (a child busy with its first entries never holds up the work drawing the
    next ones, however many come before it reads them)."""

    __slots__ = ("_queue", "_writer", "broken", "feed", "pid", "result")

    def __init__(self, pid: int, result: int, feed: int) -> None:
        self.pid, self.result, self.feed = pid, result, feed
        self.broken = False  # it could not be fed: it is gone
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    def send(self, entry: object) -> bool:
        """Feed one entry (False: it cannot be pickled, or the child is gone)."""
        if self.broken:
            return False
        try:
            data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            log.debug("could not feed worker %d: %s", self.pid, e)
            return False
        if self._writer is None:  # started after every child is forked (forking wants one thread)
            self._writer = threading.Thread(target=self._write, name=f"feed-{self.pid}", daemon=True)
            self._writer.start()
        self._queue.put(data)
        return True

    def _write(self) -> None:
        while (data := self._queue.get()) is not None:
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self.feed, view) :]
            except OSError as e:  # the child died (a broken pipe)
                log.debug("could not feed worker %d: %s", self.pid, e)
                self.broken = True
                return

    def close_feed(self) -> None:
        """Tell the child no more entries come (if it is gone, collecting it tells)."""
        self.send(None)
        self._queue.put(None)

    def stop_feeding(self) -> None:
        """Once the child has ended: stop the thread feeding it and close its pipe."""
        self._queue.put(None)
        if self._writer is not None:
            self._writer.join()
        if self.feed >= 0:
            os.close(self.feed)
            self.feed = -1


def _fork(
    part: Collection[str],
    work: Callable[[Collection[str], Iterable[E]], T],
    found: Sequence[E],
    journal: Callable[[], Callable[[], X]],
    inherited: Sequence[int],
) -> _Child | None:
    try:
        result_read, result_write = os.pipe()
        feed_read, feed_write = os.pipe()
    except OSError as e:
        log.debug("could not make pipes: %s", e)
        return None
    with contextlib.suppress(OSError, AttributeError):  # a larger buffer: feeding rarely waits
        import fcntl  # Unix only (forking is used on Linux only)

        fcntl.fcntl(feed_write, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    try:
        pid = os.fork()
    except OSError as e:
        log.debug("could not fork: %s", e)
        for fd in (result_read, result_write, feed_read, feed_write):
            os.close(fd)
        return None
    if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
        status = 0
        try:
            for fd in (result_read, feed_write, *inherited):  # the parent's ends, and other children's
                os.close(fd)
            try:
                since = journal()
                result = work(part, itertools.chain(found, _fed(feed_read)))
                payload = pickle.dumps((result, since()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # anything: the parent computes the share itself
                payload, status = b"", 1
            with os.fdopen(result_write, "wb") as out:
                out.write(payload)
        finally:
            os._exit(status)
    os.close(result_write)
    os.close(feed_read)
    return _Child(pid, result_read, feed_write)


def _fed(fd: int) -> Iterator[Any]:
    """The entries fed to this child, until the end (an early end of the pipe raises: the parent died)."""
    with os.fdopen(fd, "rb", buffering=_PIPE_SIZE) as source:
        while (entry := pickle.load(source)) is not None:
            yield entry


def _abandon(child: _Child) -> None:
    with contextlib.suppress(OSError):  # already gone
        os.kill(child.pid, signal.SIGKILL)
    os.close(child.result)
    os.waitpid(child.pid, 0)
    child.stop_feeding()


def _collect(child: _Child) -> tuple[T, X] | None:
    try:
        with os.fdopen(child.result, "rb") as source:
            data = source.read()
    finally:
        os.waitpid(child.pid, 0)
        child.stop_feeding()
    try:
        found = pickle.loads(data) if data else None
    except Exception:  # a truncated result: computed again by the caller
        return None
    return found if isinstance(found, tuple) and len(found) == 2 else None

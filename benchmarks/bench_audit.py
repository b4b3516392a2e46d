#!/usr/bin/env python3
"""Benchmark: ``blastradius audit`` (every access key, one graph) on synthetic organisations.

    python benchmarks/bench_audit.py --sizes 1000,10000 --repeat 3 --out audit-results.json

Snapshots come from ``benchmarks/bench.py``'s cache (same generator, sizes and seed: N principals,
10 * N datasets, max(10, N / 10) customer managed policies), generated when missing. Each repeat runs in
a fresh interpreter: ``load_snapshot`` then ``audit_snapshot``, timed with ``time.perf_counter`` after
the imports; peak RSS is the child's ``ru_maxrss``. Reported: medians of the repeats, the number of keys
ranked, principals expanded, access edges folded, and how many keys reach a high-sensitivity dataset, and
the peak RSS of the worker processes (``--jobs``, default 2; ``RUSAGE_CHILDREN``), and the CPU seconds of
the audit (parent and workers: on a shared machine, wall time says more about the neighbours). A human
table goes to stderr, JSON to stdout (and to ``--out``). Exit status 1 when an audit run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench import (  # noqa: E402
    BenchError,
    _cache_dir,
    add_common_arguments,
    align_columns,
    ensure_snapshot,
    parse_sizes,
    run_script,
)

CHILD = r"""
import json, resource, sys, time
from pathlib import Path

def peak_rss_bytes(who=resource.RUSAGE_SELF):
    rss = resource.getrusage(who).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024

def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime

path, jobs = Path(sys.argv[1]), int(sys.argv[2])
start = time.perf_counter()
from blastradius.importers import load_snapshot
from blastradius.audit import audit_snapshot
imported = time.perf_counter()
snapshot = load_snapshot(path)
loaded = time.perf_counter()
cpu_before = cpu_seconds()
report = audit_snapshot(snapshot, jobs=jobs)
done = time.perf_counter()
cpu = cpu_seconds() - cpu_before
document = report.to_json()
print(json.dumps({
    "seconds": done - imported,
    "import_seconds": imported - start,
    "load_snapshot_seconds": loaded - imported,
    "audit_seconds": done - loaded,
    "audit_cpu_seconds": cpu,
    "keys": len(report.keys),
    "keys_reaching_high": document["summary"]["keys_reaching"]["high"],
    "principals_expanded": report.stats.principals_expanded,
    "components": report.stats.components,
    "access_edges": report.stats.access_edges,
    "peak_rss_bytes": peak_rss_bytes(),
    "worker_peak_rss_bytes": peak_rss_bytes(resource.RUSAGE_CHILDREN),
}))
"""


def run_child(snapshot: str, jobs: int, timeout: float) -> dict[str, Any]:
    """One fresh-interpreter audit; raises ``BenchError`` with the child's diagnosis on failure."""
    return run_script(CHILD, [snapshot, str(jobs)], timeout, "audit run")


def bench_size(n: int, *, repeat: int, seed: int, cache: Path, timeout: float, jobs: int) -> dict[str, Any]:
    """Medians of ``repeat`` fresh-process audits of the N-principal snapshot."""
    info = ensure_snapshot(n, 10 * n, max(10, n // 10), seed, cache, False)
    runs = [run_child(info["snapshot"], jobs, timeout) for _ in range(repeat)]
    row: dict[str, Any] = {
        "principals": info["principals"],
        "datasets": info["datasets"],
        "snapshot": info["snapshot"],
        "jobs": jobs,
        "runs": [r["seconds"] for r in runs],
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
        "worker_peak_rss_bytes": max(r["worker_peak_rss_bytes"] for r in runs),
    }
    for name in ("seconds", "load_snapshot_seconds", "audit_seconds", "audit_cpu_seconds", "import_seconds"):
        row[name] = statistics.median(r[name] for r in runs)
    for name in ("keys", "keys_reaching_high", "principals_expanded", "components", "access_edges"):
        values = {r[name] for r in runs}
        if len(values) != 1:
            raise BenchError(f"N={n}: non-deterministic {name} across repeats: {sorted(values)}")
        row[name] = runs[0][name]
    return row


def render_table(rows: list[dict[str, Any]]) -> str:
    """A human table of the rows."""
    header = ["principals", "datasets", "jobs", "keys", "expanded", "access edges", "load s", "audit s",
              "audit cpu s", "total s", "peak MB", "worker MB"]  # fmt: skip
    lines = [header]
    for r in rows:
        lines.append(
            [
                f"{r['principals']:,}",
                f"{r['datasets']:,}",
                str(r["jobs"]),
                f"{r['keys']:,}",
                f"{r['principals_expanded']:,}",
                f"{r['access_edges']:,}",
                f"{r['load_snapshot_seconds']:.2f}",
                f"{r['audit_seconds']:.2f}",
                f"{r['audit_cpu_seconds']:.2f}",
                f"{r['seconds']:.2f}",
                f"{r['peak_rss_bytes'] / 2**20:.0f}",
                f"{r['worker_peak_rss_bytes'] / 2**20:.0f}",
            ]
        )
    return "\n".join(align_columns(lines))


def main(argv: list[str] | None = None) -> int:
    """Run the audit benchmark; 0 on success, 1 when a run failed, 2 on bad arguments."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_common_arguments(
        parser, repeat_help="fresh-process runs per size (median)", timeout=1800.0, regenerate=False
    )
    parser.add_argument("--jobs", type=int, default=2, help="audit processes (default: %(default)s)")
    args = parser.parse_args(argv)
    sizes = parse_sizes(parser, args.sizes, args.repeat)
    rows: list[dict[str, Any]] = []
    try:
        cache = _cache_dir(args.cache_dir)
        for n in sizes:
            print(f"bench_audit: N={n} …", file=sys.stderr, flush=True)
            rows.append(
                bench_size(
                    n, repeat=args.repeat, seed=args.seed, cache=cache, timeout=args.timeout, jobs=args.jobs
                )
            )
    except BenchError as e:
        print(f"bench_audit: error: {e}", file=sys.stderr)
        if rows:
            print(render_table(rows), file=sys.stderr)
        return 1
    results = {
        "schema": "blastradius.bench-audit/v1",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "repeat": args.repeat,
        "seed": args.seed,
        "results": rows,
    }
    print(render_table(rows), file=sys.stderr)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

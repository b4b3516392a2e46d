#!/usr/bin/env python3
"""What applying SCPs and RCPs costs: the same synthetic account analysed with and without its organisation.

    python benchmarks/bench_fidelity.py --sizes 1000,10000 --repeat 3

For each size (principals N, datasets 10N, policies max(10, N/10), as ``bench.py``) it generates (cached
like ``bench.py``) the same seed twice: as ``bench.py`` does (no organisation, so the SCP/RCP logic has
nothing to apply) and with ``synth.py --org`` (the account under root → ou-workloads → ou-prod with the
guardrail SCPs and the data-perimeter RCP AWS documents). It then times, in fresh interpreters and
interleaved (without, with, without, with, ...), ``load_snapshot`` + ``analyze_snapshot`` of the first
broad key on both: the code path of ``bench.py``'s child. Reported per size: the medians of wall and CPU
seconds (``resource.getrusage``, user + system: the machine may be shared, so CPU time is the steadier
figure), the ratios with/without, the verdict against the 1.20 budget ("OK (≤ 1.20)" or "OVER"; the
script only reports, it does not fail on it), and the datasets the key reaches in each, with the ones
that differ (they should only differ where a guardrail denies something).

JSON on stdout, a table on stderr. Exit 0 when everything was measured, 2 when a step failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench import (  # noqa: E402  (the sibling module; benchmarks/ is no package)
    ANALYSIS_API,
    SYNTH,
    BenchError,
    _cache_dir,
    _generator_digest,
    add_common_arguments,
    align_columns,
    ensure_snapshot,
    parse_sizes,
    run_script,
)

BUDGET = 1.20
SCHEMA = "blastradius.bench-fidelity/v1"

# Runs in a fresh interpreter: argv = [snapshot path, key id, "reached" | "-"]; prints one JSON line.
# The measured section is bench.py's CHILD "analyze" mode (load_snapshot, then analyze_snapshot with
# escalation); CPU seconds are this process's user + system time over the same section.
CHILD = r"""
import json, resource, sys, time
from pathlib import Path

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

path, key, want_reached = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "reached"
try:
    from blastradius.importers import load_snapshot
    from blastradius.analyze import analyze_snapshot
except ImportError as e:
    print(json.dumps({"error": f"the analysis API is not available ({type(e).__name__}: {e})"}))
    sys.exit(3)
wall0, cpu0 = time.perf_counter(), cpu()
snapshot = load_snapshot(path)
wall1, cpu1 = time.perf_counter(), cpu()
report = analyze_snapshot(snapshot, key)
wall2, cpu2 = time.perf_counter(), cpu()
out = {
    "seconds": wall2 - wall0,
    "cpu_seconds": cpu2 - cpu0,
    "load_snapshot_seconds": wall1 - wall0,
    "analyze_seconds": wall2 - wall1,
    "analyze_cpu_seconds": cpu2 - cpu1,
    "datasets_reached": len(report.datasets),
    "escalations": len(report.escalations),
    "organization": snapshot.organization is not None,
}
if want_reached:
    out["reached"] = sorted([d.arn, "+".join(d.access)] for d in report.datasets)
print(json.dumps(out))
"""


def ensure_org_snapshot(
    principals: int, datasets: int, policies: int, seed: int, cache: Path, regenerate: bool
) -> dict[str, Any]:
    """``bench.ensure_snapshot`` for ``synth.py --org`` (own file names, so neither evicts the other)."""
    stem = f"synth-org-n{principals}-m{datasets}-p{policies}-s{seed}-{_generator_digest()}"
    snap, meta = cache / f"{stem}.json", cache / f"{stem}.meta.json"
    if not regenerate and snap.is_file() and meta.is_file():
        return {**json.loads(meta.read_text(encoding="utf-8")), "cached": True}
    cmd = [sys.executable, str(SYNTH), "--principals", str(principals), "--datasets", str(datasets)]
    cmd += ["--policies", str(policies), "--seed", str(seed), "--out", str(snap), "--org"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(
            f"synth.py --org failed for N={principals} (exit {proc.returncode}):\n{proc.stderr.strip()}"
        )
    info = {**json.loads(proc.stdout), "generation_seconds": round(seconds, 3)}
    fd = os.open(meta, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
    prefix = stem.rsplit("-", 1)[0] + "-"
    for old in cache.glob(f"{prefix}*.json"):
        if not old.name.startswith(stem + "."):
            old.unlink(missing_ok=True)
    return {**info, "cached": False}


def run_child(snapshot: str, key: str, timeout: float, *, reached: bool) -> dict[str, Any]:
    """One fresh-interpreter measurement; ``BenchError`` with the child's diagnosis on failure."""
    args = [snapshot, key, "reached" if reached else "-"]
    return run_script(CHILD, args, timeout, f"analysis of {snapshot}")


def verdict(ratio: float) -> str:
    return f"OK (≤ {BUDGET:.2f})" if ratio <= BUDGET else "OVER"


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else arn


def compare_reach(without: list[list[str]], with_org: list[list[str]]) -> dict[str, Any]:
    """Which datasets (and access levels) the organisation removed or changed, per service."""
    a, b = dict(map(tuple, without)), dict(map(tuple, with_org))
    lost = sorted(set(a) - set(b))
    gained = sorted(set(b) - set(a))
    changed = sorted(arn for arn in set(a) & set(b) if a[arn] != b[arn])
    return {
        "same": not (lost or gained or changed),
        "only_without_org": len(lost),
        "only_with_org": len(gained),
        "access_changed": len(changed),
        "only_without_org_by_service": dict(Counter(map(_service, lost))),
        "access_changed_by_service": dict(Counter(map(_service, changed))),
        "examples": {
            "only_without_org": lost[:5],
            "only_with_org": gained[:5],
            "access_changed": [{"arn": x, "without": a[x], "with": b[x]} for x in changed[:5]],
        },
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    fields = ("seconds", "cpu_seconds", "load_snapshot_seconds", "analyze_seconds", "analyze_cpu_seconds")
    med = {f: statistics.median(r[f] for r in runs) for f in fields}
    return {
        **med,
        "runs": [round(r["seconds"], 3) for r in runs],
        "cpu_runs": [round(r["cpu_seconds"], 3) for r in runs],
        "datasets_reached": runs[0]["datasets_reached"],
        "escalations": runs[0]["escalations"],
    }


def bench_size(
    n: int, *, repeat: int, seed: int, cache: Path, regenerate: bool, timeout: float
) -> dict[str, Any]:
    datasets, policies = 10 * n, max(10, n // 10)
    plain = ensure_snapshot(n, datasets, policies, seed, cache, regenerate)
    org = ensure_org_snapshot(n, datasets, policies, seed, cache, regenerate)
    key = plain["broad_keys"][0]
    if org["broad_keys"][0] != key:
        raise BenchError(f"N={n}: the --org snapshot has other subjects than the plain one (generator drift)")
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    reached: dict[str, list[list[str]]] = {}
    for i in range(repeat):  # interleaved: without, with, without, with, ...
        for name, info in (("without", plain), ("with", org)):
            result = run_child(info["snapshot"], key, timeout, reached=i == 0)
            if i == 0:
                reached[name] = result.pop("reached")
            runs[name].append(result)
    errors = []
    for name, rs in runs.items():
        counts = sorted({r["datasets_reached"] for r in rs})
        if len(counts) != 1:
            errors.append(f"non-deterministic result {name} the organisation: datasets reached {counts}")
    if not runs["with"][0]["organization"] or runs["without"][0]["organization"]:
        errors.append("the snapshots do not differ by their organisation as expected")
    without, with_org = _summary(runs["without"]), _summary(runs["with"])
    ratio_wall = with_org["seconds"] / without["seconds"]
    ratio_cpu = with_org["cpu_seconds"] / without["cpu_seconds"]
    return {
        "principals": plain["principals"],
        "datasets": plain["datasets"],
        "policies": plain.get("policies", policies),
        "key": key,
        "snapshot_without_org": plain["snapshot"],
        "snapshot_with_org": org["snapshot"],
        "cached": plain["cached"] and org["cached"],
        "without_org": without,
        "with_org": with_org,
        "ratio_wall": ratio_wall,
        "ratio_cpu": ratio_cpu,
        "ratio_analyze_cpu": with_org["analyze_cpu_seconds"] / without["analyze_cpu_seconds"],
        "verdict_wall": verdict(ratio_wall),
        "verdict_cpu": verdict(ratio_cpu),
        "reach": compare_reach(reached["without"], reached["with"]),
        "errors": errors,
    }


def render_table(rows: list[dict[str, Any]]) -> str:
    header = ["principals", "datasets", "org", "wall s", "cpu s", "analyze cpu s", "reached", "escalations"]
    lines = [header]
    for r in rows:
        for label, key in (("without", "without_org"), ("with", "with_org")):
            s = r[key]
            lines.append(
                [
                    f"{r['principals']:,}",
                    f"{r['datasets']:,}",
                    label,
                    f"{s['seconds']:.3f}",
                    f"{s['cpu_seconds']:.3f}",
                    f"{s['analyze_cpu_seconds']:.3f}",
                    f"{s['datasets_reached']:,} ({s['datasets_reached'] / r['datasets']:.1%})",
                    str(s["escalations"]),
                ]
            )
    out = align_columns(lines)
    for r in rows:
        out.append(
            f"N={r['principals']}: with/without organisation: "
            f"wall {r['ratio_wall']:.2f}x {r['verdict_wall']}, cpu {r['ratio_cpu']:.2f}x {r['verdict_cpu']} "
            f"(analyze alone: cpu {r['ratio_analyze_cpu']:.2f}x)"
        )
        reach = r["reach"]
        if reach["same"]:
            out.append(f"N={r['principals']}: the same datasets with the same access with and without it")
        else:
            out.append(
                f"N={r['principals']}: the organisation removes {reach['only_without_org']} dataset(s) "
                f"{reach['only_without_org_by_service']}, changes the access to {reach['access_changed']} "
                f"{reach['access_changed_by_service']}, adds {reach['only_with_org']}"
            )
        out.extend(f"N={r['principals']}: {e}" for e in r["errors"])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, repeat_help="fresh-process runs per variant (median)")
    args = parser.parse_args(argv)
    sizes = parse_sizes(parser, args.sizes, args.repeat)

    rows: list[dict[str, Any]] = []
    try:
        cache = _cache_dir(args.cache_dir)
        for n in sizes:
            print(f"bench_fidelity: N={n} …", file=sys.stderr, flush=True)
            rows.append(
                bench_size(
                    n,
                    repeat=args.repeat,
                    seed=args.seed,
                    cache=cache,
                    regenerate=args.regenerate,
                    timeout=args.timeout,
                )
            )
    except BenchError as e:
        print(f"bench_fidelity: error: {e}", file=sys.stderr)
        return 2
    results = {
        "schema": SCHEMA,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "repeat": args.repeat,
        "seed": args.seed,
        "budget": BUDGET,
        "analysis_api": ANALYSIS_API,
        "results": rows,
    }
    print(render_table(rows), file=sys.stderr)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 2 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

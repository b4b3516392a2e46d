#!/usr/bin/env python3
"""Benchmark: analysing one leaked key from a snapshot, against the cost of merely parsing the JSON.

    python benchmarks/bench.py --sizes 1000,10000 --repeat 3 --out results.json

For each size N (principals; datasets = 10 * N, customer managed policies ≈ N/10) a synthetic snapshot is
generated with ``benchmarks/synth.py`` (cached under the temp directory, keyed by the sizes, the seed and
the generator's source, so a changed generator regenerates). Then, each repeat in a fresh interpreter so
that no cache or warm import carries over:

* ``json.load`` of the snapshot file (the floor any analysis has to pay), and
* ``blastradius.importers.load_snapshot(path)`` + ``blastradius.analyze.analyze_snapshot(snapshot, key)``
  for one broad key of the snapshot, timed with ``time.perf_counter`` inside the subprocess (imports are
  done before the clock starts and reported separately).

Reported: medians of the repeats, the ratio analysis / json.load, peak RSS (``ru_maxrss``) of the
subprocesses, and the number of datasets the key reaches. The analysis runs as ``analyze`` does, its
search split between the CPUs available (``jobs``); on a machine with several, it is also timed in one
process (``ratio_one_job``). A human table goes to stderr, JSON to stdout
(and to ``--out``). Exit status 1 when the analysis could not run (e.g. the API is not there yet); the
json.load figures are still reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SYNTH = HERE / "synth.py"
ANALYSIS_API = "blastradius.importers.load_snapshot + blastradius.analyze.analyze_snapshot"

# Runs in a fresh interpreter: argv = [mode, snapshot path, key id]; prints one JSON line on stdout.
CHILD = r"""
import json, resource, sys, time
from pathlib import Path

def peak_rss_bytes(who=resource.RUSAGE_SELF):
    rss = resource.getrusage(who).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB on Linux

mode, path, key = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
if mode == "json":
    start = time.perf_counter()
    with path.open("rb") as fh:
        data = json.load(fh)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak_rss_bytes()}))
    sys.exit(0)

start = time.perf_counter()
try:
    from blastradius.importers import load_snapshot
    from blastradius.analyze import analyze_snapshot
except ImportError as e:
    print(json.dumps({"error": f"the analysis API is not available ({type(e).__name__}: {e})"}))
    sys.exit(3)
imported = time.perf_counter()
snapshot = load_snapshot(path)
loaded = time.perf_counter()
# "analyze-no-escalation": the same analysis without escalation edges (to measure what they add);
# "analyze-one-job": in this process alone (by default the search may use every CPU: see reach).
from blastradius.parallel import default_jobs
jobs = 1 if mode == "analyze-one-job" else default_jobs()
report = analyze_snapshot(snapshot, key, escalation=(mode != "analyze-no-escalation"), jobs=jobs)
done = time.perf_counter()
print(json.dumps({
    "seconds": done - imported,
    "import_seconds": imported - start,
    "load_snapshot_seconds": loaded - imported,
    "analyze_seconds": done - loaded,
    "datasets_reached": len(report.datasets),
    "escalations": len(report.escalations),
    "peak_rss_bytes": peak_rss_bytes(),
    "jobs": jobs,
    # the search's forked workers (their pages are shared with this process until either writes them)
    "peak_rss_workers_bytes": peak_rss_bytes(resource.RUSAGE_CHILDREN),
}))
"""


class BenchError(Exception):
    """A benchmark step failed; the message says which and why."""


def _cache_dir(requested: Path | None) -> Path:
    path = requested or Path(tempfile.gettempdir()) / f"blastradius-bench-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise BenchError(f"cache directory {path} is not private to this user; pass --cache-dir")
    return path


def _generator_digest() -> str:
    h = hashlib.sha256(SYNTH.read_bytes())
    h.update((REPO / "blastradius" / "model.py").read_bytes())
    return h.hexdigest()[:12]


def _private_temp(cache: Path, name: str) -> Path:
    """A new, empty mode-0600 file next to ``cache / name``, for writing it whole then renaming."""
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{name}.", suffix=".tmp")  # mkstemp: mode 0600
    os.close(fd)
    return Path(tmp)


def _replace_with_json(target: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``target`` atomically (temp file in the same directory, then rename)."""
    tmp = _private_temp(target.parent, target.name)
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_snapshot(
    principals: int, datasets: int, policies: int, seed: int, cache: Path, regenerate: bool
) -> dict[str, Any]:
    """The synth summary for this size (with ``generation_seconds`` and ``cached``), generating if needed.

    Several benchmark runs may share the cache (the default is one directory per user): the snapshot is
    generated into a temp file of the same directory and renamed into place (``os.replace``, atomic on
    POSIX), then the meta file the same way, *after* it. A reader that finds the meta file therefore finds
    a whole snapshot, never one that another run is still writing; two runs generating the same size at
    once both produce complete (identical) files, and the last rename wins.
    """
    stem = f"synth-n{principals}-m{datasets}-p{policies}-s{seed}-{_generator_digest()}"
    snap, meta = cache / f"{stem}.json", cache / f"{stem}.meta.json"
    if not regenerate and snap.is_file() and meta.is_file():
        info = json.loads(meta.read_text(encoding="utf-8"))
        return {**info, "cached": True}
    tmp = _private_temp(cache, snap.name)
    try:
        cmd = [sys.executable, str(SYNTH), "--principals", str(principals), "--datasets", str(datasets)]
        cmd += ["--policies", str(policies), "--seed", str(seed), "--out", str(tmp)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise BenchError(
                f"synth.py failed for N={principals} (exit {proc.returncode}):\n{proc.stderr.strip()}"
            )
        os.replace(tmp, snap)
    finally:
        tmp.unlink(missing_ok=True)
    info = {**json.loads(proc.stdout), "snapshot": str(snap), "generation_seconds": round(seconds, 3)}
    _replace_with_json(meta, info)
    # Snapshots of the same size from an older generator (or model) are stale: drop them.
    prefix = stem.rsplit("-", 1)[0] + "-"
    for old in cache.glob(f"{prefix}*.json"):
        if not old.name.startswith(stem + "."):
            old.unlink(missing_ok=True)
    return {**info, "cached": False}


def run_script(code: str, args: list[str], timeout: float, what: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter (the repository first on the path) and return the JSON object
    of its last stdout line; raises ``BenchError`` naming ``what`` with the child's diagnosis on failure
    (the object's ``error``, else the end of its stderr) or when the line has no ``seconds``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=REPO,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{what} timed out after {timeout:.0f}s") from e
    lines = proc.stdout.strip().splitlines()
    result: dict[str, Any] = {}
    if lines:
        try:
            result = json.loads(lines[-1])
        except json.JSONDecodeError:
            result = {}
    if proc.returncode != 0 or "seconds" not in result:
        why = result.get("error") or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        detail = "" if "error" in result else f"\n{proc.stderr.strip()}"
        raise BenchError(f"{what} failed (exit {proc.returncode}): {why}{detail}")
    return result


def run_child(mode: str, snapshot: str, key: str, timeout: float) -> dict[str, Any]:
    """One fresh-interpreter measurement; raises ``BenchError`` with the child's diagnosis on failure."""
    return run_script(CHILD, [mode, snapshot, key], timeout, f"{mode} run")


def _median(runs: list[dict[str, Any]], field: str) -> float:
    return statistics.median(r[field] for r in runs)


def bench_size(
    n: int,
    *,
    repeat: int,
    seed: int,
    cache: Path,
    regenerate: bool,
    timeout: float,
    analysis: bool,
    escalation_baseline: bool = True,
) -> dict[str, Any]:
    datasets, policies = 10 * n, max(10, n // 10)
    info = ensure_snapshot(n, datasets, policies, seed, cache, regenerate)
    snap = info["snapshot"]
    key = info["broad_keys"][0]
    row: dict[str, Any] = {
        "principals": info["principals"],
        "datasets": info["datasets"],
        "policies": info.get("policies", policies),
        "snapshot": snap,
        "snapshot_bytes": Path(snap).stat().st_size,
        "generation_seconds": info["generation_seconds"],
        "cached": info["cached"],
        "key": key,
    }
    json_runs = [run_child("json", snap, key, timeout) for _ in range(repeat)]
    row["json_load_seconds"] = _median(json_runs, "seconds")
    row["json_load_runs"] = [r["seconds"] for r in json_runs]
    row["json_load_peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in json_runs)
    for name in ("analysis_seconds", "load_snapshot_seconds", "analyze_seconds", "import_seconds", "ratio",
                 "peak_rss_bytes", "datasets_reached", "reached_fraction"):  # fmt: skip
        row[name] = None
    row["analysis_runs"] = []
    row["analysis_error"] = None
    if not analysis:
        row["analysis_error"] = "skipped (--skip-analysis)"
        return row
    try:
        runs = [run_child("analyze", snap, key, timeout) for _ in range(repeat)]
    except BenchError as e:
        row["analysis_error"] = str(e)
        return row
    row["analysis_seconds"] = _median(runs, "seconds")
    row["analysis_runs"] = [r["seconds"] for r in runs]
    row["load_snapshot_seconds"] = _median(runs, "load_snapshot_seconds")
    row["analyze_seconds"] = _median(runs, "analyze_seconds")
    row["import_seconds"] = _median(runs, "import_seconds")
    row["ratio"] = row["analysis_seconds"] / row["json_load_seconds"]
    row["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in runs)
    reached = {r["datasets_reached"] for r in runs}
    if len(reached) != 1:
        row["analysis_error"] = f"non-deterministic result: datasets reached {sorted(reached)} across repeats"
    row["datasets_reached"] = runs[0]["datasets_reached"]
    row["reached_fraction"] = row["datasets_reached"] / row["datasets"]
    row["escalations"] = runs[0].get("escalations")
    row["jobs"] = runs[0].get("jobs")
    row["peak_rss_workers_bytes"] = max(r.get("peak_rss_workers_bytes", 0) for r in runs)
    if row["jobs"] and row["jobs"] > 1:  # the same analysis in one process: what the split saves
        try:
            alone = [run_child("analyze-one-job", snap, key, timeout) for _ in range(repeat)]
        except BenchError as e:
            row["analysis_error"] = f"with one job: {e}"
            return row
        row["analysis_one_job_seconds"] = _median(alone, "seconds")
        row["ratio_one_job"] = row["analysis_one_job_seconds"] / row["json_load_seconds"]
    if escalation_baseline:
        try:
            plain = [run_child("analyze-no-escalation", snap, key, timeout) for _ in range(repeat)]
        except BenchError as e:
            row["analysis_error"] = f"without escalation: {e}"
            return row
        row["analyze_no_escalation_seconds"] = _median(plain, "analyze_seconds")
        row["datasets_reached_no_escalation"] = plain[0]["datasets_reached"]
        row["escalation_factor"] = row["analyze_seconds"] / row["analyze_no_escalation_seconds"]
    return row


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def align_columns(lines: list[list[str]]) -> list[str]:
    """Right-aligned columns, a rule under the first (header) line."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def parse_sizes(parser: argparse.ArgumentParser, text: str, repeat: int) -> list[int]:
    """The ``--sizes`` list (principal counts), or a parser error; also checks ``--repeat``."""
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {text!r}")
    if not sizes or min(sizes) < 10 or repeat < 1:
        parser.error("--sizes must be integers >= 10 and --repeat >= 1")
    return sizes


def render_table(rows: list[dict[str, Any]]) -> str:
    header = ["principals", "datasets", "size MB", "gen s", "json.load s", "analysis s", "ratio",
              "peak MB", "json MB", "reached"]  # fmt: skip
    lines = [header]
    mb = 1024 * 1024
    for r in rows:
        reached = (
            "—" if r["datasets_reached"] is None else f"{r['datasets_reached']} ({r['reached_fraction']:.1%})"
        )
        gen = _fmt(r["generation_seconds"], ".2f") + (" (cached)" if r["cached"] else "")
        lines.append(
            [
                f"{r['principals']:,}",
                f"{r['datasets']:,}",
                f"{r['snapshot_bytes'] / mb:.1f}",
                gen,
                _fmt(r["json_load_seconds"], ".3f"),
                _fmt(r["analysis_seconds"], ".3f"),
                _fmt(r["ratio"], ".1f") + ("x" if r["ratio"] is not None else ""),
                _fmt(r["peak_rss_bytes"] and r["peak_rss_bytes"] / mb, ".0f"),
                f"{r['json_load_peak_rss_bytes'] / mb:.0f}",
                reached,
            ]
        )
    out = align_columns(lines)
    for r in rows:
        if r.get("ratio_one_job") is not None:
            out.append(
                f"N={r['principals']}: the search used {r['jobs']} processes; in one: "
                f"{r['analysis_one_job_seconds']:.3f}s, ratio {r['ratio_one_job']:.1f}x"
            )
    for r in rows:
        if r.get("escalation_factor") is not None:
            out.append(
                f"N={r['principals']}: analyze {r['analyze_seconds']:.3f}s with escalation "
                f"({r['escalations']} fired), {r['analyze_no_escalation_seconds']:.3f}s without: "
                f"{r['escalation_factor']:.2f}x"
            )
    for r in rows:
        if r["analysis_error"]:
            out.append(f"N={r['principals']}: analysis: {r['analysis_error']}")
    return "\n".join(out)


def add_common_arguments(
    parser: argparse.ArgumentParser, *, repeat_help: str, timeout: float = 900.0, regenerate: bool = True
) -> None:
    """The options every benchmark of this directory takes (sizes, repeats, output, seed, cache)."""
    parser.add_argument(
        "--sizes", default="1000,10000", help="comma-separated principal counts (default: %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=3, help=repeat_help)
    parser.add_argument("--out", type=Path, help="also write the JSON results to this file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--cache-dir", type=Path, help="where generated snapshots are kept (default: a private temp dir)"
    )
    if regenerate:
        parser.add_argument("--regenerate", action="store_true", help="ignore cached snapshots")
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds per subprocess run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, repeat_help="fresh-process runs per measurement (median)")
    parser.add_argument("--skip-analysis", action="store_true", help="only generate and time json.load")
    parser.add_argument(
        "--skip-escalation-baseline",
        action="store_true",
        help="do not also time the analysis without escalation edges",
    )
    args = parser.parse_args(argv)
    sizes = parse_sizes(parser, args.sizes, args.repeat)

    rows: list[dict[str, Any]] = []
    try:
        cache = _cache_dir(args.cache_dir)
        for n in sizes:
            print(f"bench: N={n} …", file=sys.stderr, flush=True)
            rows.append(
                bench_size(
                    n,
                    repeat=args.repeat,
                    seed=args.seed,
                    cache=cache,
                    regenerate=args.regenerate,
                    timeout=args.timeout,
                    analysis=not args.skip_analysis,
                    escalation_baseline=not args.skip_escalation_baseline,
                )
            )
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    results = {
        "schema": "blastradius.bench/v1",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "repeat": args.repeat,
        "seed": args.seed,
        "analysis_api": ANALYSIS_API,
        "results": rows,
    }
    print(render_table(rows), file=sys.stderr)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    failed = [r for r in rows if r["analysis_error"] and not args.skip_analysis]
    if failed:
        print(
            f"bench: the analysis part did not run for {len(failed)} size(s) (see above; it needs "
            f"{ANALYSIS_API}); the json.load figures are reported",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

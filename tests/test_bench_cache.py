"""benchmarks/bench.py's snapshot cache: concurrent runs never see a half-written snapshot or meta file.

The cache is shared by every benchmark run of the user (``$TMPDIR/blastradius-bench-UID``). Each file is
written to a temp file of the same directory and renamed into place with ``os.replace`` (atomic on POSIX,
"rename(2)"), the meta file after the snapshot, both mode 0600.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from blastradius.model import Snapshot

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
SIZE = (20, 200, 10, 3)  # principals, datasets, policies, seed


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _paths(bench: ModuleType, cache: Path) -> tuple[Path, Path]:
    principals, datasets, policies, seed = SIZE
    stem = f"synth-n{principals}-m{datasets}-p{policies}-s{seed}-{bench._generator_digest()}"
    return cache / f"{stem}.json", cache / f"{stem}.meta.json"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_snapshot_and_meta_are_whole_private_and_then_cached(
    bench: ModuleType, tmp_path: Path
) -> None:
    cache = bench._cache_dir(tmp_path / "cache")
    snap, meta = _paths(bench, cache)
    info = bench.ensure_snapshot(*SIZE, cache, False)
    assert info["cached"] is False
    assert info["snapshot"] == str(snap)  # the final name, not the temp file synth.py wrote
    assert sorted(cache.iterdir()) == sorted([snap, meta])  # no temp file left behind
    assert _mode(snap) == 0o600 and _mode(meta) == 0o600
    assert json.loads(meta.read_text(encoding="utf-8"))["snapshot"] == str(snap)
    loaded = Snapshot.from_json(json.loads(snap.read_text(encoding="utf-8")), source=str(snap))
    assert len(loaded.users) + len(loaded.roles) == SIZE[0]

    again = bench.ensure_snapshot(*SIZE, cache, False)
    assert again["cached"] is True and again["snapshot"] == str(snap)


def _fake_synth(cache: Path, snap: Path, meta: Path, *, returncode: int = 0) -> tuple[list[str], Any]:
    """A synth.py stand-in that writes its output in two halves and, between them, reads the cache the
    way a concurrent benchmark run would."""
    seen: list[str] = []

    def run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        out = Path(cmd[cmd.index("--out") + 1])
        assert out.parent == cache and out != snap
        with out.open("w", encoding="utf-8") as fh:
            fh.write('{"schema": "blastradius.snapshot/v1", "half":')
            fh.flush()
            # Mid-write: the cache still holds the previous, whole snapshot and its meta file.
            seen.append(snap.read_text(encoding="utf-8"))
            seen.append(meta.read_text(encoding="utf-8"))
            fh.write(' "new"}')
        summary = {"snapshot": str(out), "broad_keys": ["AKIANEW"], "narrow_keys": [], "seed": SIZE[3]}
        return subprocess.CompletedProcess(cmd, returncode, json.dumps(summary), "synth: boom")

    return seen, run


def test_regeneration_replaces_snapshot_then_meta_atomically(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = bench._cache_dir(tmp_path / "cache")
    snap, meta = _paths(bench, cache)
    snap.write_text('{"old": "whole"}', encoding="utf-8")
    meta.write_text(json.dumps({"snapshot": str(snap), "broad_keys": ["AKIAOLD"]}), encoding="utf-8")
    seen, run = _fake_synth(cache, snap, meta)
    monkeypatch.setattr(bench.subprocess, "run", run)
    replaced: list[Path] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        replaced.append(Path(dst))
        real_replace(src, dst)

    monkeypatch.setattr(bench.os, "replace", replace)

    info = bench.ensure_snapshot(*SIZE, cache, True)

    assert seen == ['{"old": "whole"}', json.dumps({"snapshot": str(snap), "broad_keys": ["AKIAOLD"]})]
    assert replaced == [snap, meta]  # the meta file only once the snapshot is in place
    assert snap.read_text(encoding="utf-8") == '{"schema": "blastradius.snapshot/v1", "half": "new"}'
    assert json.loads(meta.read_text(encoding="utf-8"))["broad_keys"] == ["AKIANEW"]
    assert info["snapshot"] == str(snap) and info["cached"] is False
    assert sorted(cache.iterdir()) == sorted([snap, meta])
    assert _mode(snap) == 0o600 and _mode(meta) == 0o600


def test_failed_generation_leaves_the_cache_as_it_was(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = bench._cache_dir(tmp_path / "cache")
    snap, meta = _paths(bench, cache)
    snap.write_text('{"old": "whole"}', encoding="utf-8")
    meta.write_text('{"old": "meta"}', encoding="utf-8")
    _, run = _fake_synth(cache, snap, meta, returncode=1)
    monkeypatch.setattr(bench.subprocess, "run", run)

    with pytest.raises(bench.BenchError, match=r"synth\.py failed"):
        bench.ensure_snapshot(*SIZE, cache, True)

    assert sorted(cache.iterdir()) == sorted([snap, meta])  # the half-written temp file is gone
    assert snap.read_text(encoding="utf-8") == '{"old": "whole"}'
    assert meta.read_text(encoding="utf-8") == '{"old": "meta"}'


def test_a_missing_cache_is_generated_without_ever_exposing_the_final_name_half_written(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = bench._cache_dir(tmp_path / "cache")
    snap, meta = _paths(bench, cache)
    exists_mid_write: list[bool] = []

    def run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        out = Path(cmd[cmd.index("--out") + 1])
        out.write_text('{"half":', encoding="utf-8")
        exists_mid_write.append(snap.exists() or meta.exists())
        out.write_text('{"whole": true}', encoding="utf-8")
        return subprocess.CompletedProcess(cmd, 0, json.dumps({"snapshot": str(out)}), "")

    monkeypatch.setattr(bench.subprocess, "run", run)
    bench.ensure_snapshot(*SIZE, cache, False)
    assert exists_mid_write == [False]
    assert snap.read_text(encoding="utf-8") == '{"whole": true}'

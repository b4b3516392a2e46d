"""The benchmark's synthetic-organisation generator (``benchmarks/synth.py``), loaded for tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SYNTH = Path(__file__).resolve().parent.parent / "benchmarks" / "synth.py"


def synth() -> ModuleType:
    """``benchmarks/synth.py`` as a module (it is a script, not part of the package)."""
    name = "benchmarks_synth_for_tests"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SYNTH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

"""Shared helpers of the benchmarks: timing, summary statistics, machine info, JSON output.

The benchmark scripts run as ``python benchmarks/bench_*.py``, so this module is imported
as ``_common`` (the script's folder is first on ``sys.path``). Results go to
``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "RESULTS_DIR",
    "command_line",
    "decision_times",
    "machine_info",
    "per_second",
    "summarize",
    "time_calls",
    "timed",
    "write_result",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

#: environment variables that set the BLAS / OpenMP thread pools
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: the decision time of the first call; later calls step one second at a time
BASE_TIME = pd.Timestamp("2026-01-05T09:00:00Z")


def decision_times(start: int, count: int) -> list[pd.Timestamp]:
    """``count`` distinct decision times, one second apart, from ``BASE_TIME + start`` s.

    The decision time is part of the decision key, so each call gets fresh decision ids.
    """
    return [BASE_TIME + pd.Timedelta(seconds=start + i) for i in range(count)]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once; its wall time in seconds (``time.perf_counter``) and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def time_calls(fns: Sequence[Callable[[], Any]], *, collect: bool = True) -> list[float]:
    """Wall time of each call in turn (seconds); a full garbage collection first if asked.

    The garbage collector stays enabled while timing, as in production.
    """
    if collect:
        gc.collect()
    times = []
    for fn in fns:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def summarize(seconds: Sequence[float], *, unit: str = "s") -> dict[str, float | int]:
    """min / median / mean / p90 / p99 / max of timings (seconds), in seconds or milliseconds."""
    scale = {"s": 1.0, "ms": 1e3}[unit]
    a = np.asarray(seconds, dtype=np.float64) * scale
    stats = {
        "min": a.min(),
        "median": np.median(a),
        "mean": a.mean(),
        "p90": np.percentile(a, 90),
        "p99": np.percentile(a, 99),
        "max": a.max(),
    }
    # five significant digits: far below the run-to-run noise
    return {"n": len(a), **{k: float(f"{v:.5g}") for k, v in stats.items()}}


def per_second(items: int, seconds: float) -> float:
    """Throughput, rounded to a whole number of items per second."""
    return round(items / seconds) if seconds > 0 else float("inf")


def command_line() -> str:
    """The command that ran this benchmark, with paths relative to the repository."""
    exe, script = Path(sys.executable), Path(sys.argv[0]).resolve()
    if exe.is_relative_to(REPO_DIR):
        exe = exe.relative_to(REPO_DIR)
    if script.is_relative_to(REPO_DIR):
        script = script.relative_to(REPO_DIR)
    return " ".join([str(exe), str(script), *sys.argv[1:]])


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> list[dict[str, Any]]:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")  # comes with scikit-learn
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "num_threads", "version")
    return [{k: lib.get(k) for k in keys} for lib in threadpoolctl.threadpool_info()]


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other work on the machine skews the timings)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _src_digest() -> str:
    """Short digest of the package source measured (the tree may differ from the commit)."""
    h = hashlib.sha256()
    for path in sorted((REPO_DIR / "src").rglob("*.py")):
        h.update(str(path.relative_to(REPO_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def machine_info() -> dict[str, Any]:
    """Where and on what the benchmark ran (numbers are only comparable on the same setup).

    Call it when the benchmark starts: the commit and source digest then describe the code
    that was imported; :func:`write_result` adds the load average at the end.
    """
    import xsell

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    dirty = _git("status", "--porcelain", "--", "src")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "xsell": xsell.__version__,
        "thread_pools": _blas(),
        "thread_env": {k: os.environ.get(k) for k in THREAD_ENV if k in os.environ},
        "load_average_at_start": _load_average(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "src_uncommitted_changes": None if dirty is None else bool(dirty),
        "src_sha256_12": _src_digest(),
    }


def result_name(text: str) -> str:
    """``--output``'s type: a file name under ``benchmarks/results`` (no folder, no ``.json``)."""
    if not text or text != Path(text).name or text.endswith(".json") or text in (".", ".."):
        raise argparse.ArgumentTypeError(
            f"a results name without a folder or '.json' is expected (the file is "
            f"benchmarks/results/<name>.json), got {text!r}"
        )
    return text


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``benchmarks/results/<name>.json`` and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if isinstance(payload.get("machine"), dict):
        payload["machine"]["load_average_at_end"] = _load_average()
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")

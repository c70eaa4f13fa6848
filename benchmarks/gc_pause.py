"""How long a full garbage collection holds a service worker, and the benchmarks' load generator.

A worker of ``xsell serve`` and the open-loop generator of ``bench_service.py`` are Python
processes with a large heap (xsell, pandas, NumPy, SQLAlchemy, FastAPI imported; the agent
and catalog loaded). A full collection visits every tracked object while holding the
interpreter: it stalls the event loop. This measures, in a fresh process each:

* ``worker``: the app started as a worker starts it (its lifespan run, on a fresh SQLite
  log), with ``XSELL_GC_FREEZE`` off: the tracked objects and the time of ``gc.collect()``;
  then after ``gc.freeze()`` (what the worker does with the setting on);
* ``generator``: the load generator's process (``_load`` and ``_server`` imported).

Each timing is the median of ``--repeats`` full collections. Usage::

    .venv/bin/python benchmarks/gc_pause.py   # → benchmarks/results/gc_pause.json
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import command_line, machine_info, result_name, write_result

CHILD = """
import gc, json, statistics, sys, time

def collections(repeats):
    out = []
    for _ in range(repeats):
        t = time.perf_counter(); gc.collect(); out.append(time.perf_counter() - t)
    return round(statistics.median(out) * 1e3, 1)

kind, url, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "worker":
    from fastapi.testclient import TestClient
    from xsell.service import Settings, create_app
    cfg = Settings(database_url=url, api_keys="k", model_poll_seconds=0, gc_freeze=False)
    with TestClient(create_app(cfg)) as client:
        assert client.get("/healthz").status_code == 200
        tracked, full = len(gc.get_objects()), collections(repeats)
        gc.freeze()
        after = collections(repeats)
else:
    sys.path.insert(0, sys.argv[4])
    import _load, _server  # noqa: F401  (what the generator's process holds)
    tracked, full = len(gc.get_objects()), collections(repeats)
    gc.freeze()
    after = collections(repeats)
print(json.dumps({"process": kind, "tracked_objects": tracked, "full_collection_ms": full,
                  "after_freeze_ms": after}))
"""


def run(kind: str, url: str, repeats: int) -> dict[str, Any]:
    """One measurement in a fresh process."""
    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, url, str(repeats), here],
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--output", type=result_name, default="gc_pause")
    args = p.parse_args()
    gc.collect()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'log.db'}"
        t0 = time.perf_counter()
        rows = [run(kind, url, args.repeats) for kind in ("worker", "generator")]
    for r in rows:
        print(r)
    path = write_result(
        args.output,
        {
            "benchmark": "gc_pause",
            "command": command_line(),
            "machine": machine_info(),
            "repeats": args.repeats,
            "seconds": round(time.perf_counter() - t0, 1),
            "results": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

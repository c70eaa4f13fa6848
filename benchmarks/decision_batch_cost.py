"""CPU of one decision batch of the service, by its size: decide, explain, record.

Opens the service's state on a fresh database (as ``xsell serve`` does: migrated, version 0
registered), then for batches of 1, 2, 4, 8 and 16 one-customer requests measures the CPU
time (``time.process_time``) of ``Agent.act_records``, ``Agent.explain_records`` and
``DecisionLog.record_decisions`` (the batcher's three steps), averaged over ``--repeats``
batches of fresh customers. The slope is a customer's own cost, the intercept a batch's fixed
cost. Single-threaded BLAS, as the benchmark's servers run.

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/decision_batch_cost.py            # PostgreSQL
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/decision_batch_cost.py --backend sqlite

Writes ``benchmarks/results/<--output>.json`` (default ``decision_batch_cost``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import command_line, machine_info, result_name, write_result
from _load import ID_MARK, body_templates
from _server import fresh_database
from xsell.service.settings import Settings
from xsell.service.state import open_state

SIZES = (1, 2, 4, 8, 16)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--output", type=result_name, default="decision_batch_cost")
    args = p.parse_args()
    customers = [json.loads(t)["customer"] for t in body_templates(300)]
    count = 0

    def batch(n: int) -> list[dict[str, Any]]:
        nonlocal count
        out = []
        for _ in range(n):
            count += 1
            out.append({**customers[count % len(customers)], "customer_id": f"c-{count}"})
        assert all(c["customer_id"] != ID_MARK for c in out)
        return out

    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(args.backend, args.pg_admin_url, Path(tmp)) as url,
    ):
        state = open_state(Settings(database_url=url, api_keys="k", model_poll_seconds=0))
        agent, log = state.agent, state.log
        for n in (SIZES[0], *SIZES):  # the first size twice: the first pass warms up
            spent = [0.0, 0.0, 0.0]
            for _ in range(args.repeats):
                cs = batch(n)
                t0 = time.process_time()
                d = agent.act_records(cs, None, mode="realtime", placement="default", top_n=1)
                t1 = time.process_time()
                texts = agent.explain_records(d)
                t2 = time.process_time()
                log.record_decisions(d, agent, explanations=texts, check_contacts=True)
                t3 = time.process_time()
                spent = [spent[0] + t1 - t0, spent[1] + t2 - t1, spent[2] + t3 - t2]
            rows.append(
                {
                    "batch_size": n,
                    **{
                        k: round(v / args.repeats * 1e3, 3)
                        for k, v in zip(
                            ("decide_ms", "explain_ms", "record_ms"), spent, strict=True
                        )
                    },
                }
            )
            print(rows[-1])
        state.close()
    write_result(
        args.output,
        {
            "benchmark": "decision_batch_cost",
            "command": command_line(),
            "machine": machine_info(),
            "backend": args.backend,
            "repeats": args.repeats,
            "results": rows[1:],
        },
    )


if __name__ == "__main__":
    main()

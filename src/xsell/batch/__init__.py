"""Batch campaigns: scoring customer files in chunks, with the real-time channel's policy.

* :func:`score_chunk`: one chunk's decisions and decision-log rows, a pure function of
  (agent, run, customers, contact snapshot): what a local chunk loop and a Spark
  ``mapInPandas`` task both call.
* :class:`ContactSnapshot`: the contact history summarized once per run (Parquet-able).
* :class:`CapacityPlan` / :class:`CapacityThresholds`: campaign capacity in two passes.
* :class:`LogRows`: the rows a batch adds to the decision log, as Arrow tables.
"""

from xsell.batch.capacity import CAPACITY_REASON, CapacityPlan, CapacityThresholds, capacity_keys
from xsell.batch.log_rows import (
    CONTACT_SCHEMA,
    DECISION_SCHEMA,
    PROTECTED_SCHEMA,
    LogRows,
    log_rows,
)
from xsell.batch.scoring import MODE, RunContext, ScoredChunk, capacity_candidates, score_chunk
from xsell.batch.snapshot import SNAPSHOT_SCHEMA, ContactSnapshot

__all__ = [
    "CAPACITY_REASON",
    "CONTACT_SCHEMA",
    "DECISION_SCHEMA",
    "MODE",
    "PROTECTED_SCHEMA",
    "SNAPSHOT_SCHEMA",
    "CapacityPlan",
    "CapacityThresholds",
    "ContactSnapshot",
    "LogRows",
    "RunContext",
    "ScoredChunk",
    "capacity_candidates",
    "capacity_keys",
    "log_rows",
    "score_chunk",
]

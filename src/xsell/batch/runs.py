"""A batch run's record: its settings (the manifest), kept where a resume or a rerun finds it.

The manifest fixes everything a run's decisions depend on: the run id, the decision time,
the chunk size, the control group, the capacities and (once pass one is done) their
thresholds, the model version and the input file's fingerprint. It is written to the run's
work folder beside the output, and to the decision log's ``batch_runs`` table when the run
logs; starting a run whose id is known resumes it with its own settings, and refuses
settings that differ, naming the one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from xsell.errors import InputError
from xsell.store.engine import read_transaction, write_transaction
from xsell.store.tables import BatchRun

__all__ = ["Manifest", "RunRecord"]

#: settings a resumed run must share with the run it resumes
_FIXED = (
    "at",
    "chunk_size",
    "control",
    "capacity",
    "model_version",
    "policy_version",
    "seed",
    "input",
)


@dataclass
class Manifest:
    """A run's settings as plain data (JSON)."""

    data: dict[str, Any]

    @property
    def run_id(self) -> str:
        """The run id."""
        return str(self.data["run_id"])

    @property
    def at(self) -> pd.Timestamp:
        """The run's decision time."""
        return pd.Timestamp(self.data["at"])

    def check_same(self, other: Manifest) -> None:
        """Refuse ``other`` (this run's settings now) if it differs from this (the stored)."""
        for key in _FIXED:
            if key == "at" and other.data.get("at") is None:
                continue
            if self.data.get(key) != other.data.get(key):
                raise InputError(
                    f"run {self.run_id!r} was started with {key} = {self.data.get(key)!r}, "
                    f"now {other.data.get(key)!r}: resume it with the same settings (and the "
                    "same file and model), or start another run (--run-id)"
                )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


class RunRecord:
    """Where a run's manifest lives: its work folder and, when it logs, the decision log."""

    def __init__(self, work: Path, engine: Engine | None) -> None:
        self.work = work
        self.engine = engine
        self.path = work / "manifest.json"

    def stored(self, run_id: str) -> Manifest | None:
        """The manifest of ``run_id`` if the run was started before."""
        if self.path.exists():
            data = json.loads(self.path.read_text())
            if data.get("run_id") == run_id:
                return Manifest(data)
            raise InputError(
                f"{str(self.work)!r} holds the work of run {data.get('run_id')!r}, not "
                f"{run_id!r}: finish that run, or write the output elsewhere"
            )
        if self.engine is not None:
            with read_transaction(self.engine) as conn:
                row = conn.execute(
                    select(BatchRun.settings).where(BatchRun.run_id == run_id)
                ).scalar()
            if row is not None:
                return Manifest(dict(row))
        return None

    def save(self, manifest: Manifest, *, now: datetime) -> None:
        """Store the manifest in the work folder and (when logging) in the log."""
        self.work.mkdir(parents=True, exist_ok=True)
        _write_json(self.path, manifest.data)
        if self.engine is None:
            return
        with write_transaction(self.engine) as conn:
            found = conn.execute(
                select(BatchRun.run_id).where(BatchRun.run_id == manifest.run_id)
            ).scalar()
            if found is None:
                conn.execute(
                    insert(BatchRun),
                    {
                        "run_id": manifest.run_id,
                        "at": manifest.at.to_pydatetime(),
                        "created_at": now,
                        "settings": manifest.data,
                        "status": "running",
                    },
                )
            else:
                conn.execute(
                    update(BatchRun)
                    .where(BatchRun.run_id == manifest.run_id)
                    .values(settings=manifest.data)
                )

    def finish(self, run_id: str, *, rows: int, offers: int, now: datetime) -> None:
        """Mark the run done in the log."""
        if self.engine is None:
            return
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(BatchRun)
                .where(BatchRun.run_id == run_id)
                .values(status="done", finished_at=now, rows=rows, offers=offers)
            )

"""A local run's part files: each chunk's decisions, published once they are logged.

A run writing ``out`` keeps its work in ``<out>.parts``: chunk ``i``'s decisions are
``part-<i>.parquet``, which exists whole (written under another name, then renamed) and
only once the chunk's decisions are logged, so the parts present are the chunks a rerun
skips. A worker process writes a chunk it decided as ``part-<i>.decided`` first; the
runner publishes it (renames it to the part) after logging it. The parts are joined into
``out`` when every chunk is done.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

__all__ = [
    "counts",
    "decided_path",
    "join_parts",
    "part_counts",
    "part_path",
    "work_dir",
    "write_part",
]


def work_dir(out: Path) -> Path:
    """The run's work folder beside its output."""
    return out.with_name(out.name + ".parts")


def part_path(work: Path, i: int) -> Path:
    """Chunk ``i``'s part (present once its decisions are logged)."""
    return work / f"part-{i:06d}.parquet"


def decided_path(work: Path, i: int) -> Path:
    """Chunk ``i``'s decisions as a worker wrote them, before they are logged."""
    return work / f"part-{i:06d}.decided"


def write_part(path: Path, decisions: pd.DataFrame) -> None:
    """Write decisions to ``path`` whole or not at all.

    The temporary name is the writer's own: a worker left running by a killed run may still
    write the same chunk while a rerun does.
    """
    table = pa.Table.from_pandas(decisions, preserve_index=False).replace_schema_metadata(None)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def counts(decisions: pd.DataFrame) -> tuple[int, int]:
    """Offers and control-group customers among some decisions."""
    offers = int(decisions["product"].notna().sum())
    return offers, int((decisions["traffic_group"].astype(str) == "control").sum())


def part_counts(path: Path) -> tuple[int, int]:
    """:func:`counts` of a written part."""
    return counts(pq.read_table(path, columns=["product", "traffic_group"]).to_pandas())


def join_parts(parts: list[Path], out: Path) -> None:
    """Join the parts, in order, into ``out`` (``.csv``: CSV, else Parquet)."""
    tmp = out.with_name(out.name + ".tmp")
    csv = out.suffix.lower() == ".csv"
    writer: pq.ParquetWriter | pcsv.CSVWriter | None = None
    try:
        for path in parts:
            table = pq.read_table(path)
            if csv:
                table = pa.table(
                    [
                        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
                        for c in table.columns
                    ],
                    names=table.column_names,
                )
            if writer is None:
                writer = (
                    pcsv.CSVWriter(tmp, table.schema)
                    if csv
                    else pq.ParquetWriter(tmp, table.schema)
                )
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, out)

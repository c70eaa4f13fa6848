"""Customer files (Parquet or CSV): checked whole before any decision, then read in chunks.

:meth:`CustomerFile.check` reads the file once, column by column through Arrow, and
refuses it (:class:`~xsell.errors.SchemaError` / :class:`~xsell.errors.InputError`, naming
the column, the row and the problem) when a column the agent needs is missing or of the
wrong type, a propensity is not a probability, a flag is not 0/1, or a customer id is
missing or duplicated. Duplicates are found with bounded memory: the ids' 64-bit hashes
are spilled to bucket files by their top bits and each bucket is checked alone.
:meth:`CustomerFile.chunks` then yields exactly ``chunk_size`` rows at a time (the last
chunk excepted), so chunk ``i`` is always the same customers.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from xsell._rng import hash_keys
from xsell.errors import InputError, SchemaError

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["CustomerFile", "FileCheck", "chunk_frame", "required_columns"]

_BUCKET_BITS = 6  # 64 bucket files: a bucket holds 1/64 of the ids' hashes
_READ_ROWS = 65_536
_CSV_BLOCK = 8 << 20


@dataclass(frozen=True)
class Columns:
    """The columns the agent reads, by the kind of value each must hold."""

    customer_id: str
    numeric: tuple[str, ...]
    probability: tuple[str, ...]
    boolean: tuple[str, ...]
    text: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def required(self) -> tuple[str, ...]:
        """Every required column, once, in a stable order."""
        cols = (self.customer_id, *self.numeric, *self.probability, *self.boolean, *self.text)
        return tuple(dict.fromkeys(cols))


def required_columns(agent: Agent) -> Columns:
    """The columns a batch run of ``agent`` needs (mode "batch"), and the optional ones."""
    spec, catalog = agent.spec, agent.catalog
    numeric = list(spec.numeric + spec.market)
    prob = [c for c in (spec.propensity_column(p) for p in catalog.product_ids) if c]
    boolean = list(spec.boolean) + [p.owned_col for p in catalog.products if p.active]
    channels = (
        [c for p in catalog.products for c in p.channel_choices]
        if agent.arms.by_channel
        else [p.channels["batch"] for p in catalog.products if p.active]
    )
    boolean += [c for c in (spec.consent_column(ch) for ch in dict.fromkeys(channels)) if c]
    text = list(spec.categorical)
    for p in catalog.products:
        if not p.active:
            continue
        for rule in (*p.eligibility, *p.suitability):
            if rule.min is not None or rule.max is not None:
                numeric.append(rule.field)
            elif rule.field not in numeric + boolean:
                text.append(rule.field)
    taken = set(numeric) | set(prob) | set(boolean)
    return Columns(
        customer_id=spec.customer_id,
        numeric=tuple(dict.fromkeys(numeric)),
        probability=tuple(dict.fromkeys(prob)),
        boolean=tuple(dict.fromkeys(boolean)),
        text=tuple(c for c in dict.fromkeys(text) if c not in taken),
        optional=tuple(spec.protected),
    )


@dataclass(frozen=True)
class FileCheck:
    """What checking a file found: its rows, and a fingerprint of its customer ids (in order)
    and row count, which a resumed run must match."""

    rows: int
    fingerprint: str


def _is_numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def _is_textual(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_textual(t.value_type)
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or _is_numeric(t)
        or pa.types.is_null(t)
    )


def chunk_frame(table: pa.Table, first_row: int) -> pd.DataFrame:
    """A chunk's customers as the agent reads them, indexed by their rows in the file."""
    frame: pd.DataFrame = table.to_pandas()
    frame.index = pd.RangeIndex(first_row, first_row + len(frame))
    return frame


class CustomerFile:
    """A customer file to score: Parquet (``.parquet``/``.pq``, or a folder of them) or CSV.

    Parameters
    ----------
    path
        The file.
    columns
        What to read (:func:`required_columns`).
    chunk_size
        Rows per chunk.
    """

    def __init__(self, path: str | Path, columns: Columns, chunk_size: int) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"`customers` file {str(self.path)!r} does not exist")
        if chunk_size < 1:
            raise InputError(f"`chunk_size` must be >= 1, got {chunk_size}")
        self.columns = columns
        self.chunk_size = int(chunk_size)
        self.format = "csv" if self.path.suffix.lower() in (".csv", ".gz") else "parquet"
        self._present = self._schema_names()
        missing = [c for c in columns.required if c not in self._present]
        if missing:
            raise SchemaError(
                f"`customers` file is missing the column {missing[0]!r}"
                + (f" (and {len(missing) - 1} more: {missing[1:6]})" if len(missing) > 1 else "")
            )
        self.read_columns = [
            *columns.required,
            *[c for c in columns.optional if c in self._present],
        ]

    # -- schema ---------------------------------------------------------------------------------
    def _schema_names(self) -> list[str]:
        if self.format == "parquet":
            try:
                return list(pq.read_schema(self._parquet_files()[0]).names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(
                    f"`customers` file is not a readable Parquet file: {exc}"
                ) from None
        try:
            reader = pcsv.open_csv(self.path, read_options=pcsv.ReadOptions(block_size=1 << 16))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"`customers` file is not a readable CSV file: {exc}") from None
        return list(reader.schema.names)

    def _parquet_files(self) -> list[Path]:
        if self.path.is_dir():
            files = sorted(self.path.glob("*.parquet"))
            if not files:
                raise InputError(f"`customers` folder {str(self.path)!r} holds no .parquet file")
            return files
        return [self.path]

    def _csv_types(self) -> dict[str, pa.DataType]:
        c = self.columns
        types: dict[str, pa.DataType] = {c.customer_id: pa.string()}
        types.update({col: pa.float64() for col in (*c.numeric, *c.probability)})
        types.update({col: pa.bool_() for col in c.boolean})
        types.update({col: pa.string() for col in (*c.text, *c.optional)})
        return types

    def _check_types(self, schema: pa.Schema) -> None:
        c = self.columns
        for name in (*c.numeric, *c.probability, *c.boolean):
            t = schema.field(name).type
            if not _is_numeric(t):
                raise SchemaError(f"`customers` column {name!r} must be numeric, got type {t}")
        for name in (c.customer_id, *c.text):
            t = schema.field(name).type
            if not _is_textual(t):
                raise SchemaError(
                    f"`customers` column {name!r} must hold text or numbers, got type {t}"
                )

    # -- reading --------------------------------------------------------------------------------
    def _checked_columns(self) -> list[str]:
        """The columns whose values :meth:`check` reads (the others' types are in the schema;
        a CSV file is parsed whole whatever is read)."""
        c = self.columns
        return list(dict.fromkeys((c.customer_id, *c.probability, *c.boolean)))

    def _batches(self, rows: int, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The file's columns to read (or only ``columns`` of a Parquet file), as tables of
        about ``rows`` rows."""
        if self.format == "parquet":
            for path in self._parquet_files():
                # no pre-buffering: it holds whole row groups ahead, and memory then grows
                # with the file's row groups
                pf = pq.ParquetFile(path, pre_buffer=False)
                self._check_types(pf.schema_arrow)
                names = self.read_columns if columns is None else columns
                for batch in pf.iter_batches(batch_size=rows, columns=names):
                    yield pa.Table.from_batches([batch])
            return
        convert = pcsv.ConvertOptions(
            column_types=self._csv_types(),
            include_columns=self.read_columns,
            strings_can_be_null=True,
        )
        done = 0
        try:
            reader = pcsv.open_csv(
                self.path,
                read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK),
                convert_options=convert,
            )
            for batch in reader:
                done += batch.num_rows
                yield pa.Table.from_batches([batch])
        except pa.ArrowInvalid as exc:
            raise self._csv_error(exc, done) from None

    def _csv_error(self, exc: pa.ArrowInvalid, done: int) -> InputError:
        text = str(exc)
        m = re.search(r"column #(\d+)", text)
        what = re.sub(
            r"^.*?conversion error to (\w+): ", r"expected \1, got ", text.splitlines()[0]
        )
        if m is not None:
            col = self._present[int(m.group(1))] if int(m.group(1)) < len(self._present) else "?"
            return SchemaError(
                f"`customers` column {col!r} has a value of the wrong type (in the rows from "
                f"{done} on): {what}"
            )
        return InputError(
            f"`customers` CSV file cannot be read (in the rows from {done} on): {what}"
        )

    def _rechunk(self, size: int) -> Iterator[pa.Table]:
        """Tables of exactly ``size`` rows (the last one excepted)."""
        pending: list[pa.Table] = []
        held = 0
        for table in self._batches(min(size, _READ_ROWS) if self.format == "parquet" else size):
            pending.append(table)
            held += table.num_rows
            while held >= size:
                whole = pa.concat_tables(pending)
                yield whole.slice(0, size)
                rest = whole.slice(size)
                pending, held = ([rest] if rest.num_rows else []), rest.num_rows
        if held:
            yield pa.concat_tables(pending)

    def numbered_tables(self, start: int = 0) -> Iterator[tuple[int, pa.Table]]:
        """``(chunk index, chunk)`` as Arrow tables from chunk ``start`` on (earlier chunks
        are read, not kept)."""
        for i, table in enumerate(self._rechunk(self.chunk_size)):
            if i >= start:
                yield i, table

    def chunks(self, start: int = 0) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(chunk index, customers)`` from chunk ``start`` on (earlier chunks are read, not
        converted)."""
        for i, table in self.numbered_tables(start):
            yield i, chunk_frame(table, i * self.chunk_size)

    def tables(self) -> Iterator[pa.Table]:
        """The file as Arrow tables of ``chunk_size`` rows."""
        yield from self._rechunk(self.chunk_size)

    # -- checking -------------------------------------------------------------------------------
    def check(self) -> FileCheck:
        """Read the whole file once and refuse it if anything is wrong (see the module doc)."""
        rows = 0
        digest = hashlib.sha256()
        with tempfile.TemporaryDirectory(prefix="xsell-ids-") as d:
            buckets = [Path(d) / f"{b:03d}.u64" for b in range(1 << _BUCKET_BITS)]
            files = [p.open("ab") for p in buckets]
            try:
                for table in self._batches(_READ_ROWS, self._checked_columns()):
                    self._check_values(table, rows)
                    keys = self._id_keys(table, rows)
                    digest.update(keys.tobytes())
                    order = np.argsort(keys >> np.uint64(64 - _BUCKET_BITS), kind="stable")
                    sorted_keys = keys[order]
                    bucket = (sorted_keys >> np.uint64(64 - _BUCKET_BITS)).astype(np.int64)
                    bounds = np.searchsorted(bucket, np.arange((1 << _BUCKET_BITS) + 1))
                    for b, f in enumerate(files):
                        if bounds[b + 1] > bounds[b]:
                            sorted_keys[bounds[b] : bounds[b + 1]].tofile(f)
                    rows += table.num_rows
            finally:
                for f in files:
                    f.close()
            twins = self._twin_keys(buckets)
        if len(twins):
            self._name_duplicate(twins)
        if rows == 0:
            raise InputError("`customers` file has no rows")
        digest.update(str(rows).encode())
        return FileCheck(rows, digest.hexdigest()[:16])

    def _id_keys(self, table: pa.Table, offset: int) -> np.ndarray:
        col = table[self.columns.customer_id]
        if col.null_count:
            row = offset + int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(
                f"`customers` column {self.columns.customer_id!r} has a missing id (row {row})"
            )
        ids = col.cast(pa.string()).to_numpy(zero_copy_only=False)
        return hash_keys(np.asarray(ids, dtype=object))

    def _check_values(self, table: pa.Table, offset: int) -> None:
        for name in self.columns.probability:
            col = table[name]
            bad = pc.or_(pc.less(col, 0), pc.greater(col, 1))
            if pc.any(bad).as_py():
                row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False) == True)[0])  # noqa: E712
                value = (
                    col[row].as_py()
                    if isinstance(col, pa.Array)
                    else col.combine_chunks()[row].as_py()
                )
                raise InputError(
                    f"`customers` column {name!r} must hold probabilities in [0, 1], got "
                    f"{value:g} (row {offset + row})"
                )
        for name in self.columns.boolean:
            col = table[name]
            if pa.types.is_boolean(col.type):
                continue
            ok = pc.or_(pc.equal(col, 0), pc.equal(col, 1))
            bad = pc.and_(pc.invert(ok), pc.is_valid(col))
            if pc.any(bad).as_py():
                row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False) == True)[0])  # noqa: E712
                value = col.combine_chunks()[row].as_py()
                raise SchemaError(
                    f"`customers` column {name!r} must be boolean (true/false or 0/1), got "
                    f"{value!r} (row {offset + row})"
                )

    @staticmethod
    def _twin_keys(buckets: list[Path]) -> np.ndarray:
        twins = []
        for path in buckets:
            keys = np.sort(np.fromfile(path, dtype=np.uint64))
            same = keys[1:] == keys[:-1]
            if same.any():
                twins.append(np.unique(keys[1:][same]))
        return np.concatenate(twins) if twins else np.zeros(0, dtype=np.uint64)

    def _name_duplicate(self, twins: np.ndarray) -> None:
        """A second pass over the ids with a colliding hash: name a real duplicate."""
        seen: dict[str, int] = {}
        rows = 0
        for table in self._batches(_READ_ROWS, [self.columns.customer_id]):
            keys = self._id_keys(table, rows)
            hit = np.flatnonzero(np.isin(keys, twins))
            ids = table[self.columns.customer_id].cast(pa.string())
            for i in hit.tolist():
                cid = str(ids[i].as_py())
                if cid in seen:
                    raise InputError(
                        f"`customers` column {self.columns.customer_id!r} has duplicated customer "
                        f"id {cid!r} (rows {seen[cid]} and {rows + i}); each customer is decided "
                        "once per run"
                    )
                seen[cid] = rows + i
            rows += table.num_rows

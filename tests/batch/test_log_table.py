"""The one-row-per-decision layout of a Spark job's output gives back the exact log rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xsell
from xsell.batch import ContactSnapshot, LogRows, RunContext, score_chunk
from xsell.batch.log_table import LOG_TABLE_SCHEMA, from_log_table, read_log_table, to_log_table
from xsell.control_group import ControlGroup
from xsell.errors import InputError

AT = pd.Timestamp("2026-01-05T02:00:00Z")


@pytest.fixture(scope="module")
def rows() -> LogRows:
    """Log rows with offers (contacts), no-offers, a control group and protected attributes."""
    agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=41)
    customers = xsell.make_customers(600, seed=41)
    agent.fit_features(customers)
    contacts = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].iloc[:200],
            "product_id": "mortgage",
            "at": AT - pd.Timedelta(days=3),
        }
    )
    snap = ContactSnapshot.from_contacts(contacts, agent.catalog, AT)
    run = RunContext("r", AT, control=ControlGroup(0.2, salt="t"))
    out = score_chunk(agent, customers, run, snap).log
    assert 0 < out.contacts.num_rows < out.decisions.num_rows
    assert out.protected.num_rows == out.decisions.num_rows
    return out


def _same(a: LogRows, b: LogRows) -> None:
    assert a.decisions.equals(b.decisions)
    assert a.contacts.sort_by("decision_id").equals(b.contacts.sort_by("decision_id"))
    assert a.protected.sort_by("decision_id").equals(b.protected.sort_by("decision_id"))


def test_round_trip_is_exact(rows: LogRows) -> None:
    table = to_log_table(rows)
    assert table.schema.equals(LOG_TABLE_SCHEMA)
    assert table.num_rows == rows.decisions.num_rows
    assert table["window_ends_at"].null_count == rows.decisions.num_rows - rows.contacts.num_rows
    _same(from_log_table(table), rows)


def test_a_spark_written_file_reads_back_exactly(rows: LogRows, tmp_path: Path) -> None:
    # Spark's defaults: timestamps as INT96 (read back naive), small ints widened
    table = to_log_table(rows)
    spark_like = table.set_column(
        table.schema.get_field_index("at"), "at", table["at"].cast(pa.timestamp("ns"))
    ).set_column(table.schema.get_field_index("rank"), "rank", table["rank"].cast(pa.int32()))
    folder = tmp_path / "decisions"
    folder.mkdir()
    pq.write_table(spark_like.slice(0, 250), folder / "part-00000.parquet")
    pq.write_table(spark_like.slice(250), folder / "part-00001.parquet")
    (folder / "_SUCCESS").write_text("")
    chunks = list(read_log_table(folder, batch_rows=100))
    assert max(c.decisions.num_rows for c in chunks) <= 100
    got = LogRows.concat(chunks)
    assert sorted(got.decisions["id"].to_pylist()) == sorted(rows.decisions["id"].to_pylist())
    _same(
        LogRows(got.decisions.sort_by("id"), got.contacts, got.protected),
        LogRows(rows.decisions.sort_by("id"), rows.contacts, rows.protected),
    )


def test_a_file_without_the_log_columns_is_refused(rows: LogRows, tmp_path: Path) -> None:
    pq.write_table(to_log_table(rows).drop_columns(["blocked"]), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="missing the columns \\['blocked'\\]"):
        list(read_log_table(tmp_path / "x.parquet"))
    with pytest.raises(InputError, match="no decisions at"):
        list(read_log_table(tmp_path / "nowhere"))

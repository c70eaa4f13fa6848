"""``xsell score --engine spark``: the same decisions as the local engine, loaded idempotently.

One evening run is scored twice from the same log state (a morning run's contacts: caps and
cool-off), with a control group and binding campaign capacities: by the local engine into
one copy of the log and by Spark (local mode) into another. Every row the two add to the
log must be equal, bit for bit.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

import xsell
import xsell.batch.spark.run as spark_run
from tests.store.conftest import db_url  # noqa: F401  (fixture: a fresh SQLite / PostgreSQL log)
from xsell.batch.log_table import load_log_table
from xsell.batch.runner import BatchOptions, run_batch
from xsell.cli import app
from xsell.errors import InputError, MissingExtraError
from xsell.store import ModelRegistry, make_engine, migrate

MORNING = "2026-01-05T06:00:00Z"
EVENING = "2026-01-05T18:00:00Z"
CAPS = {"mortgage": 40, "travel_credit_card": 120}
N = 3_000


@pytest.fixture(scope="module")
def agent() -> xsell.Agent:
    """A trained agent (past the warm-up, so Thompson sampling explores: draws matter)."""
    a = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=31)
    ref = xsell.make_customers(6_000, seed=31)
    a.fit_features(ref)
    d = a.act(ref, at=pd.Timestamp(MORNING) - pd.Timedelta(days=30), mode="batch")
    offered = d[d["product"].notna()]
    rng = np.random.default_rng(31)
    a.update(offered.assign(conversion=(rng.random(len(offered)) < 0.1).astype(int)))
    return a


def _evening_cmd(url: str, customers: Path, out: Path, *engine: str) -> list[str]:
    caps = ",".join(f"{p}={c}" for p, c in CAPS.items())
    return [
        "score",
        str(customers),
        "--out",
        str(out),
        "--database-url",
        url,
        "--run-id",
        "evening",
        "--at",
        EVENING,
        "--control-share",
        "0.1",
        "--capacity",
        caps,
        *engine,
    ]


@dataclass(frozen=True)
class Runs:
    """The evening run scored by each engine, each into its own copy of the log."""

    local: Engine
    spark: Engine
    spark_url: str
    customers: Path
    local_out: Path
    spark_out: Path


@pytest.fixture(scope="module")
def runs(agent: xsell.Agent, tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Runs:
    d = tmp_path_factory.mktemp("spark-vs-local")
    customers = d / "customers.parquet"
    frame = xsell.make_customers(N, seed=32)
    frame.to_parquet(customers)
    frame.iloc[: N // 2].to_parquet(d / "morning.parquet")
    local_url = f"sqlite:///{d / 'local.db'}"
    migrate(local_url)
    local = make_engine(local_url)
    ModelRegistry(local).register(agent)
    served = ModelRegistry(local).load()
    opts = BatchOptions(run_id="morning", at=MORNING)
    run_batch(
        served, d / "morning.parquet", d / "morning-offers.parquet", engine=local, options=opts
    )
    local.dispose()
    shutil.copy(d / "local.db", d / "spark.db")
    spark_url = f"sqlite:///{d / 'spark.db'}"
    cli = CliRunner()
    a = cli.invoke(app, _evening_cmd(local_url, customers, d / "offers.parquet"))
    assert a.exit_code == 0, a.output
    b = cli.invoke(
        app,
        _evening_cmd(
            spark_url, customers, d / "decisions", "--engine", "spark", "--spark-master", "local[2]"
        ),
    )
    assert b.exit_code == 0, b.output
    assert f"{N:,} decisions logged" in " ".join(b.output.split())
    return Runs(
        make_engine(local_url),
        make_engine(spark_url),
        spark_url,
        customers,
        d / "offers.parquet",
        d / "decisions",
    )


def _rows(engine: Engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn)


EVENING_ROWS = {
    "decisions": "select * from decisions where placement = 'evening' order by id",
    "contacts": "select c.* from contacts c join decisions d on d.id = c.decision_id "
    "where d.placement = 'evening' order by c.decision_id",
    "protected_attributes": "select p.* from protected_attributes p join decisions d "
    "on d.id = p.decision_id where d.placement = 'evening' order by p.decision_id",
}


def test_spark_equals_local(runs: Runs) -> None:
    for table, sql in EVENING_ROWS.items():
        local, spark = _rows(runs.local, sql), _rows(runs.spark, sql)
        assert len(local) > 0, table
        pd.testing.assert_frame_equal(spark, local, check_exact=True, obj=table)
    d = _rows(runs.local, EVENING_ROWS["decisions"])
    assert len(d) == N
    # the run exercises what must match: exploration draws, the control group, the morning's
    # contacts (caps, cool-off) and campaign capacities that bind
    assert d["explored"].astype(bool).any()
    assert set(d["traffic_group"]) == {"control", "treatment"}
    assert d.loc[d["traffic_group"] == "control", "product"].isna().all()
    assert d["blocked"].str.contains("cool-off period").any()
    assert d["blocked"].str.contains("campaign capacity").any()
    offers = d["product"].value_counts()
    assert all(offers.get(p, 0) <= c for p, c in CAPS.items())
    assert any(offers.get(p, 0) == c for p, c in CAPS.items())
    # Spark's decisions file holds the local offers file's decisions
    spark_ids = ds.dataset(str(runs.spark_out)).to_table(columns=["id"])["id"].to_pylist()
    local_ids = pd.read_parquet(runs.local_out, columns=["decision_id"])["decision_id"]
    assert sorted(spark_ids) == sorted(local_ids.astype(str))


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"select count(*) from {table}")).scalar() or 0)


def test_loading_the_decisions_again_adds_nothing(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = ("decisions", "contacts", "protected_attributes")
    before = {t: _count(runs.spark, t) for t in tables}
    assert load_log_table(runs.spark, runs.spark_out, batch_rows=700) == 0
    loads: list[int] = []

    def load(engine: Engine, path: Path, **kw: Any) -> int:
        loads.append(kw["workers"])
        return load_log_table(engine, path, **kw)

    monkeypatch.setattr(spark_run, "load_log_table", load)
    # the same command again: the run is done, its decisions are loaded again, none is new
    again = CliRunner().invoke(
        app,
        _evening_cmd(
            runs.spark_url, runs.customers, runs.spark_out, "--engine", "spark", "--workers", "3"
        ),
    )
    assert again.exit_code == 0, again.output
    assert ", 0 decisions logged" in " ".join(again.output.split())
    assert loads == [3]  # --workers: the connections loading Spark's decisions
    assert {t: _count(runs.spark, t) for t in tables} == before


def test_loading_into_a_fresh_log_is_idempotent(runs: Runs, db_url: str) -> None:  # noqa: F811
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        # Spark wrote one file per task: on PostgreSQL, one connection per file at once
        assert load_log_table(engine, runs.spark_out, batch_rows=1_000, workers=3) == N
        assert load_log_table(engine, runs.spark_out, batch_rows=1_000) == 0
        for table, sql in EVENING_ROWS.items():
            loaded, local = _rows(engine, sql), _rows(runs.local, sql)
            key = "id" if table == "decisions" else "decision_id"
            assert loaded[key].tolist() == local[key].tolist(), table
        assert _count(engine, "decisions") == N
    finally:
        engine.dispose()


def test_duplicated_customers_are_refused_by_name(agent: xsell.Agent, spark: Any) -> None:
    from xsell.batch import RunContext
    from xsell.batch.spark import score_dataframe

    frame = xsell.make_customers(20, seed=33)
    frame = pd.concat([frame, frame.iloc[[7]]], ignore_index=True)
    df = spark.createDataFrame(frame)
    twin = frame["customer_id"].iloc[7]
    with pytest.raises(InputError, match=f"duplicated customer id '{twin}'"):
        score_dataframe(agent, df, RunContext("dup", EVENING))
    with pytest.raises(InputError, match="missing the column 'income'"):
        score_dataframe(agent, df.drop("income"), RunContext("dup", EVENING))


def test_without_pyspark_the_error_names_the_extra(
    agent: xsell.Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xsell.batch.spark import run_spark, spark_session

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'xsell\[spark\]'"):
        spark_session()
    customers = tmp_path / "c.parquet"
    xsell.make_customers(50, seed=34).to_parquet(customers)
    with pytest.raises(MissingExtraError, match="spark"):
        run_spark(agent, customers, tmp_path / "out")
    assert not (tmp_path / "out.work").exists()  # refused before anything was done
    agent_file = tmp_path / "agent.npz"
    agent.save(str(agent_file))
    url = f"sqlite:///{tmp_path / 'log.db'}"
    cmd = ["score", str(customers), "--out", str(tmp_path / "o"), "--database-url", url]
    result = CliRunner().invoke(app, [*cmd, "--agent", str(agent_file), "--engine", "spark"])
    assert result.exit_code == 2
    assert "xsell[spark]" in "".join(result.output.split())

"""``xsell score`` end to end on SQLite and PostgreSQL: chunking, reruns, two runs a night,
bad files, and a run killed with SIGKILL and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

import xsell
from tests.databases import fresh_database
from tests.processes import alive
from tests.store.conftest import db_url  # noqa: F401  (fixture: a fresh SQLite / PostgreSQL log)
from xsell.batch import RunContext, score_chunk
from xsell.batch.runner import BatchOptions, run_batch
from xsell.cli import app
from xsell.store import ModelRegistry, make_engine, migrate

AT = "2026-01-05T02:00:00Z"


@pytest.fixture
def log(db_url: str) -> Iterator[tuple[Engine, xsell.Agent]]:  # noqa: F811
    """A migrated log with a registered agent (version 0)."""
    migrate(db_url)
    engine = make_engine(db_url)
    agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=9)
    agent.fit_features(xsell.make_customers(3_000, seed=9))
    ModelRegistry(engine).register(agent)
    yield engine, ModelRegistry(engine).load()
    engine.dispose()


@pytest.fixture
def customers_file(tmp_path: Path) -> Path:
    path = tmp_path / "customers.parquet"
    xsell.make_customers(2_500, seed=10).to_parquet(path)
    return path


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def test_chunked_run_logs_every_customer_once_and_equals_one_chunk(
    log: tuple[Engine, xsell.Agent], customers_file: Path, tmp_path: Path
) -> None:
    engine, agent = log
    opts = BatchOptions(run_id="night-1", at=AT, chunk_size=700, control_share=0.1)
    result = run_batch(
        agent, customers_file, tmp_path / "offers.parquet", engine=engine, options=opts
    )
    assert (result.rows, result.logged, result.chunks) == (2_500, 2_500, 4)
    offers = pd.read_parquet(tmp_path / "offers.parquet")
    # what one chunk of every customer decides (no contacts in the log before the run)
    whole = score_chunk(
        agent,
        pd.read_parquet(customers_file),
        RunContext(
            "night-1", pd.Timestamp(AT), control=xsell.batch.scoring.ControlGroup(0.1, "xsell")
        ),
    ).decisions
    assert offers["decision_id"].tolist() == whole["decision_id"].astype(str).tolist()
    assert offers["product"].astype(str).tolist() == whole["product"].astype(str).tolist()
    np.testing.assert_array_equal(offers["probability"], whole["probability"])
    assert _count(engine, "select count(*) from decisions") == 2_500
    assert _count(engine, "select count(distinct customer_id) from decisions") == 2_500
    assert _count(engine, "select count(*) from decisions where mode = 'batch'") == 2_500
    assert _count(engine, "select count(*) from contacts") == result.offers
    assert (
        _count(engine, "select count(*) from decisions where traffic_group = 'control'")
        == result.control
    )
    # the channel is each product's batch channel
    batch_channel = {p.id: p.channels["batch"] for p in agent.catalog.products}
    sent = offers[offers["product"].notna()]
    assert (sent["channel"].astype(str) == sent["product"].astype(str).map(batch_channel)).all()
    # a rerun of the same run decides nobody again and writes the same offers
    again = run_batch(
        agent, customers_file, tmp_path / "again.parquet", engine=engine, options=opts
    )
    assert again.logged == 0 and again.at == result.at
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again.parquet"), offers)
    assert _count(engine, "select count(*) from decisions") == 2_500
    assert _count(engine, "select count(*) from batch_runs where status = 'done'") == 1


def test_second_run_of_the_night_respects_caps_and_cool_off_from_the_first(
    log: tuple[Engine, xsell.Agent], customers_file: Path, tmp_path: Path
) -> None:
    engine, agent = log
    first = run_batch(
        agent,
        customers_file,
        tmp_path / "a.parquet",
        engine=engine,
        options=BatchOptions(run_id="email", at=AT, chunk_size=1_000),
    )
    second = run_batch(
        agent,
        customers_file,
        tmp_path / "b.parquet",
        engine=engine,
        options=BatchOptions(run_id="sms", at="2026-01-05T03:00:00Z", chunk_size=600),
    )
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    assert first.offers > 1_000
    catalog = agent.catalog
    again = a["product"].notna() & (a["product"].astype(str) == b["product"].astype(str))
    for pid in catalog.product_ids:
        p = catalog.product(pid)
        had = a["product"].astype(str) == pid
        if p.cool_off_days > 0 or (p.frequency_cap and p.frequency_cap.max_offers <= 1):
            # nobody offered this product an hour ago is offered it again
            assert not (again & had).any(), pid
            assert b.loc[had, f"blocked_{pid}"].isin(["cool-off period", "frequency cap"]).all()
    assert second.offers > 0
    # every contact counts toward the catalog's contact limit across the two runs
    per_customer = _count(
        engine,
        "select max(n) from (select customer_id, count(*) as n from contacts group by customer_id) t",
    )
    assert per_customer <= catalog.contact_policy.max_offers


def test_bad_files_are_refused_before_anything_is_logged(
    log: tuple[Engine, xsell.Agent], tmp_path: Path
) -> None:
    engine, agent = log
    good = xsell.make_customers(1_500, seed=4)
    cases = {
        "missing.parquet": (good.drop(columns=["income"]), "missing the column 'income'"),
        "type.parquet": (good.assign(age=good["age"].astype(str)), "'age' must be numeric"),
        "dup.csv": (
            pd.concat([good, good.iloc[[1_200]]], ignore_index=True),
            "duplicated customer id 'C00001200'",
        ),
        "prob.parquet": (
            good.assign(
                propensity_mortgage=np.where(good.index == 1_400, 1.7, good["propensity_mortgage"])
            ),
            "'propensity_mortgage' must hold probabilities in [0, 1], got 1.7 (row 1400)",
        ),
        "text.csv": (
            good.assign(age=np.where(good.index == 1_100, "old", good["age"].astype(str))),
            "'age' has a value of the wrong type",
        ),
    }
    for name, (frame, message) in cases.items():
        path = tmp_path / name
        frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path)
        with pytest.raises(
            xsell.InputError,
            match=message.replace("(", r"\(")
            .replace(")", r"\)")
            .replace("[", r"\[")
            .replace("]", r"\]"),
        ):
            run_batch(
                agent,
                path,
                tmp_path / f"{name}.out.parquet",
                engine=engine,
                options=BatchOptions(chunk_size=500),
            )
        assert not (tmp_path / f"{name}.out.parquet.parts").exists()
    assert _count(engine, "select count(*) from decisions") == 0
    assert _count(engine, "select count(*) from batch_runs") == 0
    # the command line says the same with exit code 2
    out = CliRunner().invoke(
        app,
        [
            "score",
            str(tmp_path / "dup.csv"),
            "--out",
            str(tmp_path / "o.parquet"),
            "--database-url",
            str(engine.url.render_as_string(hide_password=False)),
        ],
    )
    assert out.exit_code == 2 and "duplicated customer id" in out.output


def test_csv_and_parquet_give_the_same_offers(
    log: tuple[Engine, xsell.Agent], tmp_path: Path
) -> None:
    engine, agent = log
    frame = xsell.make_customers(1_200, seed=12)
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_parquet(tmp_path / "c.parquet")
    opts = BatchOptions(run_id="same", at=AT, chunk_size=500, dry_run=True)
    run_batch(agent, tmp_path / "c.csv", tmp_path / "o.csv", engine=engine, options=opts)
    run_batch(agent, tmp_path / "c.parquet", tmp_path / "o.parquet", engine=engine, options=opts)
    a, b = pd.read_csv(tmp_path / "o.csv"), pd.read_parquet(tmp_path / "o.parquet")
    assert a["decision_id"].tolist() == b["decision_id"].tolist()
    assert a["product"].fillna("").tolist() == b["product"].astype(object).fillna("").tolist()
    np.testing.assert_array_equal(a["probability"], b["probability"])
    assert _count(engine, "select count(*) from decisions") == 0  # dry run


def _score_cmd(url: str, customers: Path, out: Path, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "xsell.cli",
        "score",
        str(customers),
        "--out",
        str(out),
        "--database-url",
        url,
        "--run-id",
        "killed",
        "--at",
        AT,
        "--chunk-size",
        "400",
        "--control-share",
        "0.1",
        "--capacity",
        "travel_insurance=300",
        "--workers",
        str(workers),
    ]


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_run_killed_half_way_resumes_without_deciding_anyone_twice(
    log: tuple[Engine, xsell.Agent],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    workers: int,
) -> None:
    engine, agent = log
    url = engine.url.render_as_string(hide_password=False)
    customers = tmp_path / "c.parquet"
    xsell.make_customers(12_000, seed=13).to_parquet(customers)
    out = tmp_path / "offers.parquet"
    parts = tmp_path / "offers.parquet.parts"
    deadline = time.monotonic() + 240
    with subprocess.Popen(
        _score_cmd(url, customers, out, workers),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        while len(list(parts.glob("part-*.parquet"))) < 8:
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        pool = _children(proc.pid)
        assert len(pool) == (workers if workers > 1 else 0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # the workers of a killed run stop too: nothing is decided for nobody meanwhile
    while any(alive(pid) for pid in pool):
        assert time.monotonic() < deadline, "a worker outlived its killed run"
        time.sleep(0.05)
    logged_before = _count(engine, "select count(*) from decisions")
    assert 0 < logged_before < 12_000
    resumed = subprocess.run(
        _score_cmd(url, customers, out, workers), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stdout
    assert _count(engine, "select count(*) from decisions") == 12_000
    assert _count(engine, "select count(distinct customer_id) from decisions") == 12_000
    assert (
        _count(engine, "select count(*) from decisions where product = 'travel_insurance'") <= 300
    )
    # the same run, uninterrupted, in another log: the same offers
    other = f"sqlite:///{tmp_path_factory.mktemp('other') / 'log.db'}"
    migrate(other)
    other_engine = make_engine(other)
    ModelRegistry(other_engine).register(agent)
    other_engine.dispose()
    clean = subprocess.run(
        _score_cmd(other, customers, tmp_path / "clean.parquet", 1),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert clean.returncode == 0, clean.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(tmp_path / "clean.parquet"))


def _table(engine: Engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(text(sql), conn)


def test_parallel_run_equals_the_one_process_run(
    log: tuple[Engine, xsell.Agent], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    engine, agent = log
    xsell.make_customers(6_000, seed=14).to_parquet(tmp_path / "c.parquet")
    backend = engine.dialect.name
    with fresh_database(backend, tmp_path_factory.mktemp("other")) as other:
        migrate(other)
        other_engine = make_engine(other)
        try:
            _same_runs(agent, tmp_path, {1: other_engine, 2: engine})
        finally:
            other_engine.dispose()


def _same_runs(agent: xsell.Agent, tmp_path: Path, logs: dict[int, Engine]) -> None:
    """Two runs a night in each log, with ``workers`` processes: the same offers and logs."""
    for workers, db in logs.items():
        # a first run: the second run's caps and cool-off read its contacts
        run_batch(
            agent,
            tmp_path / "c.parquet",
            tmp_path / "first.parquet",
            engine=db,
            options=BatchOptions(run_id="first", at="2026-01-04T02:00:00Z", workers=workers),
        )
    results = {}
    for workers, db in logs.items():
        results[workers] = run_batch(
            agent,
            tmp_path / "c.parquet",
            tmp_path / f"offers-{workers}.parquet",
            engine=db,
            options=BatchOptions(
                run_id="night",
                at=AT,
                chunk_size=700,
                control_share=0.1,
                capacity={"travel_insurance": 400, "mortgage": 60},
                workers=workers,
            ),
        )
    one, two = results[1], results[2]
    assert (one.workers, two.workers) == (1, 2)
    assert (two.rows, two.logged, two.chunks) == (6_000, 6_000, 9)
    assert (one.offers, one.control) == (two.offers, two.control)
    offers = pd.read_parquet(tmp_path / "offers-2.parquet")
    assert offers["blocked_travel_insurance"].eq("campaign capacity").any()
    assert offers["blocked_mortgage"].isin(["cool-off period", "frequency cap"]).any()
    pd.testing.assert_frame_equal(offers, pd.read_parquet(tmp_path / "offers-1.parquet"))
    # the logs hold the same rows, bit for bit (model inputs included)
    for table, key in (("decisions", "id"), ("contacts", "decision_id")):
        a, b = (_table(logs[w], f"select * from {table} order by {key}") for w in (1, 2))
        assert len(a) > 6_000
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=table)


def test_workers_must_be_a_positive_number(
    log: tuple[Engine, xsell.Agent], customers_file: Path, tmp_path: Path
) -> None:
    engine, _ = log
    with pytest.raises(xsell.InputError, match="`workers` must be an integer >= 1"):
        BatchOptions(workers=0)
    out = CliRunner().invoke(
        app,
        [
            "score",
            str(customers_file),
            "--out",
            str(tmp_path / "o.parquet"),
            "--database-url",
            str(engine.url.render_as_string(hide_password=False)),
            "--workers",
            "0",
        ],
    )
    assert out.exit_code == 2 and "--workers" in out.output

"""Command line: ``xsell run`` (the service under simulated bank traffic) and friends.

Bad input exits with code 2 and a message naming the problem, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from xsell.agent import Agent, default_policy
from xsell.catalog.loader import load_catalog
from xsell.catalog.product import Catalog
from xsell.errors import XsellError
from xsell.policies import EpsilonGreedy, Greedy, Policy
from xsell.simulation.bank import SampleBank, sample_feature_spec
from xsell.simulation.loop import Round, run_rounds

if TYPE_CHECKING:
    from xsell.store import Learner

__all__ = ["app"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err = Console(stderr=True, soft_wrap=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def _clean_errors(fn: F) -> F:
    """Turn xsell's input errors into a one-line message and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except XsellError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")  # text, not markup
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


POLICIES: dict[str, Callable[[], Policy]] = {
    "thompson": default_policy,
    "epsilon-greedy": EpsilonGreedy,
    "greedy": Greedy,
}


#: the ``--database-url`` option every command on the decision log takes
DatabaseUrl = Annotated[
    str | None, typer.Option(help="Decision log (default: $XSELL_DATABASE_URL or ./xsell.db).")
]


def _bad(param: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{param}'")


@app.command()
@_clean_errors
def run(
    days: Annotated[int, typer.Option(help="Simulated days.")] = 30,
    visitors: Annotated[int, typer.Option(help="Customers visiting per day (about).")] = 400,
    per_request: Annotated[int, typer.Option(help="Customers per decision request.")] = 25,
    seed: Annotated[int, typer.Option(help="Seed of the simulated bank and of the agent.")] = 0,
    db: Annotated[Path, typer.Option(help="SQLite decision log (replaced at the start).")] = Path(
        "runs/demo.db"
    ),
    start: Annotated[
        str | None,
        typer.Option(help="First simulated day, e.g. 2026-12-01 (default: today, UTC)."),
    ] = None,
) -> None:
    """Start the service with a simulated bank sending it real HTTP traffic.

    The service (uvicorn, on a free loopback port) runs on a fresh SQLite decision log
    with the sample catalog. Each simulated day the bank's visitors are decided
    (POST /v1/decisions), the offers delivered and the customers' conversions and
    opt-outs reported at their simulated times (POST /v1/outcomes); at the day's end a
    learner learns what closed, and the service swaps the new model version in. One line
    per day shows the traffic, the conversions, the model version the service answered
    with and the latency. Ctrl-C stops the bank, the learner and the service (exit code
    130).
    """
    from xsell.demo import run_demo, summary
    from xsell.service.local import LocalServiceError
    from xsell.simulation.traffic import TrafficError

    for name, value in (("--days", days), ("--visitors", visitors), ("--per-request", per_request)):
        if value < 1:
            raise _bad(name, f"must be >= 1, got {value}")
    if per_request > 1_000:
        raise _bad(
            "--per-request", f"must be at most 1000 (the service's limit), got {per_request}"
        )
    if start is not None:
        try:
            first = pd.Timestamp(start)
        except ValueError:
            raise _bad("--start", f"must be a date such as 2026-12-01, got {start!r}") from None
        start = (first.tz_localize("UTC") if first.tzinfo is None else first).isoformat()
    try:
        result = run_demo(
            days=days,
            visitors=visitors,
            per_request=per_request,
            seed=seed,
            db=db,
            console=console,
            start=start,
        )
    except (LocalServiceError, TrafficError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    console.print()
    for line in summary(result, per_request, db):
        console.print(line)
    if result.interrupted:
        err.print("Stopped by Ctrl-C: the simulated bank, the learner and the service are down.")
        raise typer.Exit(code=130)


@app.command()
@_clean_errors
def compare(
    days: Annotated[int, typer.Option(help="Simulated days.")] = 20,
    customers_per_day: Annotated[int, typer.Option(help="Customers decided each day.")] = 2_000,
    policy: Annotated[str, typer.Option(help=f"One of {sorted(POLICIES)}.")] = "thompson",
    seed: Annotated[int, typer.Option(help="Seed of the bank and of the agent.")] = 0,
    catalog: Annotated[Path | None, typer.Option(help="Catalog YAML (default: sample).")] = None,
    out: Annotated[Path, typer.Option(help="Where to save the trained agent.")] = Path(
        "runs/agent.npz"
    ),
) -> None:
    """Run the agent in process against propensity-greedy on a generated sample bank.

    Each day new customers arrive; the agent decides an offer for each (or none), the
    simulated customers respond, and the agent learns. The same customers, with the same
    luck, are also decided by propensity-greedy (today's practice), so the table shows
    what learning adds, day by day.
    """
    if days < 1:
        raise _bad("--days", f"must be >= 1, got {days}")
    if customers_per_day < 1:
        raise _bad("--customers-per-day", f"must be >= 1, got {customers_per_day}")
    if policy not in POLICIES:
        raise _bad("--policy", f"unknown policy {policy!r}; choose from {sorted(POLICIES)}")
    cat = load_catalog(catalog) if catalog else Catalog.sample()
    bank = SampleBank(seed=seed, catalog=cat)
    spec = sample_feature_spec()
    agent = Agent(cat, spec, policy=POLICIES[policy](), seed=seed)
    baseline = Agent(cat, spec, policy=Greedy(), seed=seed)
    last: list[pd.DataFrame] = []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"xsell ({policy})", total=days)

        def tick(_: Round, decided: pd.DataFrame) -> None:
            last[:] = [decided]
            progress.advance(task)

        ours = run_rounds(
            agent, bank, rounds=days, customers_per_round=customers_per_day, on_round=tick
        )
        progress.update(task, description="propensity-greedy", completed=0)
        theirs = run_rounds(
            baseline,
            bank,
            rounds=days,
            customers_per_round=customers_per_day,
            learn=False,
            on_round=lambda r, d: progress.advance(task),
        )
    _report(ours, theirs, agent, last[0], cat, policy)
    out.parent.mkdir(parents=True, exist_ok=True)
    agent.save(str(out))
    console.print(
        f"\nSaved the trained agent to [bold]{out}[/] (model version {agent.model_version})."
    )


def _report(
    ours: list[Round],
    theirs: list[Round],
    agent: Agent,
    last: pd.DataFrame,
    cat: Catalog,
    policy: str,
) -> None:
    currency = cat.products[0].value.currency
    table = Table(title=f"xsell ({policy}) vs propensity-greedy, same customers and luck")
    for col in (
        "day",
        "offers",
        "conv.",
        "rate",
        f"value {currency}",
        f"p-greedy {currency}",
        "lift",
        "explored",
        "model",
    ):
        table.add_column(col, justify="right")
    for r, b in zip(ours, theirs, strict=True):
        table.add_row(
            str(r.index + 1),
            f"{r.offers:,}",
            f"{r.conversions:,}",
            f"{r.conversions / max(1, r.offers):.2%}",
            f"{r.value:,.0f}",
            f"{b.value:,.0f}",
            f"{r.value / max(1.0, b.value) - 1:+.0%}",
            f"{r.explored:.0%}",
            f"v{r.model_version}",
        )
    console.print(table)
    half = len(ours) // 2
    if half:
        for label, sl in (
            (f"first {half} days", slice(0, half)),
            (f"last {len(ours) - half}", slice(half, None)),
        ):
            mine = sum(r.value for r in ours[sl])
            base = sum(b.value for b in theirs[sl])
            console.print(
                f"Value vs propensity-greedy over the {label}: {mine / max(1.0, base) - 1:+.1%}"
            )
    console.print("\n[bold]Three decisions of the last day, explained:[/]")
    for text in agent.explain(last.head(3)):
        console.print(f"• {text}")
    co = agent.coefficients()
    prop = co[(co["outcome"] == "conversion") & (co["feature"] == "propensity score")]
    console.print("\n[bold]Weight of the bank's propensity score per product[/] (prior 1.0):")
    console.print(", ".join(f"{r.product} {r.weight:.2f}±{r.sd:.2f}" for r in prop.itertuples()))


@app.command("check-catalog")
@_clean_errors
def check_catalog(path: Annotated[Path, typer.Argument(help="Catalog YAML file.")]) -> None:
    """Validate a catalog file; exit code 2 with the product and field at fault if invalid."""
    cat = load_catalog(path)
    console.print(f"{path}: {len(cat.products)} products OK ({', '.join(cat.product_ids)})")


@app.command()
@_clean_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    database_url: DatabaseUrl = None,
    key_file: Annotated[
        Path, typer.Option(help="Where a generated API key is written when none is configured.")
    ] = Path("xsell-api-key.txt"),
    access_log: Annotated[
        bool, typer.Option(help="Log every request (uvicorn's access log).")
    ] = True,
    worker_timeout: Annotated[
        int,
        typer.Option(
            help="Seconds a worker may take to answer the supervisor's health check before "
            "it is restarted (a starting worker imports xsell first; uvicorn's supervisor, "
            "used where SO_REUSEPORT is not available).",
            min=1,
        ),
    ] = 60,
) -> None:
    """Run the HTTP API (uvicorn) on SQLite with the sample catalog, or on $XSELL_DATABASE_URL.

    API keys come from $XSELL_API_KEYS (plain, hashed on load) or $XSELL_API_KEY_HASHES
    (SHA-256 digests). With neither, a key is generated and written to ``--key-file``
    (mode 600); it is never printed or logged.
    """
    import os
    import secrets

    import uvicorn

    from xsell.service.settings import hash_key
    from xsell.service.workers import reuse_port_supported, run_workers

    if database_url is not None:
        os.environ["XSELL_DATABASE_URL"] = database_url
    if not (os.environ.get("XSELL_API_KEYS") or os.environ.get("XSELL_API_KEY_HASHES")):
        key = secrets.token_urlsafe(32)
        key_file.touch(mode=0o600)
        key_file.write_text(key + "\n")
        os.environ["XSELL_API_KEY_HASHES"] = hash_key(key)
        err.print(f"API key written to {key_file} (send it in the X-API-Key header)")
    options: dict[str, Any] = {"log_level": "info", "access_log": access_log}
    if workers > 1 and reuse_port_supported():
        # each worker its own socket on the port: connections spread over all of them
        raise typer.Exit(run_workers(host, port, workers, options))
    uvicorn.run(
        "xsell.service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn's default, 5 s, kills workers still importing on a busy machine, forever
        timeout_worker_healthcheck=worker_timeout,
        **options,
    )


@app.command()
@_clean_errors
def learn(
    database_url: DatabaseUrl = None,
    every: Annotated[
        float,
        typer.Option(help="Learn again every this many seconds until Ctrl-C (0: once).", min=0),
    ] = 0.0,
    batch_size: Annotated[
        int, typer.Option(help="Most outcomes learned into one model version.", min=1)
    ] = 10_000,
) -> None:
    """Learn the decision log's closed outcomes into new model versions.

    Each decision is learned once, when its observation window closes; every step stores a
    new model version, which the serving workers load and swap in. Run it once (from cron,
    say) or with ``--every`` as a long-running learner next to ``xsell serve``; stopping it
    at any moment loses nothing (a step is one transaction). Several learners on one
    PostgreSQL database take turns.
    """
    import signal
    import time

    from sqlalchemy.exc import DBAPIError

    from xsell.errors import PersistenceError
    from xsell.store import Learner, make_engine

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (a service manager's stop) ends it like Ctrl-C

    learner = Learner(make_engine(database_url), batch_size=batch_size)
    previous = signal.signal(signal.SIGTERM, stop)
    last = ""
    try:
        while True:
            try:
                note = _learn_step(learner)
            except (PersistenceError, DBAPIError) as exc:  # no database, tables or model yet
                if every <= 0:
                    err.print(f"[bold red]error:[/] {_first_line(exc)}")
                    raise typer.Exit(code=2) from None
                note = f"waiting: {_first_line(exc)}"  # the server may be starting
            if note and note != last:  # an idle learner says so once, not every round
                (err if note.startswith("waiting") else console).print(note, markup=False)
            last = note
            if every <= 0:
                return
            time.sleep(every)
    except KeyboardInterrupt:
        console.print("Learner stopped.")
    finally:
        signal.signal(signal.SIGTERM, previous)
        learner.engine.dispose()


def _learn_step(learner: Learner) -> str:
    """Learn until nothing closed is left, printing each version stored; why it is idle
    (``""`` when it learned something)."""
    learned_any = False
    while True:
        r = learner.run_once()
        if r.version is None:
            if learned_any:
                return ""
            if r.busy:
                return "another learner is busy; trying again later"
            return "nothing to learn: no closed outcomes"
        learned_any = True
        console.print(
            f"model version {r.version}: learned {r.learned:,} outcomes "
            f"({r.conversions:,} conversions)"
        )


@app.command()
@_clean_errors
def audit(
    database_url: DatabaseUrl = None,
    since: Annotated[
        str | None, typer.Option(help="Audit decisions from this time on (ISO 8601, with zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Audit decisions before this time (ISO 8601, with zone).")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the table to this CSV file.")] = None,
) -> None:
    """Fairness audit of the decision log, from its restricted protected attributes.

    By protected attribute and group: decisions (the control group's left out), offers, the
    offer rate and its ratio to the best-served group's (below 0.8 is flagged: the
    four-fifths rule), contacts, learned outcomes and conversions.
    """
    from sqlalchemy.exc import DBAPIError

    from xsell.store import fairness_audit, make_engine

    engine = make_engine(database_url)
    try:
        frame = fairness_audit(engine, since=since, until=until)
    except DBAPIError as exc:  # no database or no tables
        raise XsellError(f"cannot read the decision log: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    if csv is not None:
        frame.to_csv(csv, index=False)
    if frame.empty:
        console.print("no decisions with protected attributes in this period")
        return
    table = Table(
        title="Fairness audit: offers by protected group",
        caption="ratio: the offer rate over the best-served group's; low: under 0.8 "
        "(the four-fifths rule)",
        box=box.SIMPLE,
    )
    for col in ("attribute", "group", "decided", "offered", "rate", "ratio", "contacted"):
        table.add_column(col, justify="left" if col in ("attribute", "group") else "right")
    table.add_column("converted", justify="right")
    for r in frame.itertuples(index=False):
        ratio = f"{r.offer_rate_ratio:.2f}" + (" [bold red]low[/]" if r.flagged else "")
        converted = "-" if r.learned == 0 else f"{r.conversion_rate:.1%} of {r.learned:,}"
        table.add_row(
            escape(str(r.attribute)),
            escape(str(r.group)),
            f"{r.decisions:,}",
            f"{r.offers:,}",
            f"{r.offer_rate:.1%}",
            ratio,
            f"{r.contacts:,}",
            converted,
        )
    console.print(table)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _RateColumn(ProgressColumn):
    """Rows per second, from Rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s")


def _capacities(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in ",".join(values).split(","):
        if not item.strip():
            continue
        pid, sep, n = item.partition("=")
        if not sep or not n.strip().lstrip("-").isdigit():
            raise _bad("--capacity", f"expected PRODUCT=N, got {item!r}")
        out[pid.strip()] = int(n)
    return out


@app.command()
@_clean_errors
def score(
    customers: Annotated[Path, typer.Argument(help="Customer file: Parquet, or CSV (.csv).")],
    out: Annotated[Path, typer.Option("--out", help="Offers file: .csv for CSV, else Parquet.")],
    database_url: DatabaseUrl = None,
    agent_file: Annotated[
        Path | None,
        typer.Option("--agent", help="A saved agent (default: the log's newest model version)."),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id (default: <file stem>-<date>); rerun = resume.")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Decision time of a new run, ISO 8601 (default: now).")
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Customers per chunk.", min=1)] = 100_000,
    control_share: Annotated[
        float, typer.Option(help="Share held out with no offer (control group).", min=0, max=1)
    ] = 0.0,
    control_salt: Annotated[str, typer.Option(help="Salt of the control-group hash.")] = "xsell",
    capacity: Annotated[
        list[str] | None,
        typer.Option(help="Most offers of a product in the run: PRODUCT=N (repeat, or a,b)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Decide and write the offers; log nothing.")
    ] = False,
    engine: Annotated[
        str, typer.Option(help="local (chunks in this machine's processes) or spark.")
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            help="Local engine: processes deciding chunks in parallel (default: the usable "
            "CPUs; 1: in this process). The decisions do not depend on it. Spark: connections "
            "loading Spark's decisions into a PostgreSQL log at once (same default).",
            min=1,
        ),
    ] = None,
    spark_master: Annotated[
        str, typer.Option(help="Spark master with --engine spark (local[*], spark://..., yarn).")
    ] = "local[*]",
) -> None:
    """Score a customer file for an outbound campaign with the real-time channel's policy.

    Reads in chunks (memory stays bounded), logs every decision to the decision log (mode
    batch, each product's batch channel; caps and cool-off from the log's contacts) and
    writes the offers. Killed half-way, the same command resumes: nobody is decided twice.
    With --engine spark (the spark extra), Spark decides and writes a Parquet folder of
    decisions (the log's columns), which is then loaded into the log.
    """
    from xsell.batch.runner import BatchOptions, run_batch
    from xsell.store import ModelRegistry, make_engine, migrate

    if engine not in ("local", "spark"):
        raise _bad("--engine", f"must be 'local' or 'spark', got {engine!r}")
    limits = _capacities(capacity or [])
    db = make_engine(database_url)
    try:
        migrate(db)
        if agent_file is not None:
            agent = Agent.load(str(agent_file))
        else:
            registry = ModelRegistry(db)
            if registry.latest() is None:
                raise XsellError(
                    "the decision log holds no model version: register one (xsell serve does on "
                    "first start) or pass --agent FILE"
                )
            agent = registry.load()
        options = BatchOptions(
            run_id=run_id,
            at=at,
            chunk_size=chunk_size,
            control_share=control_share,
            control_salt=control_salt,
            capacity=limits,
            dry_run=dry_run,
            workers=workers,
        )
        if engine == "spark":
            from xsell.batch.spark import run_spark  # PySpark itself is imported when used

            result = run_spark(
                agent, customers, out, engine=db, options=options, master=spark_master
            )
        else:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                _RateColumn(),
                TimeRemainingColumn(),
                console=err,
            ) as bar:
                task = bar.add_task("checking the file", total=None)

                def tick(done: int, total: int, phase: str) -> None:
                    what = "capacity (pass 1)" if phase == "capacity" else "deciding"
                    bar.update(
                        task, completed=done, total=None if total < 0 else total, description=what
                    )

                result = run_batch(agent, customers, out, engine=db, options=options, progress=tick)
    finally:
        db.dispose()
    console.print(
        f"run {result.run_id}: {result.rows:,} customers, {result.offers:,} offers, "
        f"{result.control:,} in the control group, {result.logged:,} decisions logged"
        + (" (dry run)" if dry_run else "")
        + (f", resumed after {result.resumed_chunks} chunk(s)" if result.resumed_chunks else "")
        + f"; {result.seconds:,.1f} s"
        + (f" ({result.workers} workers)" if result.workers > 1 else "")
        + f" → {out}"
    )


@app.command()
@_clean_errors
def simulate(
    scenario: Annotated[
        str, typer.Option(help="Scenario: bank, bank-cold, bank-drift, ...")
    ] = "bank",
    customers: Annotated[
        int | None, typer.Option(help="Size of the world (default: the scenario's).")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Worlds to draw (one per seed).")] = 5,
    first_seed: Annotated[
        int, typer.Option(help="First seed; seeds below 1001 are kept for tuning.")
    ] = 1001,
    contenders: Annotated[
        str | None, typer.Option(help="Comma-separated policies (default: the scenario's).")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default runs/<scenario>).")
    ] = None,
    reference: Annotated[str, typer.Option(help="Policy the others are compared with.")] = "xsell",
) -> None:
    """Compare policies side by side on the same simulated customers.

    Writes per-step metrics (Parquet and CSV), a summary with 95 % intervals over seeds,
    PNG plots and a self-contained HTML report to the output folder.
    """
    from xsell.simulation.report import summary_table, write_outputs
    from xsell.simulation.runner import run_arena
    from xsell.simulation.scenarios import get_scenario, resolve_contenders

    sc = get_scenario(scenario)
    if seeds < 1:
        raise _bad("--seeds", f"must be at least 1, got {seeds}")
    if jobs < 1:
        raise _bad("--jobs", f"must be at least 1, got {jobs}")
    params: dict[str, Any] = {}
    if customers is not None:
        if customers < 1:
            raise _bad("--customers", f"must be at least 1, got {customers}")
        if sc.size_param is None:
            raise _bad("--customers", f"scenario {sc.name!r} has a fixed size")
        params[sc.size_param] = customers
    names = (
        [c.strip() for c in contenders.split(",") if c.strip()]
        if contenders
        else list(sc.contenders)
    )
    resolve_contenders(names)  # an unknown name fails before any work
    seed_list = list(range(first_seed, first_seed + seeds))
    target = out or Path("runs") / sc.name
    total = len(seed_list) * len(names)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{sc.name}: {len(names)} policies x {seeds} seeds", total=total)

        def done(name: str, seed: int, secs: float) -> None:
            progress.update(
                task, advance=1, description=f"{sc.name}: {name} seed {seed} ({secs:.0f}s)"
            )

        result = run_arena(
            sc.name, seeds=seed_list, contenders=names, world_params=params, jobs=jobs, on_run=done
        )
    command = "xsell simulate " + " ".join(
        f"--{k} {v}"
        for k, v in {
            "scenario": sc.name,
            "customers": customers,
            "seeds": seeds,
            "first-seed": first_seed,
            "contenders": contenders,
        }.items()
        if v is not None
    )
    paths = write_outputs(result, target, command=command, reference=reference)
    table = Table(title=f"{sc.name}: {seeds} seeds, 95 % intervals")
    shown = summary_table(result, reference)
    for col in shown.columns:
        table.add_column(col, justify="left" if col == "policy" else "right")
    for row in shown.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    console.print(table)
    console.print(f"{result.seconds:,.0f} s; report: {paths['report_html']}")


if __name__ == "__main__":  # pragma: no cover
    app()

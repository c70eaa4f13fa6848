"""The live demo behind ``xsell run``: the service, a learner and a simulated bank.

:func:`run_demo` starts the HTTP service on a fresh SQLite decision log (a child process
on a free loopback port), then plays the bank world against it with a
:class:`~xsell.simulation.traffic.TrafficDriver` whose :class:`~xsell.store.Learner`
learns at the end of each simulated day, and prints one line per day. Ctrl-C (or SIGTERM)
stops the driver between two requests, then the service; nothing is left running.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from xsell._time import as_utc
from xsell.errors import InputError
from xsell.service.local import LocalService
from xsell.simulation.traffic import DayStats, TrafficDriver
from xsell.simulation.worlds.bank import BankWorld
from xsell.store import Learner, RewardRules, make_engine

__all__ = ["DemoResult", "run_demo", "summary"]

#: each simulated customer visits about this many times over the run
VISITS_PER_CUSTOMER = 2.0

#: (header, width): the day lines fit an 80-column terminal
_COLUMNS = (
    ("day", 3),
    ("requests", 8),
    ("offers", 6),
    ("conv.", 5),
    ("rate", 5),
    ("value €", 8),
    ("vs prop.", 8),
    ("learned", 7),
    ("model", 7),
    ("p50 ms", 6),
    ("p99 ms", 6),
)


@dataclass(frozen=True)
class DemoResult:
    """The days played, the wall time, the serving model's propensity weights, and whether
    Ctrl-C (or SIGTERM) cut the run short."""

    days: list[DayStats]
    seconds: float
    propensity_weights: dict[str, float]
    interrupted: bool = False


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM stops the run like Ctrl-C (KeyboardInterrupt), in the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _uninterruptible() -> Iterator[None]:
    """Let a cleanup finish: a second Ctrl-C while the service stops is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _fresh(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def run_demo(
    *,
    days: int,
    visitors: int,
    per_request: int,
    seed: int,
    db: Path,
    console: Console,
    start: object = None,
    window_days: float = 14.0,
) -> DemoResult:
    """Run the service, the learner and the simulated bank for ``days`` simulated days.

    Parameters
    ----------
    days
        Simulated days.
    visitors
        About how many customers visit per day.
    per_request
        Customers per decision request.
    seed
        Seed of the world and of the service's agent.
    db
        The SQLite decision log (replaced at the start); the service's log goes beside it.
    console
        Where the day lines go.
    start
        The simulated bank's first day (default: today, UTC). The service stamps the
        events it receives with its own clock, so the start may be at most
        ``window_days`` in the past; the same seed and start repeat a run exactly.
    window_days
        Observation window of the world and of the service's reward rules.

    Returns
    -------
    DemoResult
        On Ctrl-C or SIGTERM too (``interrupted``), once the service has stopped.
    """
    for name, value in (("days", days), ("visitors", visitors), ("per_request", per_request)):
        if value < 1:
            raise InputError(f"`{name}` must be >= 1, got {value}")
    today = pd.Timestamp.now(tz="UTC").normalize()
    first = today if start is None else as_utc(start, name="start").normalize()
    if first < today - pd.Timedelta(days=window_days):
        raise InputError(
            f"`start` must be at most {window_days:.0f} days ago, got {first.date()}: the "
            "service stamps outcome events with its own clock, and an event received after "
            "its offer's window closed is not learned"
        )
    t0 = time.perf_counter()
    db.parent.mkdir(parents=True, exist_ok=True)
    _fresh(db)
    log_path = db.with_name(db.stem + "-server.log")
    log_path.unlink(missing_ok=True)
    rules = RewardRules(window_days=window_days, grace_days=1.0)
    url = f"sqlite:///{db}"
    world = BankWorld(
        seed=seed,
        customers=max(1, round(visitors * days / VISITS_PER_CUSTOMER)),
        days=days,
        visits_per_customer=VISITS_PER_CUSTOMER,
        window_days=window_days,
    )
    service = LocalService(
        url, log_path=log_path, reward_rules=rules, env={"XSELL_SEED": str(seed)}
    )
    played: list[DayStats] = []
    weights: dict[str, float] = {}
    interrupted = False
    with _interruptible():
        try:
            with console.status("starting the service and drawing the simulated bank…"):
                service.start()
                world.population()
            console.print(
                f"The xsell service runs at {service.url} on {db}. A simulated bank of "
                f"{world.params['customers']:,} customers sends it each day's visitors "
                f"({per_request} a request), delivers the offers and reports conversions and "
                f"opt-outs at their simulated times; a learner learns at each day's end. "
                f"conv., rate, value: the day's offers that convert within "
                f"{window_days:.0f} days; vs prop.: their true expected value against what the "
                f"bank's propensity model would have offered the same visitors; model: the "
                f"version the service answered with.\n"
            )
            engine = make_engine(url)
            try:
                with service.client() as client:
                    driver = TrafficDriver(
                        client,
                        world,
                        start=first,
                        customers_per_request=per_request,
                        learner=Learner(engine, rules=rules),
                        run_id=f"run-{seed}",
                    )
                    driver.run(days, on_day=lambda s: _print_day(console, s, played))
                    weights = _propensity_weights(client.get("/v1/models").json())
            finally:
                engine.dispose()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            with _uninterruptible():
                service.stop()
    return DemoResult(played, time.perf_counter() - t0, weights, interrupted)


def _propensity_weights(models: dict[str, Any]) -> dict[str, float]:
    return {
        str(c["product"]): float(c["weight"])
        for c in models.get("coefficients", [])
        if c.get("outcome") == "conversion" and c.get("feature") == "propensity score"
    }


def _table(show_header: bool) -> Table:
    table = Table(
        box=None,
        show_header=show_header,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    for name, width in _COLUMNS:
        table.add_column(name, justify="right", width=width, no_wrap=True)
    return table


def _print_day(console: Console, s: DayStats, played: list[DayStats]) -> None:
    played.append(s)
    table = _table(show_header=len(played) == 1)
    versions = f"v{s.versions[0]}" if len(s.versions) == 1 else f"v{s.versions[0]}–{s.versions[-1]}"
    table.add_row(
        str(s.day + 1),
        f"{s.requests:,}",
        f"{s.offers:,}",
        f"{s.conversions:,}",
        f"{s.rate:.1%}",
        f"{s.value:,.0f}",
        f"{s.lift:+.1%}",
        f"{s.learned:,}",
        versions if s.versions else "–",
        f"{s.latency_ms(50):.0f}",
        f"{s.latency_ms(99):.0f}",
    )
    console.print(table)


def summary(result: DemoResult, per_request: int, db: Path) -> list[str]:
    """What the run showed, in a few lines (printed after the day lines)."""
    d = result.days
    if not d:
        return ["No simulated day was completed."]
    third = max(1, len(d) // 3)
    lines = []

    def rate(part: list[DayStats]) -> str:
        offers = sum(x.offers for x in part)
        conv = sum(x.conversions for x in part)
        return f"{conv / offers:.2%} ({conv:,} of {offers:,} offers)" if offers else "–"

    requests = sum(x.requests for x in d)
    lat = np.concatenate([x.latencies_ms for x in d])
    lines.append(
        f"{len(d)} simulated days in {result.seconds:.0f} s: {requests:,} decision requests "
        f"({sum(x.customers for x in d):,} customers), {sum(x.offers for x in d):,} offers "
        f"delivered, {sum(x.events for x in d):,} outcome events sent."
    )

    def lift(part: list[DayStats]) -> str:
        base = sum(x.baseline for x in part)
        return f"{sum(x.expected for x in part) / base - 1:+.1%}" if base > 0 else "–"

    if len(d) >= 6:
        first, last = d[:third], d[-third:]
        span = f"days {len(d) - third + 1}–{len(d)}"
        lines.append(
            f"Conversion rate, days 1–{third}: {rate(first)}; {span}: {rate(last)}. "
            f"Expected value against the propensity model's offers to the same visitors: "
            f"{lift(first)}, then {lift(last)}."
        )
    lines.append(
        f"Model: version {d[0].versions[0] if d[0].versions else 0} → {d[-1].version}, "
        f"{sum(x.learned for x in d):,} outcomes learned."
    )
    if result.propensity_weights:
        shown = ", ".join(f"{p} {w:.2f}" for p, w in result.propensity_weights.items())
        lines.append(f"Weight of the bank's propensity score per product (prior 1.00): {shown}.")
    forbidden = sum(x.forbidden for x in d)
    if forbidden:
        lines.append(f"{forbidden} offers broke a guardrail of the catalog.")
    lines.append(
        f"Latency of a decision request ({per_request} customers): "
        f"p50 {np.percentile(lat, 50):.0f} ms, p99 {np.percentile(lat, 99):.0f} ms."
    )
    lines.append(
        f"The decision log stays in {db}: XSELL_DATABASE_URL=sqlite:///{db} xsell serve "
        "serves it again (GET /v1/decisions/{id} is a decision's audit record); "
        f"xsell audit --database-url sqlite:///{db} audits its offers by protected group."
    )
    return lines

"""A simulated bank sending real HTTP traffic to a running xsell service.

Each simulated day the world's visitors arrive; the bank asks the service for their offers
(``POST /v1/decisions``), delivers the offers it is given (``delivered`` events on
``POST /v1/outcomes``) and, as simulated time passes, reports what its customers do: a
``conversion`` at the time a customer buys the offered product within the world's
observation window, an ``opt_out`` when a customer withdraws consent. Silence is never
reported: the service closes the window by itself. Simulated time moves through the times
the requests carry (``at`` of a decision, ``at`` of an event), never by sleeping.

The customers, their changing data and their responses are a
:class:`~xsell.simulation.live.LiveWorld`'s: the arena's luck, played in time order.

At the end of each day a :class:`~xsell.store.Learner`, if given, learns what closed by
then (on the simulated clock) and the driver waits until the service answers with the
new version, so a run is the same whatever the speed of the machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd

from xsell.errors import InputError
from xsell.simulation.live import Delivered, LiveWorld, Outcome
from xsell.simulation.worlds.base import Step, World

if TYPE_CHECKING:
    from xsell.store.learner import Learner

__all__ = ["DayStats", "TrafficDriver", "TrafficError"]

#: visits of one simulated day are spread over these opening hours, from the step's time
OPENING_HOURS = pd.Timedelta(hours=10)
_EVENTS_PER_POST = 500


class TrafficError(RuntimeError):
    """The service answered something the driver cannot go on with (it names the call)."""


@dataclass(frozen=True, slots=True)
class DayStats:
    """What one simulated day sent and what the world made of it.

    ``conversions``, ``value`` and ``opt_outs`` belong to the day's delivered offers: the
    world draws them at once and the service hears of each at its event time (a later
    day, mostly). ``expected`` and ``baseline`` are the true expected reward of those
    offers and of what the bank's propensity model would have offered the same visitors
    (see :class:`~xsell.simulation.live.Responses`); ``forbidden`` counts offers the
    guardrails block (0). ``events`` counts the outcome events sent during the day,
    ``versions`` the model versions the service named in its answers to the day's
    decision requests, ``learned`` the outcomes learned at the day's end and
    ``version`` the version served after that.
    """

    day: int
    at: pd.Timestamp
    requests: int
    customers: int
    offers: int
    refused: int
    conversions: int
    value: float
    opt_outs: int
    expected: float
    baseline: float
    forbidden: int
    events: int
    versions: tuple[int, ...]
    learned: int
    version: int
    latencies_ms: np.ndarray = field(repr=False)

    @property
    def rate(self) -> float:
        """Conversions per delivered offer (NaN without offers)."""
        return self.conversions / self.offers if self.offers else float("nan")

    @property
    def lift(self) -> float:
        """Expected reward over the propensity model's on the same visitors (NaN if none)."""
        return self.expected / self.baseline - 1.0 if self.baseline > 0 else float("nan")

    def latency_ms(self, q: float) -> float:
        """The ``q``-th percentile of the day's decision request latency (ms)."""
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else np.nan


class TrafficDriver:
    """Plays a simulated bank against an xsell service reached through ``client``.

    Parameters
    ----------
    client
        An ``httpx.Client`` with the service's base URL and the ``X-API-Key`` header (a
        FastAPI ``TestClient`` will do).
    world
        A world whose catalog is the service's, e.g.
        :class:`~xsell.simulation.worlds.bank.BankWorld` on the sample catalog.
    start
        The service's date of the world's first day (default: today, UTC); the world's
        own times are shifted by whole days onto it, so its customers and their luck
        do not depend on the date (the service's exploration does: a decision's draws
        are keyed by its time).
    customers_per_request
        Visitors decided per ``POST /v1/decisions``.
    learner
        Learns at each day's end on the simulated clock (``None``: nothing is learned
        here, as when a learner runs on its own).
    swap_timeout
        Seconds to wait for the service to serve a newly learned version.
    stop
        Set it to stop the driver before its next request.
    run_id
        Prefix of the idempotency keys (a retry within a run is answered from the log).

    Examples
    --------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from xsell.service import Settings, create_app
    >>> from xsell.simulation.worlds.bank import BankWorld
    >>> url = f"sqlite:///{os.path.join(tempfile.mkdtemp(), 'log.db')}"
    >>> app = create_app(
    ...     Settings(database_url=url, api_keys="k", reference_size=100, gc_freeze=False)
    ... )
    >>> with TestClient(app, headers={"X-API-Key": "k"}) as client:
    ...     world = BankWorld(seed=1, customers=100, days=2)
    ...     days = TrafficDriver(client, world, start="2099-01-05T00:00:00Z").run(2)
    >>> [d.versions for d in days], all(d.offers > 0 and d.forbidden == 0 for d in days)
    ([(0,), (0,)], True)
    """

    def __init__(
        self,
        client: httpx.Client,
        world: World,
        *,
        start: object = None,
        customers_per_request: int = 20,
        learner: Learner | None = None,
        swap_timeout: float = 30.0,
        stop: threading.Event | None = None,
        run_id: str = "sim",
    ) -> None:
        if customers_per_request < 1:
            raise InputError(f"`customers_per_request` must be >= 1, got {customers_per_request!r}")
        day0 = pd.Timestamp.now(tz="UTC") if start is None else pd.Timestamp(start)  # type: ignore[arg-type]
        if day0.tzinfo is None:
            raise InputError(f"`start` must be timezone-aware (UTC), got {day0}")
        self.client = client
        self.live = LiveWorld(world)
        self.offset = day0.tz_convert("UTC").normalize() - next(world.steps()).at.normalize()
        self.batch = int(customers_per_request)
        self.learner = learner
        self.swap_timeout = float(swap_timeout)
        self.stop = stop if stop is not None else threading.Event()
        self.run_id = run_id
        self.version = -1
        self._sent = 0

    def run(self, days: int, on_day: Callable[[DayStats], None] | None = None) -> list[DayStats]:
        """Play ``days`` simulated days (fewer if the world ends or :attr:`stop` is set)."""
        if days < 1:
            raise InputError(f"`days` must be >= 1, got {days!r}")
        out: list[DayStats] = []
        steps: Iterator[Step] = self.live.world.steps()
        for step, _ in zip(steps, range(days), strict=False):
            stats = self.day(step)
            if stats is None:
                break
            out.append(stats)
            if on_day is not None:
                on_day(stats)
        return out

    def day(self, step: Step) -> DayStats | None:
        """One simulated day: decide, deliver, report due outcomes, learn at its end.

        Returns ``None`` when :attr:`stop` was set before the day was over.
        """
        rows = step.rows
        chunks = np.array_split(rows, max(1, -(-len(rows) // self.batch)))
        tally = dict.fromkeys(
            ("offers", "refused", "conversions", "value", "opt_outs", "expected", "baseline"), 0.0
        )
        tally["forbidden"] = 0
        sent_before = self._sent
        versions: set[int] = set()
        latencies: list[float] = []
        for j, chunk in enumerate(chunks):
            if self.stop.is_set():
                return None
            at = step.at + OPENING_HOURS * (j / len(chunks))
            self._report(at)
            if len(chunk) == 0:
                continue
            visitors = self.live.view(chunk, at)
            offers, ms = self._decide(visitors, at, key=f"{self.run_id}-{step.index}-{j}")
            versions.add(self.version)
            latencies.append(ms)
            delivered = self._deliver(visitors, offers, at)
            tally["offers"] += len(delivered)
            tally["refused"] += sum(o.get("product") is not None for o in offers) - len(delivered)
            r = self.live.respond(chunk, visitors, delivered, at)
            for name in ("conversions", "value", "opt_outs", "expected", "baseline", "forbidden"):
                tally[name] += getattr(r, name)
        if self.stop.is_set():
            return None
        end = step.at + pd.Timedelta(days=1)
        self._report(end)
        learned = self._learn(end)
        return DayStats(
            day=step.index,
            at=step.at + self.offset,
            requests=len(latencies),
            customers=len(rows),
            offers=int(tally["offers"]),
            refused=int(tally["refused"]),
            conversions=int(tally["conversions"]),
            value=float(tally["value"]),
            opt_outs=int(tally["opt_outs"]),
            expected=float(tally["expected"]),
            baseline=float(tally["baseline"]),
            forbidden=int(tally["forbidden"]),
            events=self._sent - sent_before,
            versions=tuple(sorted(versions)),
            learned=learned,
            version=self.version,
            latencies_ms=np.asarray(latencies, dtype=np.float64),
        )

    def _wire(self, t: int) -> str:
        """A world time (ns) as the service's ISO time."""
        return (pd.Timestamp(t, tz="UTC") + self.offset).isoformat()

    def _decide(
        self, visitors: pd.DataFrame, at: pd.Timestamp, key: str
    ) -> tuple[list[dict[str, Any]], float]:
        body = (
            f'{{"customer":{visitors.to_json(orient="records")},'
            f'"at":"{self._wire(at.value)}","channel":"app"}}'
        )
        t0 = time.perf_counter()
        r = self.client.post(
            "/v1/decisions",
            content=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        ms = (time.perf_counter() - t0) * 1e3
        if r.status_code != 200:
            raise TrafficError(f"POST /v1/decisions answered {r.status_code}: {r.text[:300]}")
        self.version = int(r.headers["X-Model-Version"])
        offers: list[dict[str, Any]] = r.json()["offers"]
        return offers, ms

    def _deliver(
        self, visitors: pd.DataFrame, offers: list[dict[str, Any]], at: pd.Timestamp
    ) -> list[Delivered]:
        """Post a ``delivered`` event per offer; the offers the service accepted."""
        position = {
            c: i
            for i, c in enumerate(visitors[self.live.world.feature_spec.customer_id].astype(str))
        }
        delay = self.live.world.execution_delay
        made = [o for o in offers if o.get("product") is not None]
        events = [
            {
                "decision_id": o["decision_id"],
                "type": "delivered",
                "at": self._wire((at + delay.get(o["channel"] or "", pd.Timedelta(0))).value),
                "idempotency_key": f"{o['decision_id']}-delivered",
            }
            for o in made
        ]
        accepted = self._post(events)
        return [
            Delivered(
                position[str(o["customer_id"])], o["product"], o["channel"] or "", o["decision_id"]
            )
            for o in made
            if f"{o['decision_id']}-delivered" in accepted
        ]

    def _report(self, at: pd.Timestamp) -> None:
        """Send the outcome events due by ``at`` (world time)."""
        due = self.live.due(at)
        for i in range(0, len(due), _EVENTS_PER_POST):
            part = due[i : i + _EVENTS_PER_POST]
            self._post([self._event(e) for e in part])
            self._sent += len(part)

    def _event(self, e: Outcome) -> dict[str, Any]:
        body: dict[str, Any] = {
            "decision_id": e.decision_id,
            "type": e.type,
            "at": self._wire(e.at),
            "idempotency_key": f"{e.decision_id}-{e.type}",
        }
        if e.value is not None:
            body["value"] = e.value
        return body

    def _post(self, events: list[dict[str, Any]]) -> set[str]:
        """Post events; the idempotency keys the service accepted (stored now or before).

        A refused batch is sent again event by event, so one refusal (a delivery the
        service blocks) costs only its own event.
        """
        if not events:
            return set()
        r = self.client.post("/v1/outcomes", json=events)
        if r.status_code == 200:
            return {e["idempotency_key"] for e in events}
        if r.status_code in (401, 403) or r.status_code >= 500:
            raise TrafficError(f"POST /v1/outcomes answered {r.status_code}: {r.text[:300]}")
        if len(events) == 1:
            return set()
        return set().union(*(self._post([e]) for e in events))

    def _learn(self, end: pd.Timestamp) -> int:
        """Learn what closed by ``end`` and wait until the service serves the newest version."""
        if self.learner is None:
            return 0
        results = self.learner.run_until_idle(now=end + self.offset)
        if not results:
            return 0
        newest = max(int(r.version) for r in results if r.version is not None)
        deadline = time.monotonic() + self.swap_timeout
        while True:
            served = int(self.client.get("/healthz").json()["model_version"])
            if served >= newest:
                self.version = served
                return sum(r.learned for r in results)
            if time.monotonic() > deadline:
                raise TrafficError(
                    f"the service still serves version {served} {self.swap_timeout:.0f} s "
                    f"after version {newest} was stored"
                )
            time.sleep(0.02)

"""Micro-batching: decision requests that arrive while the agent is busy are decided together.

A worker's agent decides one call at a time. Requests that arrive meanwhile wait; when the
agent is free, every waiting request is decided in one call (deciding ten customers costs
little more than deciding one) and recorded in one transaction (one commit instead of
ten), then each is answered. Under light load a batch is one request, so nothing waits
that did not have to.

A batch runs on the event loop itself, not in a thread: deciding is Python work that holds
the interpreter's lock anyway, and handing every batch to a thread and back cost more CPU
(lock hand-offs with the loop serving HTTP) than the decision did. While a batch runs, new
requests wait in their sockets; they are read as soon as it ends and form the next batch.
A worker process serves one batch at a time; several workers share the cores.

Near saturation a batch lingers: when the worker has been deciding most of the time lately
(:class:`BusyMeter`, at least ``LINGER_WHEN_BUSY`` of it) and its previous batch ended
moments ago (less than ten times ``linger`` seconds), a new batch waits ``linger`` for more
requests before it runs. A batch's fixed cost (the customers' contact history read, the
model's computations over small arrays, one commit) is several times a request's own, so
fewer, larger batches cost less CPU per request (measured: 2 ms of lingering cut the
server's CPU per request by about a quarter at 300 requests/s, two workers on PostgreSQL,
on a machine where that load saturated them). Below saturation the CPU it saves is worth
less than the time it adds: a request waits for the batches ahead of it about ``ρ/(2(1-ρ))``
batch times at a busy share ``ρ`` (a queue with regular service), half a batch time at
``ρ = 0.5`` against a linger of about one, so the worker lingers only from
``LINGER_WHEN_BUSY`` on. A request arriving at an idle worker is decided at once.

No decision depends on its batch: requests are decided together only when they share
the decision time, mode, placement and list length, and each request's customers are
read exactly as they would be alone (:meth:`xsell.Agent.act_together`); otherwise, or
when one of them is refused, each request is decided alone, with its own error (and, if
it gave no decision time, its own). Requests without a decision time decided together get
the time their batch is decided. Every request's decisions are committed before it is
answered.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from xsell.agent import Agent
from xsell.catalog.product import Mode
from xsell.control_group import CONTROL, CONTROL_REASON, TREATMENT
from xsell.decisions import RecordDecisions
from xsell.errors import InputError, XsellError

if TYPE_CHECKING:
    from xsell.service.state import ServiceState

__all__ = ["LINGER_WHEN_BUSY", "Batcher", "BusyMeter", "DecisionRequest"]

#: the busy share (see :class:`BusyMeter`) from which a batch lingers under load
LINGER_WHEN_BUSY = 0.7


@dataclass(eq=False)
class DecisionRequest:
    """One request's customers and options, and, once handled, what came of it.

    ``held`` marks its customers in the control group (no offer; ``None``: no control
    group). ``error`` is set when deciding failed (the request's own error, as if it
    were alone); ``record_error`` when recording failed (a decision id or idempotency
    key already in the log, or the database).
    """

    customers: Sequence[Mapping[str, Any]]
    at: datetime | None
    mode: Mode
    placement: str
    top_n: int
    idempotency_key: str | None = None
    held: np.ndarray | None = None
    decided: RecordDecisions | None = None
    explanations: list[str] = field(default_factory=list)
    agent: Agent | None = None
    error: BaseException | None = None
    record_error: BaseException | None = None
    future: asyncio.Future[None] | None = field(default=None, repr=False)


class BusyMeter:
    """The share of recent time a worker spent deciding batches, decaying with ``tau`` seconds.

    Each batch adds its span; the share seen at time ``t`` is the busy time weighted by
    ``exp(-(t - s) / tau)`` over the past, divided by ``tau`` (a share of 1 is a worker busy
    all along). Times are the event loop's clock.

    Examples
    --------
    >>> m = BusyMeter(tau=1.0)
    >>> for k in range(2_000):  # 3 ms of every 5 ms, for ten seconds
    ...     m.record(k * 0.005, k * 0.005 + 0.003)
    >>> round(m.share(10.0), 2)
    0.6
    >>> round(m.share(15.0), 3)  # five idle seconds later
    0.004
    """

    def __init__(self, tau: float = 1.0) -> None:
        self.tau = tau
        self._share = 0.0
        #: when the last batch ended (``-inf``: none yet)
        self.ended = -math.inf

    def record(self, start: float, end: float) -> None:
        """A batch ran from ``start`` to ``end``."""
        decay = math.exp(-(end - start) / self.tau)
        self._share = self.share(start) * decay + 1.0 - decay
        self.ended = end

    def share(self, now: float) -> float:
        """The busy share as of ``now``."""
        if self.ended == -math.inf:
            return 0.0
        return self._share * math.exp(-max(now - self.ended, 0.0) / self.tau)


class Batcher:
    """Decides and records a worker's requests, batching those that arrive together.

    Requests are queued on the event loop; when the loop is free, every queued request is
    decided in one call, recorded in one transaction and answered, all on the loop (the
    agent is not thread-safe, and a model swap waits for the batch). ``observe`` (if
    given) is called with the size of every batch.
    """

    def __init__(
        self,
        state: ServiceState,
        observe: Callable[[int], None] | None = None,
        *,
        linger: float = 0.0,
    ) -> None:
        self.state = state
        self.observe = observe
        self.linger = linger
        self._queue: list[DecisionRequest] = []  # touched on the event loop only
        self._deciding = False
        self.busy = BusyMeter()  # also says when the last batch ended

    @property
    def deciding(self) -> bool:
        """Whether a batch is scheduled or being decided now."""
        return self._deciding

    @property
    def waiting(self) -> int:
        """Requests waiting for the agent."""
        return len(self._queue)

    async def decide(self, request: DecisionRequest) -> DecisionRequest:
        """Decide and record ``request`` (with whatever waits beside it); returns it, done."""
        loop = asyncio.get_running_loop()
        request.future = loop.create_future()
        self._queue.append(request)
        if not self._deciding:
            self._deciding = True
            now = loop.time()
            if (
                self.linger > 0
                and now - self.busy.ended < 10 * self.linger
                and self.busy.share(now) >= LINGER_WHEN_BUSY
            ):
                loop.call_later(self.linger, self._run, loop)  # busy: let more requests join
            else:
                # after the callbacks already due: requests read in this pass of the loop join
                loop.call_soon(self._run, loop)
        await request.future
        return request

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        """Decide, record and answer every waiting request (on the event loop)."""
        batch, self._queue = self._queue, []
        started = loop.time()
        try:
            _settle(batch, self._decide, "error")
            _settle(batch, self._record, "record_error")
        finally:
            _answer(batch)
            if self._queue:
                loop.call_soon(self._run, loop)
            else:
                self._deciding = False
            self.busy.record(started, loop.time())

    # -- deciding --------------------------------------------------------------------------
    def _decide(self, batch: list[DecisionRequest]) -> None:
        if self.observe is not None:
            self.observe(len(batch))
        state = self.state
        with state.lock:  # the agent is not thread-safe; a model swap waits for the batch
            agent = state.agent
            now = agent.clock()
            groups: dict[tuple[Any, ...], list[DecisionRequest]] = defaultdict(list)
            for r in batch:
                r.agent = agent
                groups[(r.at or now, r.mode, r.placement, r.top_n)].append(r)
            for (at, mode, placement, top_n), group in groups.items():
                together = None
                if len(group) > 1:
                    try:
                        together = agent.act_together(
                            [r.customers for r in group],
                            at,
                            mode=mode,
                            placement=placement,
                            top_n=top_n,
                            blocked=_held([r.held for r in group], [r.customers for r in group]),
                        )
                    except Exception:  # whatever went wrong, each alone says what
                        together = None
                if together is not None:
                    for r, decided in zip(group, together, strict=True):
                        self._explain(agent, r, decided)
                    continue
                for r in group:  # alone: its own decisions (at its own time) or error
                    try:
                        decided = agent.act_records(
                            r.customers,
                            r.at,
                            mode=mode,
                            placement=placement,
                            top_n=top_n,
                            blocked=_held([r.held], [r.customers]),
                        )
                    except XsellError as exc:
                        r.error = exc
                    except (TypeError, ValueError, KeyError) as exc:  # a value of the wrong type
                        r.error = InputError(f"`customer` has a value xsell cannot read: {exc}")
                    except Exception as exc:
                        r.error = exc
                    else:
                        self._explain(agent, r, decided)

    @staticmethod
    def _explain(agent: Agent, r: DecisionRequest, decided: RecordDecisions) -> None:
        if r.held is not None:  # recorded as the control or the treatment group
            for d, p in zip(decided.decisions, decided.positions, strict=True):
                d["traffic_group"] = CONTROL if r.held[p] else TREATMENT
        try:
            r.explanations = agent.explain_records(decided)
        except Exception as exc:
            r.error = exc
        else:
            r.decided = decided

    # -- recording -------------------------------------------------------------------------
    def _record(self, batch: list[DecisionRequest]) -> None:
        ready = [r for r in batch if r.decided is not None and r.error is None]
        if not ready:
            return
        log = self.state.log
        if len(ready) > 1:
            try:
                log.record_requests(
                    [(r.decided, r.explanations, r.idempotency_key) for r in ready],  # type: ignore[misc]
                    ready[0].agent,  # type: ignore[arg-type]
                )
                return
            except Exception:  # one of them is at fault: record each alone to know which
                pass
        for r in ready:
            try:
                log.record_decisions(
                    r.decided,  # type: ignore[arg-type]
                    r.agent,  # type: ignore[arg-type]
                    explanations=r.explanations,
                    idempotency_key=r.idempotency_key,
                    check_contacts=True,
                )
            except Exception as exc:
                r.record_error = exc


def _answer(batch: list[DecisionRequest]) -> None:
    """Wake every request of a batch (on the event loop)."""
    for r in batch:
        if r.future is not None and not r.future.done():  # (a request given up on is done)
            r.future.set_result(None)


def _held(
    held: Sequence[np.ndarray | None], customers: Sequence[Sequence[Mapping[str, Any]]]
) -> dict[str, np.ndarray] | None:
    """The control group as a guardrail over these requests' customers, or ``None``."""
    if all(h is None for h in held):
        return None
    return {
        CONTROL_REASON: np.concatenate(
            [
                np.zeros(len(c), dtype=bool) if h is None else h
                for h, c in zip(held, customers, strict=True)
            ]
        )
    }


def _settle(
    batch: list[DecisionRequest], step: Callable[[list[DecisionRequest]], None], slot: str
) -> None:
    """Run a step; should it fail as a whole, every request of the batch not failed yet
    fails with it (no request is left waiting)."""
    try:
        step(batch)
    except Exception as exc:
        for r in batch:
            if r.error is None and r.record_error is None:
                setattr(r, slot, exc)

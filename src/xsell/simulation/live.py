"""A world played live: its customers' changing data, their responses, the events they cause.

The arena runs a policy inside the process; :class:`LiveWorld` serves a decision-maker
outside it (the HTTP service, through :mod:`xsell.simulation.traffic`). It shows each
visitor as the bank's data does at that moment (products bought since, consents
withdrawn), draws how each customer responds to a delivered offer with the arena's luck
(the same keyed uniforms per customer, time and product, so the same customer responds
the same way to the same offer at the same time), and queues the events the bank will
report (a conversion at the time of purchase within the window, an opt-out) until
simulated time reaches them.

It also keeps score the way the arena does, from the world's true probabilities: the
expected reward of the offers made, the expected reward of what the bank's propensity
model would have offered the same visitors in the same state (the day-one practice), and
any offer the catalog's guardrails forbid (there should be none).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from itertools import count

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform
from xsell.guardrails.contact_history import InMemoryContactHistory
from xsell.guardrails.rules import evaluate_guardrails
from xsell.simulation.arena import FATIGUE_DAYS
from xsell.simulation.worlds.base import World

__all__ = ["Delivered", "LiveWorld", "Outcome", "Responses"]

_DAY_NS = 86_400 * 10**9


@dataclass(frozen=True, slots=True)
class Delivered:
    """An offer the customer received: the visitor's position in the batch, and what."""

    position: int
    product: str
    channel: str
    decision_id: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """An event the bank will report: ``type`` at ``at`` (ns, world time)."""

    at: int
    decision_id: str
    type: str
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Responses:
    """What one batch of visitors will do about the offers they received.

    ``expected`` is the true expected reward of those offers (value × P(conversion) minus
    the expected opt-out cost and the contact cost), ``baseline`` that of the offers the
    bank's propensity model would have made the same visitors; ``forbidden`` counts offers
    the guardrails block.
    """

    conversions: int
    value: float
    opt_outs: int
    expected: float
    baseline: float
    forbidden: int


class LiveWorld:
    """Customers of ``world`` in simulated time, answering offers made elsewhere.

    Parameters
    ----------
    world
        The world (its seed fixes the customers and their luck); its catalog must be the
        decision-maker's.

    Examples
    --------
    >>> from xsell.simulation.worlds.bank import BankWorld
    >>> live = LiveWorld(BankWorld(seed=3, customers=200, days=5))
    >>> step = next(live.world.steps())
    >>> visitors = live.view(step.rows, step.at)
    >>> offer = Delivered(0, "savings_account", "app", "d-1")
    >>> r = live.respond(step.rows, visitors, [offer], step.at)
    >>> r.forbidden in (0, 1), r.baseline >= 0.0 or r.baseline < 0.0
    (True, True)
    >>> all(e.decision_id == "d-1" for e in live.due(step.at + pd.Timedelta(days=30)))
    True
    """

    def __init__(self, world: World) -> None:
        self.world = world
        cat, spec = world.catalog, world.feature_spec
        self.pop = world.population()
        self.ids = self.pop[spec.customer_id].astype(str).to_numpy(dtype=object)
        self.products = list(cat.product_ids)
        self.channels = sorted(
            {c for p in cat.products for c in (*p.channels.values(), *p.channel_choices)}
        )
        self.owned = np.column_stack(
            [self.pop[p.owned_col].to_numpy(dtype=bool) for p in cat.products]
        )
        self.consent_cols = [spec.consent_column(c) for c in self.channels]
        self.consent = np.column_stack(
            [
                self.pop[c].to_numpy(dtype=bool) if c else np.ones(len(self.pop), dtype=bool)
                for c in self.consent_cols
            ]
        )
        self.window_ns = (world.window() * _DAY_NS).astype(np.int64)
        self.value = np.array([p.value.amount for p in cat.products])
        self.opt_out_cost = np.array([p.opt_out_cost for p in cat.products])
        self.contact_cost = np.array(
            [cat.contact_cost(p.channels["realtime"]) for p in cat.products]
        )
        self.propensity = [spec.propensity_column(p) for p in self.products]
        self.history = InMemoryContactHistory()
        self.contacts: dict[int, list[int]] = {}
        # state changes (time, order, kind 0 = owns product / 1 = no consent, row, index)
        self._changes: list[tuple[int, int, int, int, int]] = []
        self._events: list[tuple[int, int, Outcome]] = []
        self._order = count()

    def view(self, rows: np.ndarray, at: pd.Timestamp) -> pd.DataFrame:
        """These customers as the bank's data shows them at ``at`` (apply :meth:`due` first)."""
        view = self.pop.iloc[rows].copy()
        for k, p in enumerate(self.world.catalog.products):
            view[p.owned_col] = self.owned[rows, k]
        for c, col in enumerate(self.consent_cols):
            if col is not None and col in view.columns:
                view[col] = self.consent[rows, c]
        return self.world.observe(view, at)

    def due(self, at: pd.Timestamp) -> list[Outcome]:
        """Apply the changes due by ``at``; the events due by then, in time order."""
        now = at.value
        while self._changes and self._changes[0][0] <= now:
            _, _, kind, row, idx = heapq.heappop(self._changes)
            if kind == 0:
                self.owned[row, idx] = True
            else:
                self.consent[row, idx] = False
        out = []
        while self._events and self._events[0][0] <= now:
            out.append(heapq.heappop(self._events)[2])
        return out

    def respond(
        self,
        rows: np.ndarray,
        visitors: pd.DataFrame,
        delivered: list[Delivered],
        at: pd.Timestamp,
    ) -> Responses:
        """Draw the responses of the visitors ``rows`` (seen as ``visitors``) at ``at``.

        Offers are contacts from their delivery; purchases and opt-outs change the
        customers' data when they happen, and the reportable ones are queued as events.
        """
        world, cat = self.world, self.world.catalog
        n, K = len(rows), len(self.products)
        now = at.value
        truth = world.truth(visitors, at)
        recent = self._recent(rows, now)
        opt_p = np.minimum(1.0, truth.opt_out * (1.0 + world.fatigue * recent[:, None]))
        ev = truth.convert * truth.value - opt_p * self.opt_out_cost - self.contact_cost
        eligible = evaluate_guardrails(
            visitors, cat, world.feature_spec, at=at, history=self.history
        ).eligible
        baseline = self._propensity_pick(visitors, eligible)
        chosen = baseline >= 0
        base_ev = float(ev[np.flatnonzero(chosen), baseline[chosen]].sum())

        r = np.array([d.position for d in delivered], dtype=np.int64)
        a = np.array([self.products.index(d.product) for d in delivered], dtype=np.int64)
        offer = np.zeros((n, K), dtype=bool)
        offer[r, a] = True
        keys = hash_keys(self.ids[rows], now, "outcome")
        u = np.stack([keyed_uniform(world.seed, keys, j) for j in range(4 * K)], axis=1)
        u_buy, u_delay, u_opt, u_value = (u[:, i * K : (i + 1) * K] for i in range(4))
        buys = ~self.owned[rows] & (u_buy < np.where(offer, truth.convert, truth.organic))
        for i, k in zip(*np.nonzero(buys & ~offer), strict=True):  # organic, within the window
            self._change(now + int(u_delay[i, k] * self.window_ns[k]), 0, int(rows[i]), int(k))
        value = world.realized_value(truth, u_value)
        conversions, total, opt_outs = 0, 0.0, 0
        contacts = []
        for d, i, k in zip(delivered, r.tolist(), a.tolist(), strict=True):
            row = int(rows[i])
            contact = now + int(world.execution_delay.get(d.channel, pd.Timedelta(0)).value)
            contacts.append((self.ids[row], d.product, d.channel, contact))
            self.contacts.setdefault(row, []).append(contact)
            mean_days = world.response_delay_days.get(d.channel, 1.0)
            delay = int(-np.log1p(-u_delay[i, k]) * mean_days * _DAY_NS)
            if buys[i, k]:
                self._change(contact + delay, 0, row, k)
                if delay <= self.window_ns[k]:
                    self._event(Outcome(contact + delay, d.decision_id, "conversion", value[i, k]))
                    conversions += 1
                    total += float(value[i, k])
            if u_opt[i, k] < opt_p[i, k]:
                t_out = contact + min(delay, _DAY_NS)
                if d.channel in self.channels:
                    self._change(t_out, 1, row, self.channels.index(d.channel))
                self._event(Outcome(t_out, d.decision_id, "opt_out"))
                opt_outs += 1
        if contacts:
            cid, prod, chan, t = zip(*contacts, strict=True)
            self.history.record(
                pd.DataFrame(
                    {
                        "customer_id": list(cid),
                        "product_id": list(prod),
                        "channel": list(chan),
                        "at": pd.to_datetime(list(t), utc=True),
                    }
                )
            )
        return Responses(
            conversions=conversions,
            value=total,
            opt_outs=opt_outs,
            expected=float(ev[r, a].sum()),
            baseline=base_ev,
            forbidden=int((~eligible[r, a]).sum()),
        )

    def _propensity_pick(self, visitors: pd.DataFrame, eligible: np.ndarray) -> np.ndarray:
        """The allowed product with the highest propensity × value (-1: none allowed)."""
        cols = [c for c in self.propensity if c is not None and c in visitors.columns]
        if len(cols) == len(self.propensity):
            p = visitors[cols].to_numpy(dtype=np.float64, na_value=0.0)
        else:  # no propensity model: the catalog's base rates
            p = np.tile([q.base_rate for q in self.world.catalog.products], (len(visitors), 1))
        score = np.where(eligible, p * self.value, -np.inf)
        best = np.argmax(score, axis=1)
        return np.where(eligible.any(axis=1), best, -1)

    def _recent(self, rows: np.ndarray, now: int) -> np.ndarray:
        since = now - int(FATIGUE_DAYS * _DAY_NS)
        return np.array(
            [sum(since < t <= now for t in self.contacts.get(int(r), ())) for r in rows],
            dtype=np.float64,
        )

    def _change(self, t: int, kind: int, row: int, idx: int) -> None:
        heapq.heappush(self._changes, (t, next(self._order), kind, row, idx))

    def _event(self, event: Outcome) -> None:
        heapq.heappush(self._events, (event.at, next(self._order), event))

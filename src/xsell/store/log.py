"""The decision log: decisions, deliveries and outcome events, recorded as they happen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Engine, String, any_, bindparam, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from xsell._time import Clock, as_utc, system_clock
from xsell.catalog.product import Catalog
from xsell.decisions import RecordDecisions, decision_records
from xsell.errors import InputError, UnknownDecisionError
from xsell.store import pg_rows
from xsell.store.contacts import (
    ConnectionContacts,
    contact_or_refuse,
    insert_contacts,
    try_contact,
)
from xsell.store.direct import DirectConnection
from xsell.store.engine import (
    is_postgres,
    make_engine,
    one_statement,
    read_transaction,
    write_transaction,
)
from xsell.store.erasure import erase_customer, expire_before
from xsell.store.events import EventReceipt, event_rows, store_events
from xsell.store.rows import decision_rows, pending_inputs, protected_rows, spec_version
from xsell.store.rules import RewardRules
from xsell.store.tables import (
    Contact,
    Decision,
    DecisionRequest,
    Explanation,
    ProtectedAttributes,
)

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["DecisionLog", "spec_version"]

_ONE_STATEMENT = 2_000  # PostgreSQL: decisions written in one statement (see pg_rows)
_ID_CHUNK = 5_000  # ids per IN list (SQLite allows 32,766 parameters per statement)
# built once: building a statement costs more than running it for one customer
_RECENT_CONTACTS = select(Contact.customer_id, Contact.product, Contact.at).where(
    Contact.customer_id.in_(bindparam("ids", expanding=True)), Contact.at >= bindparam("since")
)
# PostgreSQL: the ids as one array parameter (an IN list is rendered anew at every call)
_RECENT_CONTACTS_PG = select(Contact.customer_id, Contact.product, Contact.at).where(
    Contact.customer_id == any_(bindparam("ids", type_=postgresql.ARRAY(String))),
    Contact.at >= bindparam("since"),
)


class DecisionLog:
    """The system of record: every decision, contact and outcome event.

    It is also the agent's :class:`~xsell.ContactHistory`: caps and cool-off are read from
    the contacts recorded here. Build the agent with ``record_contacts=False``: an offer
    becomes a contact when it is delivered (:meth:`record_delivery`, or a delivery event),
    not when it is decided.

    Parameters
    ----------
    engine
        An engine from :func:`xsell.store.make_engine`, or a database URL.
    catalog
        The catalog whose contact rules :meth:`record_delivery` enforces.
    rules
        Reward rules (delivery events, observation windows).
    clock
        Where "now" comes from (received times, default delivery times).

    Examples
    --------
    >>> import tempfile, os
    >>> from xsell import Agent, Catalog, make_customers, sample_feature_spec
    >>> from xsell.store import DecisionLog, migrate
    >>> url = f"sqlite:///{os.path.join(tempfile.mkdtemp(), 'log.db')}"
    >>> migrate(url)
    >>> log = DecisionLog(url, catalog=Catalog.sample())
    >>> agent = Agent(log.catalog, sample_feature_spec(), history=log, record_contacts=False)
    >>> decisions = agent.act(make_customers(3, seed=1), at="2026-01-05T09:00:00Z")
    >>> log.record_decisions(decisions, agent)
    3
    >>> offered = decisions["decision_id"][decisions["product"].notna()].iloc[0]
    >>> log.record_delivery(offered, at="2026-01-05T09:00:01Z")
    True
    >>> log.record_events([{"decision_id": offered, "type": "click", "idempotency_key": "k1",
    ...                     "at": "2026-01-05T09:01:00Z"}] * 2)
    1
    >>> log.engine.dispose()
    """

    def __init__(
        self,
        engine: Engine | str | None = None,
        *,
        catalog: Catalog,
        rules: RewardRules | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine if isinstance(engine, Engine) else make_engine(engine)
        # PostgreSQL: the decision path's statements skip the pool (see xsell.store.direct)
        self._direct = DirectConnection(self.engine) if is_postgres(self.engine) else None
        self.catalog = catalog
        self.rules = rules if rules is not None else RewardRules()
        self.clock: Clock = clock if clock is not None else system_clock

    def _now(self, at: object = None, name: str = "at") -> datetime:
        return as_utc(self.clock() if at is None else at, name=name).to_pydatetime()

    # -- decisions ----------------------------------------------------------------------
    def record_decisions(
        self,
        decisions: pd.DataFrame | RecordDecisions,
        agent: Agent,
        *,
        traffic_group: str = "default",
        customers: pd.DataFrame | None = None,
        explanations: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        check_contacts: bool = False,
    ) -> int:
        """Append the decisions ``agent.act`` returned; returns how many were recorded.

        The model inputs of each offer are read from the agent's pending decisions (call
        this right after ``act``); decisions ``agent.act_records`` returned carry their model
        inputs. A ``traffic_group`` column (key, for record decisions; e.g. ``control`` /
        ``treatment``) overrides ``traffic_group`` row by row. ``customers`` (the table given
        to ``act``, same index) supplies the protected attributes, stored apart for audits
        (record decisions carry their customers: their protected attributes are always
        stored). Offers decided in a mode of ``rules.contact_at_decision_modes`` (batch
        sends) are contacts at once; with ``check_contacts`` (the service's way) their
        contact rules are checked again under each customer's lock as they become contacts,
        and an offer another request contacted the customer before is stored as a refused
        contact instead. A decision id recorded before raises :class:`InputError`: decisions
        are never rewritten. Everything is written at once, committed when this returns.
        """
        if len(decisions) == 0:
            return 0
        return self._write(
            [self._rows(decisions, agent, traffic_group, customers, explanations, idempotency_key)],
            check_contacts=check_contacts,
        )[0]

    def record_requests(
        self,
        requests: Sequence[tuple[RecordDecisions, Sequence[str] | None, str | None]],
        agent: Agent,
        *,
        traffic_group: str = "default",
    ) -> list[int]:
        """Record several requests' decisions in one transaction; how many each recorded.

        Each request is ``(decisions, explanations, idempotency_key)`` as for
        :meth:`record_decisions`, with decisions from ``agent.act_records`` or
        ``agent.act_together``. All are recorded, or none (:class:`InputError` when a
        decision id or idempotency key is in the log: record them one by one to know which).
        Batch-mode offers become contacts as with ``check_contacts``.
        """
        return self._write(
            [self._rows(d, agent, traffic_group, None, texts, key) for d, texts, key in requests],
            check_contacts=True,
        )

    def _rows(
        self,
        decisions: pd.DataFrame | RecordDecisions,
        agent: Agent,
        traffic_group: str,
        customers: pd.DataFrame | None,
        explanations: Sequence[str] | None,
        idempotency_key: str | None,
    ) -> dict[str, list[dict[str, Any]]]:
        """The rows of every table that recording these decisions adds."""
        if isinstance(decisions, RecordDecisions):
            records, inputs = decisions.decisions, decisions.inputs
        else:
            records = decision_records(decisions)
            inputs = pending_inputs(agent, records)
        rows = decision_rows(
            records,
            inputs,
            agent,
            traffic_group=traffic_group,
            reward_rules_version=self.rules.fingerprint,
        )
        ids = [r["id"] for r in rows]
        out: dict[str, list[dict[str, Any]]] = {
            "decisions": rows,
            "protected": protected_rows(decisions, agent, customers, ids) if rows else [],
            "contacts": [
                {
                    "decision_id": r["id"],
                    "customer_id": r["customer_id"],
                    "product": r["product"],
                    "channel": r["channel"] or "",
                    "at": r["at"],
                    "source": "decision",
                }
                for r in rows
                if r["product"] is not None and r["mode"] in self.rules.contact_at_decision_modes
            ],
            "explanations": []
            if explanations is None
            else [
                {"decision_id": i, "text": str(t)} for i, t in zip(ids, explanations, strict=True)
            ],
            "requests": []
            if idempotency_key is None
            else [
                {"idempotency_key": idempotency_key, "created_at": self._now(), "decision_ids": ids}
            ],
        }
        return out

    def _write(
        self, batches: Sequence[dict[str, list[dict[str, Any]]]], *, check_contacts: bool
    ) -> list[int]:
        """Insert the rows of several recordings at once: on PostgreSQL, a few in one
        statement (:mod:`xsell.store.pg_rows`), else in one transaction, one INSERT per
        table."""

        def every(table: str) -> list[dict[str, Any]]:
            return [row for b in batches for row in b[table]]

        rows = every("decisions")
        contacts = every("contacts")
        if 0 < len(rows) <= _ONE_STATEMENT and is_postgres(self.engine) and not contacts:
            tables = {k: every(k) for k in pg_rows.TABLES}
            try:
                encoded = {k: pg_rows.encode(v) for k, v in tables.items()}
            except ValueError:  # a value without a JSON form: the rows go the usual way
                encoded = None
            if encoded is not None:
                try:
                    self._insert_encoded(encoded)
                except (IntegrityError, psycopg.IntegrityError):
                    raise InputError(
                        "`decisions` repeats a decision id already in the log; decisions are "
                        "append-only (record each decision once)"
                    ) from None
                return [len(b["decisions"]) for b in batches]
        if rows:
            try:
                with write_transaction(self.engine) as conn:
                    conn.execute(insert(Decision), rows)
                    if protected := every("protected"):
                        conn.execute(insert(ProtectedAttributes), protected)
                    if check_contacts:
                        contact_or_refuse(conn, contacts, catalog=self.catalog, rules=self.rules)
                    else:
                        insert_contacts(conn, contacts, self.rules)
                    if texts := every("explanations"):
                        conn.execute(insert(Explanation), texts)
                    if requests := every("requests"):
                        conn.execute(insert(DecisionRequest), requests)
            except IntegrityError:
                raise InputError(
                    "`decisions` repeats a decision id already in the log; decisions are "
                    "append-only (record each decision once)"
                ) from None
        return [len(b["decisions"]) for b in batches]

    def _insert_encoded(self, encoded: Mapping[str, str]) -> None:
        params = pg_rows.parameters(encoded)
        direct = self._direct
        if direct is not None and direct.execute(pg_rows.STATEMENT, params, rows=False) is not None:
            return
        with one_statement(self.engine) as conn:
            conn.execute(pg_rows.STATEMENT, params)

    def close(self) -> None:
        """Close the connection the decision path holds (the engine's pool is the caller's)."""
        if self._direct is not None:
            self._direct.close()

    def _decisions(self, conn: Any, ids: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 5_000):
            stmt = select(Decision.id, Decision.customer_id, Decision.product, Decision.channel)
            found.update(
                (r.id, r)
                for r in conn.execute(stmt.where(Decision.id.in_(unique[start : start + 5_000])))
            )
        unknown = [i for i in unique if i not in found]
        if unknown:
            raise UnknownDecisionError(
                f"`decision_id` names {len(unknown)} decision(s) not in the log: {unknown[:5]}"
            )
        return found

    def decisions_for_key(self, idempotency_key: str) -> list[str] | None:
        """The decision ids recorded under an idempotency key, in order (``None``: none)."""
        stmt = select(DecisionRequest.decision_ids).where(
            DecisionRequest.idempotency_key == idempotency_key
        )
        with read_transaction(self.engine) as conn:
            ids = conn.execute(stmt).scalar()
        return None if ids is None else [str(i) for i in ids]

    # -- contacts -----------------------------------------------------------------------
    def record_delivery(
        self,
        decision_id: str,
        at: object = None,
        *,
        source: str = "delivered",
        enforce_caps: bool = True,
    ) -> bool:
        """Record that an offer is delivered: it becomes a contact and opens its window.

        Atomic per customer: the catalog's cool-off, frequency caps and contact limit are
        checked against the log and the contact recorded in one transaction that holds the
        customer's lock, so concurrent deliveries to one customer cannot all pass a cap.
        Returns ``False`` when a rule blocks the contact: no contact is recorded, a refused
        contact naming the rule is. Delivering a decision again returns ``True`` and changes
        nothing.
        """
        ts = self._now(at)
        with write_transaction(self.engine) as conn:
            d = self._decisions(conn, [decision_id])[decision_id]
            if d.product is None:
                raise InputError(f"`decision_id` {decision_id!r} offered nothing to deliver")
            reason = try_contact(
                conn,
                catalog=self.catalog,
                rules=self.rules,
                decision_id=decision_id,
                customer_id=d.customer_id,
                product=d.product,
                channel=d.channel or "",
                at=ts,
                source=source,
                enforce_caps=enforce_caps,
            )
        return reason == ""

    def contacts_since(self, customer_ids: np.ndarray, since: datetime) -> pd.DataFrame:
        """Contacts of these customers at or after ``since`` (the ContactHistory protocol)."""
        with read_transaction(self.engine) as conn:
            return ConnectionContacts(conn).contacts_since(customer_ids, since)

    def contact_rows(
        self, customer_ids: np.ndarray, since: datetime
    ) -> list[tuple[str, str, datetime]]:
        """The contacts :meth:`contacts_since` gives, as ``(customer_id, product, at)`` rows
        (the guardrails' way for a few customers: no DataFrame)."""
        ids = list(dict.fromkeys(str(i) for i in np.asarray(customer_ids).tolist()))
        cutoff = pd.Timestamp(since).tz_convert("UTC").to_pydatetime()
        rows: list[tuple[str, str, datetime]] = []
        # one statement for a few customers (autocommit on PostgreSQL: no BEGIN/ROLLBACK)
        few = len(ids) <= _ID_CHUNK
        if few and self._direct is not None:
            found = self._direct.execute(
                _RECENT_CONTACTS_PG, {"ids": ids, "since": cutoff}, rows=True
            )
            if found is not None:
                return [(str(r[0]), str(r[1]), r[2]) for r in found]
        with (
            one_statement(self.engine, write=False) if few else read_transaction(self.engine)
        ) as conn:
            stmt = _RECENT_CONTACTS_PG if is_postgres(conn) else _RECENT_CONTACTS
            for start in range(0, len(ids), _ID_CHUNK):
                params = {"ids": ids[start : start + _ID_CHUNK], "since": cutoff}
                rows.extend((r[0], r[1], r[2]) for r in conn.execute(stmt, params))
        return rows

    def record(self, contacts: pd.DataFrame) -> None:
        """Refused: the log records contacts per decision, at delivery.

        Build the agent with ``record_contacts=False`` and call :meth:`record_delivery`.
        """
        raise InputError(
            "`record_contacts` must be False for an agent whose history is the decision log: "
            "contacts are recorded at delivery (DecisionLog.record_delivery)"
        )

    # -- outcome events -----------------------------------------------------------------
    def record_events(
        self,
        events: pd.DataFrame | Sequence[Mapping[str, Any]],
        *,
        enforce_caps: bool = False,
    ) -> int:
        """Store outcome events; returns how many were new.

        Each event has ``decision_id``, ``type`` (one of ``rules.event_types``) and
        ``idempotency_key``, and optionally ``value``, ``at`` (event time, default now) and
        ``received_at`` (default now). An event whose key is stored already changes nothing.
        A delivery event (``rules.delivery_events``) makes its offer a contact; by default
        without a cap check (it happened), with ``enforce_caps`` as :meth:`receive_events`
        does.
        """
        return self.receive_events(events, enforce_caps=enforce_caps).stored

    def receive_events(
        self,
        events: pd.DataFrame | Sequence[Mapping[str, Any]],
        *,
        enforce_caps: bool = True,
    ) -> EventReceipt:
        """Store outcome events (as :meth:`record_events`); what was stored and refused.

        With ``enforce_caps`` (the service's way) a delivery event is a request to
        contact: the customer's cool-off, frequency caps and contact limit are checked and
        the contact recorded under the customer's lock, so concurrent deliveries cannot
        all pass a cap. A delivery the rules refuse is stored as a refused contact naming
        the rule (the offer must not be delivered; it is no contact); a retry of its
        idempotency key reports the same refusal.
        """
        records: list[Any] = (
            events.to_dict("records") if isinstance(events, pd.DataFrame) else list(events)
        )
        rows = event_rows(records, self.rules, lambda v, name: self._now(v, name=name), self._now())
        if not rows:
            return EventReceipt(stored=0, duplicate=len(records))
        with write_transaction(self.engine) as conn:
            found = self._decisions(conn, [r["decision_id"] for r in rows.values()])
            return store_events(
                conn,
                rows,
                found,
                catalog=self.catalog,
                rules=self.rules,
                enforce_caps=enforce_caps,
                received=len(records),
            )

    # -- erasure and retention ------------------------------------------------------------
    def erase_customer(self, customer_id: str) -> int:
        """Delete everything the log holds on one customer; returns the decisions erased.

        Learned outcomes keep their decision id and model inputs (no customer id), so the
        model versions stay reproducible; idempotency keys forget the erased decisions
        (:mod:`xsell.store.erasure`).
        """
        with write_transaction(self.engine) as conn:
            return erase_customer(conn, customer_id)

    def apply_retention(self, days: float, now: object = None) -> int:
        """Delete decisions (and their contacts, events, protected attributes) older than
        ``days``, and the idempotency keys recorded before then; returns how many decisions
        were deleted."""
        if not days > 0:
            raise InputError(f"`days` must be > 0, got {days!r}")
        cutoff = self._now(now, name="now") - timedelta(days=float(days))
        with write_transaction(self.engine) as conn:
            return expire_before(conn, cutoff)

"""Bounded memory of recent decisions' model inputs, so outcomes can be learned by id."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xsell.errors import UnknownDecisionError

__all__ = ["PendingDecisions"]

#: marks a slot whose id is still in the not-yet-indexed batches
_PENDING_INDEX = "\x00pending-index"


class PendingDecisions:
    """A ring buffer of (decision id → inputs of the offered product).

    When full, the oldest decisions are overwritten; an outcome for them must then be sent
    as a full row (context + product), as when replaying the decision log.

    Adding is array writes only: ids are kept as one Arrow-backed array per batch and the
    id → slot index is built on the first lookup after an add (many decisions, such as a
    nightly batch learned from the decision log, are never looked up by id). An index
    entry is valid only while its slot still holds that id, so eviction and forgetting
    never touch the index; stale entries are swept when it outgrows twice the capacity.
    """

    def __init__(self, capacity: int, n_features: int, n_arm_inputs: int) -> None:
        self.capacity = int(capacity)
        self.X = np.zeros((self.capacity, n_features))
        self.E = np.zeros((self.capacity, n_arm_inputs))
        self.arm = np.zeros(self.capacity, dtype=np.int64)
        self.ids = np.full(self.capacity, None, dtype=object)
        self.slot: dict[str, int] = {}
        self.next = 0
        self._unindexed: list[tuple[object, np.ndarray]] = []

    def __len__(self) -> int:
        self._index()
        return int((self.ids != None).sum())  # noqa: E711 (elementwise comparison)

    def live_ids(self) -> list[str]:
        """Ids of the decisions still pending, oldest first."""
        self._index()
        order = (np.arange(self.capacity) + self.next) % max(self.capacity, 1)
        ids = self.ids[order]
        return [str(i) for i in ids[ids != None]]  # noqa: E711

    def add(self, ids: Sequence[str], X: np.ndarray, E: np.ndarray, arm: np.ndarray) -> None:
        """Remember the inputs of offered decisions (arm = product index)."""
        m = len(ids)
        if m == 0 or self.capacity == 0:
            return
        if m > self.capacity:
            cut = slice(m - self.capacity, m)
            ids, X, E, arm = ids[cut], X[cut], E[cut], arm[cut]
            m = self.capacity
        slots = (self.next + np.arange(m)) % self.capacity
        self.X[slots] = X
        self.E[slots] = E
        self.arm[slots] = arm
        self.ids[slots] = _PENDING_INDEX  # filled with the ids when the index is built
        self._unindexed.append((ids, slots))
        self.next = int((self.next + m) % self.capacity)

    def _index(self) -> None:
        # newest batch first claims its slots; older batches keep only unclaimed ones
        claimed = np.zeros(self.capacity, dtype=bool)
        plans = []
        for ids, slots in reversed(self._unindexed):
            keep = ~claimed[slots]
            claimed[slots] = True
            plans.append((ids, slots, keep))
        for ids, slots, keep in reversed(plans):  # oldest first: the newest id wins
            id_list = list(ids)
            if not keep.all():
                id_list = [i for i, k in zip(id_list, keep.tolist(), strict=True) if k]
                slots = slots[keep]
            self.ids[slots] = np.asarray(id_list, dtype=object)
            self.slot.update(zip(id_list, slots.tolist(), strict=True))
        self._unindexed.clear()
        if len(self.slot) > 2 * self.capacity:
            live = np.flatnonzero(self.ids != None)  # noqa: E711
            self.slot = dict(zip(self.ids[live].tolist(), live.tolist(), strict=True))

    def lookup(self, ids: list[str]) -> np.ndarray:
        """Slots of these decisions; :class:`UnknownDecisionError` naming any unknown id."""
        if self._unindexed:
            self._index()
        get = self.slot.get
        arr = np.fromiter((get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
        held = np.full(len(ids), None, dtype=object)
        held[arr >= 0] = self.ids[arr[arr >= 0]]
        ok = held == np.asarray(ids, dtype=object)
        if not ok.all():
            unknown = [i for i, good in zip(ids, ok.tolist(), strict=True) if not good]
            raise UnknownDecisionError(
                f"{len(unknown)} decision id(s) are not pending (unknown, already learned, or older "
                f"than the last {self.capacity} decisions): {unknown[:5]}; send full rows "
                "(context + product) to learn from them"
            )
        return arr

    def forget(self, slots: np.ndarray) -> None:
        """Drop learned decisions (by the slots :meth:`lookup` gave), so none is learned twice."""
        self.ids[slots] = None

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for persistence (live entries only, oldest first)."""
        self._index()
        order = (np.arange(self.capacity) + self.next) % max(self.capacity, 1)
        live = order[self.ids[order] != None]  # noqa: E711
        return {
            "pending_ids": np.asarray(self.ids[live].tolist(), dtype=str),
            "pending_X": self.X[live],
            "pending_E": self.E[live],
            "pending_arm": self.arm[live],
        }

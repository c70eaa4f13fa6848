"""Bounded memory of recent decisions' model inputs, so outcomes can be learned by id."""

from __future__ import annotations

import numpy as np

from xsell.errors import UnknownDecisionError

__all__ = ["PendingDecisions"]


class PendingDecisions:
    """A ring buffer of (decision id → inputs of the offered product).

    When full, the oldest decisions are overwritten; an outcome for them must then be sent
    as a full row (context + product), as when replaying the decision log.

    The id → slot index is never cleaned on the hot path: an entry is valid only while its
    slot still holds that id, so eviction and forgetting are plain array writes; stale
    entries are dropped in one sweep when the index grows past twice the capacity.
    """

    def __init__(self, capacity: int, n_features: int, n_arm_inputs: int) -> None:
        self.capacity = int(capacity)
        self.X = np.zeros((self.capacity, n_features))
        self.E = np.zeros((self.capacity, n_arm_inputs))
        self.arm = np.zeros(self.capacity, dtype=np.int64)
        self.ids = np.full(self.capacity, None, dtype=object)
        self.slot: dict[str, int] = {}
        self.next = 0

    def __len__(self) -> int:
        return int((self.ids != None).sum())  # noqa: E711 (elementwise comparison)

    def live_ids(self) -> list[str]:
        """Ids of the decisions still pending, oldest first."""
        order = (np.arange(self.capacity) + self.next) % max(self.capacity, 1)
        ids = self.ids[order]
        return [str(i) for i in ids[ids != None]]  # noqa: E711

    def add(self, ids: np.ndarray, X: np.ndarray, E: np.ndarray, arm: np.ndarray) -> None:
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
        self.ids[slots] = ids
        self.slot.update(zip(ids.tolist(), slots.tolist(), strict=True))
        self.next = int((self.next + m) % self.capacity)
        if len(self.slot) > 2 * self.capacity:
            live = np.flatnonzero(self.ids != None)  # noqa: E711
            self.slot = dict(zip(self.ids[live].tolist(), live.tolist(), strict=True))

    def lookup(self, ids: list[str]) -> np.ndarray:
        """Slots of these decisions; :class:`UnknownDecisionError` naming any unknown id."""
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
        order = (np.arange(self.capacity) + self.next) % max(self.capacity, 1)
        live = order[self.ids[order] != None]  # noqa: E711
        return {
            "pending_ids": np.asarray(self.ids[live].tolist(), dtype=str),
            "pending_X": self.X[live],
            "pending_E": self.E[live],
            "pending_arm": self.arm[live],
        }

"""Bounded memory of recent decisions' model inputs, so outcomes can be learned by id."""

from __future__ import annotations

import numpy as np

from xsell.errors import UnknownDecisionError

__all__ = ["PendingDecisions"]


class PendingDecisions:
    """A ring buffer of (decision id → inputs of the offered product).

    When full, the oldest decisions are forgotten; an outcome for them must then be sent
    as a full row (context + product), as when replaying the decision log.
    """

    def __init__(self, capacity: int, n_features: int, n_arm_inputs: int) -> None:
        self.capacity = int(capacity)
        self.X = np.zeros((self.capacity, n_features))
        self.E = np.zeros((self.capacity, n_arm_inputs))
        self.arm = np.zeros(self.capacity, dtype=np.int64)
        self.ids = np.empty(self.capacity, dtype=object)
        self.slot: dict[str, int] = {}
        self.next = 0

    def __len__(self) -> int:
        return len(self.slot)

    def add(self, ids: np.ndarray, X: np.ndarray, E: np.ndarray, arm: np.ndarray) -> None:
        """Remember the inputs of offered decisions (arm = product index)."""
        m = len(ids)
        if m == 0 or self.capacity == 0:
            return
        if m > self.capacity:
            ids, X, E, arm = (
                ids[-self.capacity :],
                X[-self.capacity :],
                E[-self.capacity :],
                arm[-self.capacity :],
            )
            m = self.capacity
        slots = (self.next + np.arange(m)) % self.capacity
        olds = self.ids[slots]
        live = np.flatnonzero(olds != None)  # noqa: E711 (elementwise comparison)
        for old, s in zip(olds[live].tolist(), slots[live].tolist(), strict=True):
            # a decision re-made later (same id) lives in a newer slot: keep that one
            if self.slot.get(old) == s:
                del self.slot[old]
        self.X[slots] = X
        self.E[slots] = E
        self.arm[slots] = arm
        self.ids[slots] = ids
        self.slot.update(zip(ids.tolist(), slots.tolist(), strict=True))
        self.next = int((self.next + m) % self.capacity)

    def lookup(self, ids: list[str]) -> np.ndarray:
        """Slots of these decisions; :class:`UnknownDecisionError` naming any unknown id."""
        get = self.slot.get
        slots = [get(i, -1) for i in ids]
        arr = np.asarray(slots, dtype=np.int64)
        if (arr < 0).any():
            unknown = [i for i, s in zip(ids, slots, strict=True) if s < 0]
            raise UnknownDecisionError(
                f"{len(unknown)} decision id(s) are not pending (unknown, already learned, or older "
                f"than the last {self.capacity} decisions): {unknown[:5]}; send full rows "
                "(context + product) to learn from them"
            )
        return arr

    def forget(self, ids: list[str]) -> None:
        """Drop learned decisions, so an outcome is never learned twice."""
        pop = self.slot.pop
        slots = [pop(i, -1) for i in ids]
        arr = np.asarray(slots, dtype=np.int64)
        self.ids[arr[arr >= 0]] = None

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for persistence (live entries only, oldest first)."""
        order = sorted(
            self.slot.items(), key=lambda kv: (kv[1] - self.next) % max(self.capacity, 1)
        )
        slots = np.asarray([s for _, s in order], dtype=np.int64)
        return {
            "pending_ids": np.asarray([i for i, _ in order], dtype=str),
            "pending_X": self.X[slots],
            "pending_E": self.E[slots],
            "pending_arm": self.arm[slots],
        }

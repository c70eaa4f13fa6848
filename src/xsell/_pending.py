"""Bounded memory of recent decisions' model inputs, so outcomes can be learned by id."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xsell.decision_ids import IdParts, format_ids, parse_ids
from xsell.errors import UnknownDecisionError

__all__ = ["PendingDecisions"]


class PendingDecisions:
    """A ring buffer of (decision id → inputs of the offered product).

    When full, the oldest decisions are overwritten; an outcome for them must then be sent
    as a full row (context + product), as when replaying the decision log.

    Ids are held as numbers (:class:`~xsell.decision_ids.IdParts`), never as Python
    strings, and indexed by their 64-bit key in sorted runs searched with
    ``np.searchsorted`` (several times faster than a dict of 100,000s of entries, whose
    lookups are cache misses). A run is made on the first lookup after an add (many
    decisions, such as a nightly batch learned from the decision log, are never looked up
    by id) and runs of similar size are merged, as in a log-structured merge tree. A slot
    answers for an id only while it is live and holds all of that id's parts, so eviction
    never touches the index; stale entries are dropped when runs merge.
    """

    def __init__(self, capacity: int, n_features: int, n_arm_inputs: int) -> None:
        self.capacity = int(capacity)
        self.X = np.zeros((self.capacity, n_features))
        self.E = np.zeros((self.capacity, n_arm_inputs))
        self.arm = np.zeros(self.capacity, dtype=np.int64)
        self.P = np.full(self.capacity, np.nan)
        self.ms = np.zeros(self.capacity, dtype=np.uint64)
        self.key = np.zeros(self.capacity, dtype=np.uint64)
        self.tail = np.zeros(self.capacity, dtype=np.uint64)
        self.live = np.zeros(self.capacity, dtype=bool)
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, slots), oldest first
        self.next = 0
        self._unindexed: list[np.ndarray] = []

    def __len__(self) -> int:
        return int(self.live.sum())

    def _oldest_first(self) -> np.ndarray:
        order = (np.arange(self.capacity) + self.next) % max(self.capacity, 1)
        return order[self.live[order]]

    def live_ids(self) -> list[str]:
        """Ids of the decisions still pending, oldest first."""
        s = self._oldest_first()
        return format_ids(IdParts(self.ms[s], self.key[s], self.tail[s]))

    def add(
        self,
        ids: IdParts | Sequence[str],
        X: np.ndarray,
        E: np.ndarray,
        arm: np.ndarray,
        P: np.ndarray | None = None,
    ) -> None:
        """Remember the inputs of offered decisions: shared ``X``, the arm's own inputs ``E``
        and propensity ``P`` (NaN where missing), and the arm."""
        parts = ids if isinstance(ids, IdParts) else parse_ids(ids)[0]
        m = len(parts.key)
        if m == 0 or self.capacity == 0:
            return
        if m > self.capacity:
            cut = slice(m - self.capacity, m)
            parts = IdParts(parts.ms[cut], parts.key[cut], parts.tail[cut])
            X, E, arm = X[cut], E[cut], arm[cut]
            P = None if P is None else P[cut]
            m = self.capacity
        slots = (self.next + np.arange(m)) % self.capacity
        self.X[slots] = X
        self.E[slots] = E
        self.arm[slots] = arm
        self.P[slots] = np.nan if P is None else P
        self.ms[slots] = parts.ms
        self.key[slots] = parts.key
        self.tail[slots] = parts.tail
        self.live[slots] = True
        self._unindexed.append(slots)
        self.next = int((self.next + m) % self.capacity)

    def _index(self) -> None:
        for slots in self._unindexed:
            keys = self.key[slots]
            # a decision made again (a retried call gives the same id) keeps only its newest
            # slot; a twin shares the decision time, so most batches need no search at all
            ms = self.ms[slots]
            times = ms[:1] if (ms == ms[0]).all() else np.unique(ms)
            shared_time = self.live & np.isin(self.ms, times)
            shared_time[slots] = False
            candidates = self._matches(keys) if shared_time.any() else []
            for cand in candidates:
                c = np.where(cand >= 0, cand, 0)
                twin = (cand >= 0) & (c != slots) & (self.key[c] == keys)
                twin &= (self.ms[c] == self.ms[slots]) & (self.tail[c] == self.tail[slots])
                self.live[c[twin]] = False
            order = np.argsort(keys)
            if (keys[order[1:]] == keys[order[:-1]]).any():  # ties keep their order (rare)
                order = np.argsort(keys, kind="stable")
            self._runs.append((keys[order], slots[order]))
            while len(self._runs) >= 2 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
                self._runs[-2:] = [self._merge(self._runs[-2], self._runs[-1])]
        self._unindexed.clear()

    def _merge(
        self, older: tuple[np.ndarray, np.ndarray], newer: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """One sorted run of two, without their stale entries; equal keys keep the older
        run's entries first (as a stable sort of the two concatenated would)."""
        (k1, s1), (k2, s2) = (
            (keys[ok], slots[ok])
            for keys, slots in (older, newer)
            for ok in [self.live[slots] & (self.key[slots] == keys)]
        )
        # both runs are sorted: each newer entry goes after the older ones not above it
        at = np.searchsorted(k1, k2, side="right") + np.arange(len(k2))
        rest = np.ones(len(k1) + len(k2), dtype=bool)
        rest[at] = False
        keys = np.empty(len(rest), dtype=k1.dtype)
        slots = np.empty(len(rest), dtype=s1.dtype)
        keys[at], slots[at] = k2, s2
        keys[rest], slots[rest] = k1, s1
        return keys, slots

    def _matches(self, key: np.ndarray) -> list[np.ndarray]:
        """Candidate slots per run (newest run first) for each key: the last equal entry."""
        # searching the keys in sorted order walks each run forward: far fewer cache misses
        order = np.argsort(key)
        sorted_key = key[order]
        out = []
        for keys, slots in reversed(self._runs):
            if len(keys) == 0:
                continue
            pos = np.searchsorted(keys, sorted_key, side="right") - 1
            pos = np.maximum(pos, 0)
            cand = np.empty(len(key), dtype=slots.dtype)
            cand[order] = np.where(keys[pos] == sorted_key, slots[pos], -1)
            out.append(cand)
        return out

    def lookup(
        self, ids: Sequence[str], parsed: tuple[IdParts, np.ndarray] | None = None
    ) -> np.ndarray:
        """Slots of these decisions; :class:`UnknownDecisionError` naming any unknown id.

        ``parsed`` is what :func:`~xsell.decision_ids.parse_ids` gives for ``ids``, if known.
        """
        if self._unindexed:
            self._index()
        parts, ok = parse_ids(ids) if parsed is None else parsed
        slots = np.full(len(ok), -1, dtype=np.int64)
        for cand in self._matches(parts.key):
            s = np.where(cand >= 0, cand, 0)
            good = (slots < 0) & (cand >= 0) & self.live[s] & (self.key[s] == parts.key)
            good &= (self.ms[s] == parts.ms) & (self.tail[s] == parts.tail)
            slots[good] = cand[good]
        ok = ok & (slots >= 0)
        if not ok.all():
            unknown = [str(i) for i, good in zip(ids, ok.tolist(), strict=True) if not good]
            raise UnknownDecisionError(
                f"{len(unknown)} decision id(s) are not pending (unknown, already learned, or older "
                f"than the last {self.capacity} decisions): {unknown[:5]}; send full rows "
                "(context + product) to learn from them"
            )
        return slots

    def forget(self, slots: np.ndarray) -> None:
        """Drop learned decisions (by the slots :meth:`lookup` gave), so none is learned twice."""
        self.live[slots] = False

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for persistence (live entries only, oldest first)."""
        s = self._oldest_first()
        return {
            "pending_ms": self.ms[s],
            "pending_key": self.key[s],
            "pending_tail": self.tail[s],
            "pending_X": self.X[s],
            "pending_E": self.E[s],
            "pending_arm": self.arm[s],
            "pending_P": self.P[s],
        }

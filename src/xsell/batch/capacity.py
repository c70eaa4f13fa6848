"""Campaign capacity: at most ``C`` offers of a product in one run, allotted in two passes.

Pass one scores the whole file: every customer's plug-in expected value of each product
(:meth:`xsell.Agent.product_values`, after every guardrail and the control group), and
keeps, per capped product, the ``C`` best (value, tie-break key) pairs. The ``C``-th best
pair is the product's threshold. Pass two decides: a product is allowed only to the
customers at or above its threshold (a guardrail, "campaign capacity"), and the policy
chooses among what is left, so the logged probabilities are those of the capped policy.

At most ``C`` customers pass a threshold (ties are broken by a keyed hash of the customer
and the run, never by file order), so no chunking, ordering or partitioning of the file can
change who may be offered the product, or make the run exceed its capacity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xsell._rng import hash_keys
from xsell.catalog.product import Catalog
from xsell.errors import InputError

__all__ = ["CAPACITY_REASON", "CapacityPlan", "CapacityThresholds", "capacity_keys"]

#: guardrail reason of a product withheld because its campaign capacity is allotted
CAPACITY_REASON = "campaign capacity"


def capacity_keys(customer_ids: np.ndarray, run_id: str) -> np.ndarray:
    """Tie-break keys of customers in a run (uint64; larger wins a tie)."""
    return hash_keys(np.asarray(customer_ids, dtype=object), "capacity", run_id)


def _top(values: np.ndarray, keys: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``c`` largest (value, key) pairs, in ascending order."""
    if len(values) <= c:
        order = np.lexsort((keys, values))
    else:
        # cut to the values that can make the top c (ties at the cut kept for the key sort)
        cut = np.partition(values, len(values) - c)[len(values) - c]
        near = np.flatnonzero(values >= cut)
        order = near[np.lexsort((keys[near], values[near]))][-c:]
    return values[order], keys[order]


@dataclass(frozen=True)
class CapacityThresholds:
    """Per capped product, the lowest (value, key) pair still allowed.

    Attributes
    ----------
    limits
        The capacity of each capped product.
    value, key
        Per capped product, the threshold pair; ``(-inf, 0)`` when fewer customers than
        the capacity can be offered the product (nobody is cut).
    """

    limits: dict[str, int]
    value: dict[str, float]
    key: dict[str, int]

    def blocks(
        self, product_ids: tuple[str, ...], values: np.ndarray, keys: np.ndarray
    ) -> np.ndarray:
        """Boolean (n, K): the (customer, product) pairs below their product's threshold."""
        out = np.zeros(values.shape, dtype=bool)
        for k, pid in enumerate(product_ids):
            if pid not in self.limits:
                continue
            v, t, tk = values[:, k], self.value[pid], np.uint64(self.key[pid])
            out[:, k] = (v < t) | ((v == t) & (keys < tk))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (:meth:`from_dict` reads it back exactly)."""
        return {
            "limits": dict(self.limits),
            "value": {p: float(v).hex() for p, v in self.value.items()},
            "key": {p: str(int(k)) for p, k in self.key.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CapacityThresholds:
        """Read :meth:`to_dict`'s data."""
        return cls(
            limits={str(p): int(c) for p, c in data["limits"].items()},
            value={str(p): float.fromhex(v) for p, v in data["value"].items()},
            key={str(p): int(k) for p, k in data["key"].items()},
        )


@dataclass
class CapacityPlan:
    """Pass one: the best candidates per capped product, merged chunk by chunk.

    Memory is bounded by the capacities, not by the file: each product keeps at most its
    capacity of (value, key) pairs.

    Examples
    --------
    >>> plan = CapacityPlan({"mortgage": 2}, ("mortgage", "card"))
    >>> keys = np.array([1, 2, 3, 4], dtype=np.uint64)
    >>> plan.add(np.array([[5.0, 1.0], [7.0, 1.0], [-np.inf, 1.0], [7.0, 2.0]]), keys)
    >>> t = plan.thresholds()
    >>> t.blocks(("mortgage", "card"), np.array([[7.0, 0.0], [5.0, 0.0]]),
    ...          np.array([2, 1], dtype=np.uint64)).tolist()
    [[False, False], [True, False]]
    """

    limits: dict[str, int]
    product_ids: tuple[str, ...]
    _best: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for pid, c in self.limits.items():
            if pid not in self.product_ids:
                raise InputError(
                    f"`capacity` names unknown product {pid!r}; known: {list(self.product_ids)}"
                )
            if not isinstance(c, int | np.integer) or isinstance(c, bool) or c < 0:
                raise InputError(f"`capacity` of {pid!r} must be an integer >= 0, got {c!r}")
        self._best = {p: (np.zeros(0), np.zeros(0, dtype=np.uint64)) for p in self.limits}

    @classmethod
    def for_catalog(cls, limits: Mapping[str, int], catalog: Catalog) -> CapacityPlan:
        """A plan for these capacities over the catalog's products."""
        return cls(dict(limits), catalog.product_ids)

    def add(self, values: np.ndarray, keys: np.ndarray) -> None:
        """Merge one chunk: values (n, K) as :meth:`xsell.Agent.product_values` gives
        (``-inf`` where not allowed) and the customers' :func:`capacity_keys`."""
        keys = np.asarray(keys, dtype=np.uint64)
        for pid, c in self.limits.items():
            if c == 0:
                continue
            v = values[:, self.product_ids.index(pid)]
            ok = np.isfinite(v)
            best_v, best_k = self._best[pid]
            if len(best_v) == c:  # full: only pairs above the current threshold matter
                ok &= v >= best_v[0]
            if not ok.any():
                continue
            self._best[pid] = _top(
                np.concatenate([best_v, v[ok]]), np.concatenate([best_k, keys[ok]]), c
            )

    def merge(self, other: CapacityPlan) -> None:
        """Merge another plan's candidates (e.g. another Spark partition's)."""
        for pid, c in self.limits.items():
            a_v, a_k = self._best[pid]
            b_v, b_k = other._best[pid]
            if c:
                self._best[pid] = _top(np.concatenate([a_v, b_v]), np.concatenate([a_k, b_k]), c)

    def candidates(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per capped product, the (value, key) pairs kept so far."""
        return dict(self._best)

    def thresholds(self) -> CapacityThresholds:
        """Each capped product's threshold pair, from every chunk added."""
        value, key = {}, {}
        for pid, c in self.limits.items():
            best_v, best_k = self._best[pid]
            if c == 0:
                value[pid], key[pid] = float("inf"), 0
            elif len(best_v) < c:
                value[pid], key[pid] = float("-inf"), 0
            else:
                value[pid], key[pid] = float(best_v[0]), int(best_k[0])
        return CapacityThresholds(dict(self.limits), value, key)

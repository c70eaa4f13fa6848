"""The actions a reward model learns about: products, or (product, channel) pairs.

With channel choice off, arm k is product k, sent through the product's default channel
for the mode (real time or batch). With channel choice on, every product has one arm per
channel it may go through, so the agent learns which channel works for whom; the
probabilities it logs are those of the pair. Arms are only ever appended (a launched
product adds its arms at the end), so what was learned keeps its place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xsell.catalog.product import Catalog, Mode

__all__ = ["Arms"]


@dataclass(frozen=True, slots=True)
class Arms:
    """Product index and channel of every arm (channel ``None``: the mode's default).

    Examples
    --------
    >>> from xsell import Catalog
    >>> arms = Arms.for_catalog(Catalog.sample(), choose_channel=True)
    >>> arms.labels(Catalog.sample())[:3]
    ['multi_currency_account@app', 'multi_currency_account@email', 'multi_currency_account@sms']
    """

    product: np.ndarray
    channel: tuple[str | None, ...]

    @property
    def n(self) -> int:
        """Number of arms."""
        return len(self.channel)

    @property
    def by_channel(self) -> bool:
        """Whether the arms are (product, channel) pairs."""
        return any(c is not None for c in self.channel)

    @staticmethod
    def _pairs(
        catalog: Catalog, product_ids: list[str], choose_channel: bool
    ) -> list[tuple[int, str | None]]:
        index = {pid: k for k, pid in enumerate(catalog.product_ids)}
        if not choose_channel:
            return [(index[pid], None) for pid in product_ids]
        return [
            (index[pid], ch) for pid in product_ids for ch in catalog.product(pid).channel_choices
        ]

    @classmethod
    def for_catalog(cls, catalog: Catalog, *, choose_channel: bool) -> Arms:
        """The arms of a catalog, in catalog order (then channel order)."""
        pairs = cls._pairs(catalog, list(catalog.product_ids), choose_channel)
        return cls(np.array([p for p, _ in pairs], dtype=np.int64), tuple(c for _, c in pairs))

    def extend(self, catalog: Catalog, product_ids: list[str]) -> Arms:
        """These arms plus those of newly launched products (appended)."""
        pairs = self._pairs(catalog, product_ids, self.by_channel)
        return Arms(
            np.concatenate([self.product, np.array([p for p, _ in pairs], dtype=np.int64)]),
            self.channel + tuple(c for _, c in pairs),
        )

    def product_ids(self, catalog: Catalog) -> list[str]:
        """The product of every arm."""
        ids = catalog.product_ids
        return [ids[k] for k in self.product]

    def labels(self, catalog: Catalog) -> list[str]:
        """``product`` or ``product@channel`` per arm (the ``p_<label>`` columns of a decision)."""
        ids = catalog.product_ids
        return [
            ids[k] if c is None else f"{ids[k]}@{c}"
            for k, c in zip(self.product, self.channel, strict=True)
        ]

    def channels(self, catalog: Catalog, mode: Mode) -> list[str]:
        """The channel every arm goes through in ``mode``."""
        return [
            catalog.products[k].channels[mode] if c is None else c
            for k, c in zip(self.product, self.channel, strict=True)
        ]

    def to_list(self) -> list[list[object]]:
        """Plain data for persistence."""
        return [[int(p), c] for p, c in zip(self.product, self.channel, strict=True)]

    @classmethod
    def from_list(cls, data: list[list[object]]) -> Arms:
        """Inverse of :meth:`to_list`."""
        return cls(
            np.array([int(p) for p, _ in data], dtype=np.int64),  # type: ignore[call-overload]
            tuple(None if c is None else str(c) for _, c in data),
        )

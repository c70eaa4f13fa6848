"""Small hand-made catalogs for tests: every product worth 100 EUR, app/email channels."""

from __future__ import annotations

from typing import Any

import xsell


def simple_catalog(
    rates: dict[str, float], *, max_offers: int = 4, **product: Any
) -> xsell.Catalog:
    """One product per ``id: base_rate`` entry; ``product`` adds fields to every product."""
    return xsell.Catalog.from_dict(
        {
            "contact_policy": {"max_offers": max_offers, "period_days": 30},
            "products": [
                {
                    "id": pid,
                    "name": pid,
                    "category": "c",
                    "value": {"amount": 100, "currency": "EUR"},
                    "channels": {"realtime": "app", "batch": "email"},
                    "base_rate": rate,
                    **product,
                }
                for pid, rate in rates.items()
            ],
        }
    )

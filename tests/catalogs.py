"""Small hand-made catalogs for tests: every product worth 100 EUR, app/email channels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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


def contact_limited_catalog(max_offers: int) -> xsell.Catalog:
    """The sample bank with only a contact limit: ``max_offers`` per 30 days, any product
    (no cool-off, no per-product caps), so the limit is the one rule a contact can meet."""
    data = xsell.Catalog.sample().to_dict()
    data["contact_policy"] = {"max_offers": max_offers, "period_days": 30}
    for p in data["products"]:
        p["cool_off_days"] = 0
        p["frequency_cap"] = None
    return xsell.Catalog.from_dict(data)


def limited_catalog_file(folder: Path, max_offers: int) -> Path:
    """:func:`contact_limited_catalog` as a YAML file (for ``XSELL_CATALOG_PATH``)."""
    path = folder / f"catalog-limit-{max_offers}.yaml"
    path.write_text(yaml.safe_dump(contact_limited_catalog(max_offers).to_dict()))
    return path

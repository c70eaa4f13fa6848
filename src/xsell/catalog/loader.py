"""Reading catalogs from YAML, with errors that name the product and the field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from xsell.catalog.product import Catalog
from xsell.errors import CatalogError

__all__ = ["catalog_from_dict", "load_catalog", "sample_catalog"]


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """Turn a pydantic error location into 'product 'x' field a.b' wording."""
    if len(loc) >= 2 and loc[0] == "products" and isinstance(loc[1], int):
        idx = loc[1]
        pid = None
        try:
            pid = data["products"][idx].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            pid = None
        who = f"product {pid!r}" if pid else f"product #{idx + 1}"
        field = ".".join(str(p) for p in loc[2:]) or "(entry)"
        return f"{who}, field {field!r}"
    return f"field {'.'.join(str(p) for p in loc) or '(catalog)'!r}"


def catalog_from_dict(data: object, *, source: str = "catalog") -> Catalog:
    """Validate plain data as a :class:`Catalog`; raise :class:`CatalogError` naming what is wrong."""
    if not isinstance(data, dict):
        raise CatalogError(
            f"{source}: expected a mapping with a 'products' list, got {type(data).__name__}"
        )
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(tuple(e['loc']), data)}: {e['msg']}" for e in exc.errors()]
        raise CatalogError(f"{source}: " + "; ".join(problems)) from None


def load_catalog(path: str | Path) -> Catalog:
    """Load a catalog YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read catalog file {str(p)!r}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{p}: not valid YAML: {exc}") from None
    return catalog_from_dict(data, source=str(p))


def sample_catalog() -> Catalog:
    """The sample catalog shipped as package data."""
    text = resources.files("xsell.catalog").joinpath("data/sample_bank.yaml").read_text("utf-8")
    return catalog_from_dict(yaml.safe_load(text), source="sample_bank.yaml")

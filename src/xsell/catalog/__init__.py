"""What may be offered: the product catalog and its loader."""

from xsell.catalog.loader import catalog_from_dict, load_catalog, sample_catalog
from xsell.catalog.product import Catalog, ContactPolicy, FrequencyCap, Money, Product, Rule

__all__ = [
    "Catalog",
    "ContactPolicy",
    "FrequencyCap",
    "Money",
    "Product",
    "Rule",
    "catalog_from_dict",
    "load_catalog",
    "sample_catalog",
]

"""Catalog loading: the sample, and errors that name the product and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import xsell
from xsell import CatalogError


def test_sample_catalog_has_the_bank_products(catalog) -> None:
    assert len(catalog.products) >= 8
    for pid in ("multi_currency_account", "travel_credit_card", "forex_account", "mortgage"):
        p = catalog.product(pid)
        assert p.value.amount > 0 and p.value.currency == "EUR"
        assert set(p.channels) == {"realtime", "batch"}


def test_round_trip_through_plain_data(catalog) -> None:
    assert xsell.Catalog.from_dict(catalog.to_dict()) == catalog


def _bad(catalog, mutate) -> dict:
    data = catalog.to_dict()
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda d: d["products"][1]["value"].update(amount=-5),
            r"product 'travel_credit_card', field 'value.amount'",
        ),
        (
            lambda d: d["products"][2].update(id="Forex Account"),
            r"product 'Forex Account', field 'id'",
        ),
        (
            lambda d: d["products"][0]["channels"].pop("batch"),
            r"product 'multi_currency_account', field 'channels'.*missing \['batch'\]",
        ),
        (
            lambda d: d["products"][3]["eligibility"].append({"field": "age"}),
            r"product 'personal_loan', field 'eligibility.1'.*at least one of",
        ),
        (
            lambda d: d["products"][3]["eligibility"].append(
                {"field": "age", "min": 70, "max": 20}
            ),
            r"min \(70.0\) is greater than max",
        ),
        (
            lambda d: d["products"][4].update(colour="red"),
            r"product 'savings_account', field 'colour'",
        ),
        (
            lambda d: d["products"].append(dict(d["products"][0])),
            r"product id 'multi_currency_account' appears twice",
        ),
        (
            lambda d: d["products"][5].update(base_rate=1.5),
            r"product 'investment_fund', field 'base_rate'",
        ),
        (
            lambda d: d["products"][6].pop("name"),
            r"product 'travel_insurance', field 'name'.*Field required",
        ),
        (lambda d: d.update(products=[]), r"field 'products'"),
    ],
)
def test_bad_catalog_names_product_and_field(catalog, mutate, match) -> None:
    with pytest.raises(CatalogError, match=match):
        xsell.Catalog.from_dict(_bad(catalog, mutate))


def test_bad_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError, match="cannot read catalog file"):
        xsell.load_catalog(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("products: [\n  - id: x\n    name: [unclosed\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        xsell.load_catalog(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(CatalogError, match="expected a mapping"):
        xsell.load_catalog(scalar)


def test_yaml_file_loads(tmp_path: Path, catalog) -> None:
    path = tmp_path / "cat.yaml"
    path.write_text(yaml.safe_dump(catalog.to_dict()))
    assert xsell.load_catalog(path) == catalog

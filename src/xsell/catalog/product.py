"""What may be offered: products, their value, channels and the rules that gate them.

A catalog is configuration, validated once when it is loaded (pydantic models, frozen);
everything downstream can trust it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["Catalog", "ContactPolicy", "FrequencyCap", "Money", "Product", "Rule"]

Mode = Literal["realtime", "batch"]
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Money(_Frozen):
    """An amount in a currency (ISO 4217 code)."""

    amount: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class Rule(_Frozen):
    """A condition on one customer column; a customer passes when every bound given holds.

    A missing value fails the rule: a guardrail never assumes what it does not know.
    """

    field: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    equals: str | float | bool | None = None
    in_: tuple[str | float | bool, ...] | None = Field(default=None, alias="in")
    not_in: tuple[str | float | bool, ...] | None = None
    reason: str | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _has_a_bound(self) -> Rule:
        bounds = (self.min, self.max, self.equals, self.in_, self.not_in)
        if all(b is None for b in bounds):
            raise ValueError("a rule needs at least one of min, max, equals, in, not_in")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def describe(self) -> str:
        """The rule in words, for explanations and audit views."""
        if self.reason:
            return self.reason
        parts = []
        if self.min is not None:
            parts.append(f"{self.field} >= {self.min:g}")
        if self.max is not None:
            parts.append(f"{self.field} <= {self.max:g}")
        if self.equals is not None:
            parts.append(f"{self.field} == {self.equals!r}")
        if self.in_ is not None:
            parts.append(f"{self.field} in {list(self.in_)!r}")
        if self.not_in is not None:
            parts.append(f"{self.field} not in {list(self.not_in)!r}")
        return " and ".join(parts)


class FrequencyCap(_Frozen):
    """At most ``max_offers`` offers within ``period_days``."""

    max_offers: int = Field(ge=0)
    period_days: float = Field(gt=0)


class ContactPolicy(_Frozen):
    """Catalog-wide contact pressure limit per customer, across all products."""

    max_offers: int = Field(default=4, ge=0)
    period_days: float = Field(default=30.0, gt=0)


class Product(_Frozen):
    """One product that may be offered."""

    id: str
    name: str = Field(min_length=1)
    category: str = Field(min_length=1)
    attributes: dict[str, float | int | bool | str] = Field(default_factory=dict)
    value: Money
    opt_out_cost: float = Field(default=0.0, ge=0)
    channels: dict[Mode, str]
    channel_options: tuple[str, ...] = ()
    eligibility: tuple[Rule, ...] = ()
    suitability: tuple[Rule, ...] = ()
    cool_off_days: float = Field(default=0.0, ge=0)
    frequency_cap: FrequencyCap | None = None
    base_rate: float = Field(default=0.02, gt=0, lt=1)
    owned_column: str | None = None
    active: bool = True

    @field_validator("id")
    @classmethod
    def _id_is_identifier(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(
                f"must be lower-case letters, digits and underscores, starting with a letter: {v!r}"
            )
        if v == "none":
            raise ValueError("'none' is reserved for the no-offer action")
        return v

    @field_validator("channels")
    @classmethod
    def _both_modes(cls, v: dict[str, str]) -> dict[str, str]:
        missing = {"realtime", "batch"} - set(v)
        if missing:
            raise ValueError(f"needs a channel for each mode; missing {sorted(missing)}")
        return v

    @property
    def channel_choices(self) -> tuple[str, ...]:
        """Channels the product may go through when the agent chooses the channel.

        ``channel_options`` if given, else the default channels of both modes.
        """
        return self.channel_options or tuple(dict.fromkeys(self.channels.values()))

    @property
    def owned_col(self) -> str:
        """The boolean customer column saying the customer already owns this product."""
        return self.owned_column or f"owns_{self.id}"


class Catalog(_Frozen):
    """The products on offer, in a fixed order (ties between products go to the earlier one).

    Examples
    --------
    >>> from xsell import Catalog
    >>> catalog = Catalog.sample()
    >>> len(catalog.products) >= 8
    True
    >>> catalog.product("mortgage").value.currency
    'EUR'
    """

    name: str = "catalog"
    version: str = "1"
    products: tuple[Product, ...] = Field(min_length=1)
    contact_policy: ContactPolicy = Field(default_factory=ContactPolicy)
    contact_costs: dict[str, float] = Field(default_factory=dict)

    @field_validator("contact_costs")
    @classmethod
    def _costs_not_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {ch: c for ch, c in v.items() if not c >= 0}
        if bad:
            raise ValueError(f"a cost per contact must be >= 0, got {bad}")
        return v

    def contact_cost(self, channel: str) -> float:
        """Cost of one contact through ``channel`` (0 when the catalog names none)."""
        return float(self.contact_costs.get(channel, 0.0))

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalog:
        seen: set[str] = set()
        for p in self.products:
            if p.id in seen:
                raise ValueError(f"product id {p.id!r} appears twice")
            seen.add(p.id)
        return self

    @property
    def product_ids(self) -> tuple[str, ...]:
        """Ids of every product, in catalog order."""
        return tuple(p.id for p in self.products)

    def product(self, product_id: str) -> Product:
        """The product with this id; ``KeyError`` naming it if there is none."""
        for p in self.products:
            if p.id == product_id:
                return p
        raise KeyError(f"unknown product {product_id!r}; known: {list(self.product_ids)}")

    @classmethod
    def from_yaml(cls, path: str) -> Catalog:
        """Load and validate a catalog file (see ``catalog/data/sample_bank.yaml``)."""
        from xsell.catalog.loader import load_catalog

        return load_catalog(path)

    @classmethod
    def from_dict(cls, data: object) -> Catalog:
        """Validate a catalog given as plain data (as parsed from YAML or JSON)."""
        from xsell.catalog.loader import catalog_from_dict

        return catalog_from_dict(data)

    @classmethod
    def sample(cls) -> Catalog:
        """The sample catalog of a multicurrency retail bank shipped with xsell."""
        from xsell.catalog.loader import sample_catalog

        return sample_catalog()

    def to_dict(self) -> dict[str, object]:
        """Plain data that :meth:`from_dict` reads back to an equal catalog."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

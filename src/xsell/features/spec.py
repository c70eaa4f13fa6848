"""Which customer columns feed the model, and which never may."""

from __future__ import annotations

from dataclasses import dataclass, field

from xsell.errors import InputError

__all__ = ["FeatureSpec"]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """The contract for a customer table.

    Parameters
    ----------
    customer_id
        Column holding the customer id (any type; compared as a string).
    numeric
        Numeric customer columns (standardized, clipped, missing values imputed at the mean).
    categorical
        Categorical columns (one-hot over the levels seen at fit; an unseen level is all zeros).
    boolean
        True/false columns (missing counts as false).
    market
        Market-context columns (numeric; treated like ``numeric`` and kept apart for reports).
    propensity
        Template of the existing propensity-score column per product, or ``None`` when the
        bank has no propensity model (true cold start).
    protected
        Protected attributes: never model inputs, kept only for fairness audits.
    consent
        Template of the per-channel consent column (true = may be contacted), or ``None``
        to switch consent checks off.
    clip
        Bound on standardized values, so a value far outside what was seen at fit (a market
        indicator in a new regime) cannot produce an extreme score.
    max_categories
        Most frequent levels kept per categorical column.
    propensity_clip
        Propensities are clipped into ``[propensity_clip, 1 - propensity_clip]``.

    Examples
    --------
    >>> spec = FeatureSpec(numeric=("age",), protected=("gender",))
    >>> spec.model_inputs
    ('age',)
    >>> FeatureSpec(numeric=("age", "gender"), protected=("gender",))
    Traceback (most recent call last):
    ...
    xsell.errors.InputError: `protected` column 'gender' is also a model input (numeric); protected attributes never enter the model
    """

    customer_id: str = "customer_id"
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    boolean: tuple[str, ...] = ()
    market: tuple[str, ...] = ()
    propensity: str | None = "propensity_{product}"
    protected: tuple[str, ...] = ()
    consent: str | None = "consent_{channel}"
    clip: float = 4.0
    max_categories: int = 20
    propensity_clip: float = 1e-3
    _roles: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("numeric", "categorical", "boolean", "market", "protected"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise InputError(
                    f"`{name}` must be a sequence of column names, got the string {value!r}"
                )
            object.__setattr__(self, name, tuple(value))
        roles: dict[str, str] = {}
        for role in ("numeric", "categorical", "boolean", "market"):
            for col in getattr(self, role):
                if col in roles:
                    raise InputError(
                        f"column {col!r} is listed twice: as {roles[col]} and as {role}"
                    )
                if col == self.customer_id:
                    raise InputError(f"the customer id column {col!r} cannot be a model input")
                roles[col] = role
        for col in self.protected:
            if col in roles:
                raise InputError(
                    f"`protected` column {col!r} is also a model input ({roles[col]}); "
                    "protected attributes never enter the model"
                )
        if self.propensity is not None and "{product}" not in self.propensity:
            raise InputError(f"`propensity` must contain '{{product}}', got {self.propensity!r}")
        if self.consent is not None and "{channel}" not in self.consent:
            raise InputError(f"`consent` must contain '{{channel}}', got {self.consent!r}")
        if not self.clip > 0:
            raise InputError(f"`clip` must be > 0, got {self.clip}")
        if self.max_categories < 1:
            raise InputError(f"`max_categories` must be >= 1, got {self.max_categories}")
        if not 0 < self.propensity_clip < 0.5:
            raise InputError(f"`propensity_clip` must be in (0, 0.5), got {self.propensity_clip}")
        object.__setattr__(self, "_roles", roles)

    @property
    def model_inputs(self) -> tuple[str, ...]:
        """Every customer column the model reads (propensities aside), in a fixed order."""
        return self.numeric + self.market + self.boolean + self.categorical

    def propensity_column(self, product_id: str) -> str | None:
        """The propensity column of a product, or ``None`` without a propensity model."""
        return None if self.propensity is None else self.propensity.format(product=product_id)

    def consent_column(self, channel: str) -> str | None:
        """The consent column of a channel, or ``None`` when consent checks are off."""
        return None if self.consent is None else self.consent.format(channel=channel)

    def to_dict(self) -> dict[str, object]:
        """Plain data for persistence."""
        return {
            "customer_id": self.customer_id,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "boolean": list(self.boolean),
            "market": list(self.market),
            "propensity": self.propensity,
            "protected": list(self.protected),
            "consent": self.consent,
            "clip": self.clip,
            "max_categories": self.max_categories,
            "propensity_clip": self.propensity_clip,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`."""
        kwargs = dict(data)
        for key in ("numeric", "categorical", "boolean", "market", "protected"):
            kwargs[key] = tuple(kwargs.get(key, ()))  # type: ignore[arg-type]
        return cls(**kwargs)  # type: ignore[arg-type]

"""Service settings: read from ``XSELL_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from xsell.store.rules import RewardRules

__all__ = ["Settings", "hash_key"]


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which an API key is stored.

    Examples
    --------
    >>> hash_key("secret")[:12]
    '2bb80d537b1d'
    """
    return hashlib.sha256(key.encode()).hexdigest()


class Settings(BaseSettings):
    """Configuration of the service.

    Every field can be set by an environment variable ``XSELL_<FIELD>`` (e.g.
    ``XSELL_DATABASE_URL``). API keys are kept only as SHA-256 digests:
    ``api_key_hashes`` takes digests (comma-separated), ``api_keys`` plain keys, which are
    hashed at once and never kept or logged.

    Parameters
    ----------
    database_url
        SQLite file (default) or ``postgresql://`` URL of the decision log.
    api_keys
        Plain API keys, comma-separated (hashed on load).
    api_key_hashes
        SHA-256 hex digests of API keys, comma-separated.
    catalog_path
        Catalog YAML of the agent registered on first start (default: the sample bank).
    max_body_bytes
        Largest request body accepted; larger ones get 413.
    max_customers
        Most customers in one decision request.
    model_poll_seconds
        How often a worker looks for a newer model version (0: never).
    seed
        Seed of the agent registered on first start.
    reference_size
        Customers generated to fit that agent's features.
    reward_rules
        Which events count and how long an offer's observation window lasts (a JSON
        object in ``XSELL_REWARD_RULES``, e.g. ``{"window_days": 14, "grace_days": 1}``).
    control_share, control_salt
        The control group: customers held out with no offer, by the same salted hash as a
        batch run's (:func:`xsell.control_group.in_control_group`); 0 (default): none.
    db_pool_size
        Database connections each worker keeps open: enough for the requests it serves
        at once (each holds one while it reads contacts or records), so none is opened
        per request. ``db_pool_size // 2`` more may be opened at a peak.
    batch_linger_ms
        Near saturation (the worker deciding at least 70 % of the time lately, and its last
        batch ended less than ten times this ago), a new decision batch waits this long
        for more requests before it runs: fewer, larger batches, each costing less CPU per
        request, for at most this much more latency (see :mod:`xsell.service.batcher`).
        0: a batch runs as soon as the event loop is free. A lone request never waits.
    gc_freeze
        Once the worker has started (its state loaded), collect garbage and move every
        object then alive out of the garbage collector's reach (:func:`gc.freeze`). A
        worker starts with about 190,000 objects (modules, the agent, the catalog), and a
        full collection that visits them all holds the event loop about 100 ms
        (``benchmarks/gc_pause.py``); frozen, a full collection visits only what requests
        left behind. Turn it off where many apps start in one long-lived process (tests
        with an in-process client), whose frozen objects would never be collected.

    Examples
    --------
    >>> s = Settings(api_keys="k1,k2", database_url="sqlite://")
    >>> len(s.key_hashes), s.api_keys is None
    (2, True)
    """

    model_config = SettingsConfigDict(env_prefix="XSELL_", extra="ignore")

    database_url: str = "sqlite:///xsell.db"
    api_keys: SecretStr | None = None
    api_key_hashes: str = ""
    catalog_path: Path | None = None
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    max_customers: int = Field(default=1_000, gt=0)
    model_poll_seconds: float = Field(default=2.0, ge=0)
    seed: int = 0
    reference_size: int = Field(default=2_000, ge=10)
    reward_rules: RewardRules = Field(default_factory=RewardRules)
    control_share: float = Field(default=0.0, ge=0.0, le=1.0)
    control_salt: str = Field(default="xsell", min_length=1)
    db_pool_size: int = Field(default=20, ge=1, le=200)
    batch_linger_ms: float = Field(default=2.0, ge=0.0, le=100.0)
    gc_freeze: bool = True

    @field_validator("api_key_hashes")
    @classmethod
    def _check_hashes(cls, v: str) -> str:
        for h in _split(v):
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h.lower()):
                raise ValueError("`api_key_hashes` must be SHA-256 hex digests (64 hex digits)")
        return v

    def model_post_init(self, __context: object) -> None:
        """Hash the plain keys into ``api_key_hashes`` and forget them."""
        if self.api_keys is not None:
            hashes = [*_split(self.api_key_hashes)]
            hashes += [hash_key(k) for k in _split(self.api_keys.get_secret_value())]
            object.__setattr__(self, "api_key_hashes", ",".join(hashes))
            object.__setattr__(self, "api_keys", None)

    @property
    def key_hashes(self) -> tuple[str, ...]:
        """The stored digests (lower case)."""
        return tuple(h.lower() for h in _split(self.api_key_hashes))

    def key_is_valid(self, key: str | None) -> bool:
        """Whether ``key`` is one of the configured keys (constant-time comparison)."""
        if not key:
            return False
        digest = hash_key(key)
        ok = False
        for h in self.key_hashes:
            ok |= hmac.compare_digest(digest, h)
        return ok


def _split(v: str) -> list[str]:
    return [p.strip() for p in v.split(",") if p.strip()]

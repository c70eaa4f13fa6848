"""The control group: customers held out with no offer, to measure what the offers add.

Membership is a pure function of the customer id and a salt (a stable, salted hash), so a
customer stays in (or out of) the control group across runs, processes, the nightly batch
and the real-time service, whatever the order or chunking of the customers. Changing the
salt draws a new, independent control group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform
from xsell.errors import InputError

__all__ = ["CONTROL", "CONTROL_REASON", "TREATMENT", "ControlGroup", "in_control_group"]

#: traffic group of a held-out customer, as the decision log records it
CONTROL = "control"
#: traffic group of every other customer when a control group is drawn
TREATMENT = "treatment"
#: guardrail reason recorded for every product withheld from a control customer
CONTROL_REASON = "control group"

# fixed: membership must not depend on the agent's seed (a new model keeps the same group)
_DRAW = 0x0C0
_SEED = 0x5E11


def in_control_group(customer_ids: object, share: float, salt: str) -> np.ndarray:
    """Whether each customer is in the control group: ``u(salt, id) < share``.

    ``u`` is a uniform number from a keyed hash of the customer id (compared as a string)
    and the salt, so the group is stable across runs and about ``share`` of any large set of
    customers.

    Examples
    --------
    >>> in_control_group(["c1", "c2", "c3"], 0.0, "2026").tolist()
    [False, False, False]
    >>> a = in_control_group([f"c{i}" for i in range(10_000)], 0.1, "2026")
    >>> b = in_control_group([f"c{i}" for i in range(5_000, 10_000)], 0.1, "2026")
    >>> bool((a[5_000:] == b).all()), bool(0.09 < a.mean() < 0.11)
    (True, True)
    """
    if not 0.0 <= float(share) <= 1.0:
        raise InputError(f"`control_share` must be in [0, 1], got {share!r}")
    ids = np.asarray(customer_ids, dtype=object)
    if len(ids) == 0 or share == 0:
        return np.zeros(len(ids), dtype=bool)
    keys = hash_keys(pd.Series(ids).astype(str).to_numpy(dtype=object), "control-group", salt)
    return np.asarray(keyed_uniform(_SEED, keys, _DRAW) < float(share))


@dataclass(frozen=True, slots=True)
class ControlGroup:
    """A control group: its share of the customers and the salt of its hash.

    Examples
    --------
    >>> g = ControlGroup(share=0.5, salt="spring-campaign")
    >>> g.groups(["c1", "c2", "c3", "c4"]).tolist()
    ['control', 'treatment', 'control', 'control']
    """

    share: float
    salt: str = "xsell"

    def __post_init__(self) -> None:
        if not isinstance(self.share, int | float) or not 0.0 <= float(self.share) <= 1.0:
            raise InputError(f"`control_share` must be in [0, 1], got {self.share!r}")
        if not isinstance(self.salt, str) or not self.salt:
            raise InputError(f"`control_salt` must be a non-empty string, got {self.salt!r}")

    def mask(self, customer_ids: object) -> np.ndarray:
        """Whether each customer is held out (see :func:`in_control_group`)."""
        return in_control_group(customer_ids, self.share, self.salt)

    def groups(self, customer_ids: object) -> np.ndarray:
        """Each customer's traffic group, ``"control"`` or ``"treatment"``."""
        return np.where(self.mask(customer_ids), CONTROL, TREATMENT).astype(object)

"""Keyed, counter-based randomness.

Every random number xsell draws is a pure function of ``(seed, key, draw index)``:
the key says *what* is being decided (a customer at a time, in a placement), never
*when in the call order* it is decided. A chunked run therefore equals an unchunked one,
a resumed run equals an uninterrupted one, and two processes deciding different
customers never explore in lockstep.

The generator is a counter-based one in the Philox/SplitMix family: a 64-bit key and a
64-bit counter are mixed by a bijective finalizer (two rounds of the SplitMix64/Murmur3
``fmix64`` mixer). It is evaluated vectorized over millions of keys at once, which a
per-key ``numpy.random.Philox`` instance cannot do at the rates xsell needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd

__all__ = ["hash_keys", "keyed_uniform", "mix64"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_TWO53 = float(2**53)
_MASK = 0xFFFFFFFFFFFFFFFF
#: below this many values, Python's integers (mod 2**64) beat NumPy's per-call overhead;
#: the bits are the same either way (a real-time request decides one customer)
_FEW = 8


def _mix_int(v: int) -> int:
    """:func:`mix64` of one value, in Python integers."""
    v ^= v >> 33
    v = (v * 0xFF51AFD7ED558CCD) & _MASK
    v ^= v >> 33
    v = (v * 0xC4CEB9FE1A85EC53) & _MASK
    return v ^ (v >> 33)


def mix64(x: np.ndarray) -> np.ndarray:
    """Murmur3's 64-bit finalizer: a bijection on uint64 with full avalanche."""
    x = np.asarray(x, dtype=np.uint64)
    if x.ndim == 1 and len(x) <= _FEW:
        return np.array([_mix_int(v) for v in x.tolist()], dtype=np.uint64)
    x = x.copy()
    with np.errstate(over="ignore"):
        x ^= x >> _S33
        x *= _M1
        x ^= x >> _S33
        x *= _M2
        x ^= x >> _S33
    return x


def hash_keys(*parts: Iterable[object] | np.ndarray | pd.Series | str | int) -> np.ndarray:
    """Hash one or more key parts into one uint64 per row.

    Each part is an array-like of strings/numbers (one value per row) or a scalar that
    applies to every row. Strings are hashed with pandas' vectorized SipHash, so the
    result does not depend on Python's per-process hash seed.

    Examples
    --------
    >>> a = hash_keys(["c1", "c2"], "2026-01-01")
    >>> b = hash_keys(["c2"], "2026-01-01")
    >>> bool(a[1] == b[0])
    True
    """
    n = None
    hashed: list[np.ndarray] = []
    for part in parts:
        if isinstance(part, str | int | np.integer):
            hashed.append(_scalar_hash(str(part)))
        else:
            arr = np.asarray(part)
            if arr.dtype.kind in "OUS":
                arr = arr.astype(object)
            h = np.asarray(pd.util.hash_array(arr, categorize=False))
            if n is not None and len(h) != n:
                raise ValueError(f"key parts have different lengths: {n} and {len(h)}")
            n = len(h)
            hashed.append(h)
    if n is None:
        n = 1
    if n <= _FEW:
        acc = [0] * n
        for h in hashed:
            hs = h.astype(np.uint64).tolist()
            if len(hs) == 1 and n != 1:
                hs = hs * n
            acc = [
                _mix_int((a * 0x9E3779B97F4A7C15 + b) & _MASK) for a, b in zip(acc, hs, strict=True)
            ]
        return np.array(acc, dtype=np.uint64)
    out = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for h in hashed:
            out = mix64(out * _GOLDEN + h.astype(np.uint64))
    return out


@lru_cache(maxsize=1024)
def _scalar_hash(part: str) -> np.ndarray:
    """The hash of a key part shared by every row (a placement, a time): cached, as one
    placement serves many calls."""
    out = np.asarray(pd.util.hash_array(np.asarray([part], dtype=object), categorize=False))
    out.setflags(write=False)
    return out


def keyed_uniform(seed: int, keys: np.ndarray, draw: int | np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1), one per key, for draw index ``draw``.

    Parameters
    ----------
    seed
        The agent's (or simulation's) seed.
    keys
        uint64 keys from :func:`hash_keys`, one per row.
    draw
        Draw index: different indices give independent streams for the same key.

    Examples
    --------
    >>> k = hash_keys(["c1", "c2", "c3"])
    >>> u = keyed_uniform(7, k, 0)
    >>> bool(((u >= 0) & (u < 1)).all())
    True
    >>> bool((keyed_uniform(7, k[1:], 0) == u[1:]).all())
    True
    """
    keys = np.asarray(keys, dtype=np.uint64)
    seed_h = _mix_int(seed & _MASK)
    if keys.ndim == 1 and len(keys) <= _FEW and isinstance(draw, int | np.integer):
        step = ((int(draw) + 1) * 0x9E3779B97F4A7C15) & _MASK
        return np.array(
            [
                (_mix_int((_mix_int(k ^ seed_h) + step) & _MASK) >> 11) / _TWO53
                for k in keys.tolist()
            ],
            dtype=np.float64,
        )
    ctr = np.asarray(draw, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = mix64(keys ^ np.uint64(seed_h))
        x = mix64(x + (ctr + np.uint64(1)) * _GOLDEN)
    return (x >> np.uint64(11)).astype(np.float64) / _TWO53

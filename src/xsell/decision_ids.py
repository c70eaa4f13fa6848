"""Decision ids: 128 bits, time-ordered, deterministic, written as 32 hex digits.

``tttttttttttt kkkkkkkkkkkkkkkk ssss``: 48 bits of milliseconds since the epoch, then 64 and
16 bits of a keyed hash of (seed, what is decided). The same decision made again (a retry,
a resumed batch) gets the same id; ids sort by decision time like UUIDv7. The 64-bit middle
part is the id's key in memory; ids are parsed and formatted vectorized, without a Python
object per id on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from xsell._rng import keyed_uniform

__all__ = ["IdParts", "format_ids", "make_ids", "parse_ids"]

_HEX = np.array([f"{i:02x}" for i in range(256)], dtype="S2")
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i


@dataclass(frozen=True, slots=True)
class IdParts:
    """The three numbers an id is made of, one entry per id."""

    ms: np.ndarray  # uint64: milliseconds since the epoch (48 bits used)
    key: np.ndarray  # uint64: hash of what is decided
    tail: np.ndarray  # uint64: 16 more bits of hash


def _bits(seed: int, keys: np.ndarray, draw: int) -> np.ndarray:
    return (keyed_uniform(seed, keys, draw) * 2.0**53).astype(np.uint64) << np.uint64(11)


def make_ids(
    at: pd.Timestamp, keys: np.ndarray, seed: int
) -> tuple[pd.api.extensions.ExtensionArray, IdParts]:
    """Ids for decisions made at ``at`` with decision keys ``keys`` (see the module doc)."""
    n = len(keys)
    parts = IdParts(
        np.full(n, at.value // 1_000_000, dtype=np.uint64),
        _bits(seed, keys, 101),
        _bits(seed, keys, 102) >> np.uint64(48),
    )
    return _to_strings(parts), parts


def _to_strings(parts: IdParts) -> pd.api.extensions.ExtensionArray:
    n = len(parts.key)
    raw = np.empty((n, 16), dtype=np.uint8)
    raw[:, :6] = parts.ms.astype(">u8").view(np.uint8).reshape(n, 8)[:, 2:]
    raw[:, 6:14] = parts.key.astype(">u8").view(np.uint8).reshape(n, 8)
    raw[:, 14:16] = parts.tail.astype(">u8").view(np.uint8).reshape(n, 8)[:, 6:]
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(32), n, [None, pa.py_buffer(_HEX[raw].tobytes())]
    )
    out: pd.api.extensions.ExtensionArray = pd.array(fixed.cast(pa.string()), dtype="str")
    return out


def format_ids(parts: IdParts) -> list[str]:
    """The id strings of ``parts``."""
    return [str(s) for s in _to_strings(parts).tolist()]


def parse_ids(ids: Sequence[str]) -> tuple[IdParts, np.ndarray]:
    """Parse id strings; also returns which were well-formed (32 hex digits).

    Examples
    --------
    >>> parts, ok = parse_ids(["019b8d627a8014490dd40dced8002077", "nope"])
    >>> ok.tolist(), hex(int(parts.ms[0]))
    ([True, False], '0x19b8d627a80')
    """
    n = len(ids)
    try:
        raw = np.asarray(ids, dtype="S32")
    except (UnicodeEncodeError, ValueError, TypeError):
        raw = np.asarray(
            [s if isinstance(s, str) and s.isascii() else "" for s in ids], dtype="S32"
        )
    nib = _NIBBLE[raw.view(np.uint8).reshape(n, 32)] if n else np.zeros((0, 32), np.uint8)
    lengths = np.char.str_len(raw) if n else np.zeros(0, int)
    ok = (nib != 255).all(axis=1) & (lengths == 32)
    nib = np.where(ok[:, None], nib, 0).astype(np.uint64)
    shifts = np.uint64(4) * np.arange(15, -1, -1, dtype=np.uint64)
    ms = (nib[:, :12] << shifts[4:]).sum(axis=1, dtype=np.uint64)
    key = (nib[:, 12:28] << shifts).sum(axis=1, dtype=np.uint64)
    tail = (nib[:, 28:32] << shifts[12:]).sum(axis=1, dtype=np.uint64)
    return IdParts(ms, key, tail), ok

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

__all__ = [
    "IdParts",
    "format_ids",
    "id_array",
    "make_id_parts",
    "make_ids",
    "parse_id_column",
    "parse_ids",
]

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

    def take(self, index: np.ndarray) -> IdParts:
        """The parts of the ids at ``index`` (positions or a boolean mask)."""
        return IdParts(self.ms[index], self.key[index], self.tail[index])


def _bits(seed: int, keys: np.ndarray, draw: int) -> np.ndarray:
    return (keyed_uniform(seed, keys, draw) * 2.0**53).astype(np.uint64) << np.uint64(11)


def make_id_parts(at: pd.Timestamp, keys: np.ndarray, seed: int) -> IdParts:
    """The parts of the ids of decisions made at ``at`` with decision keys ``keys``."""
    n = len(keys)
    return IdParts(
        np.full(n, at.value // 1_000_000, dtype=np.uint64),
        _bits(seed, keys, 101),
        _bits(seed, keys, 102) >> np.uint64(48),
    )


def make_ids(
    at: pd.Timestamp, keys: np.ndarray, seed: int
) -> tuple[pd.api.extensions.ExtensionArray, IdParts]:
    """Ids for decisions made at ``at`` with decision keys ``keys`` (see the module doc)."""
    parts = make_id_parts(at, keys, seed)
    return id_array(parts), parts


def id_array(parts: IdParts) -> pd.api.extensions.ExtensionArray:
    """The id strings of ``parts`` as an Arrow-backed string array (no Python string per id)."""
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


_FEW = 64  # below this many ids, Python's formatting beats building Arrow arrays


def format_ids(parts: IdParts) -> list[str]:
    """The id strings of ``parts``.

    Examples
    --------
    >>> p = IdParts(np.array([0x19B8D627A80], np.uint64), np.array([7], np.uint64),
    ...             np.array([0xABC], np.uint64))
    >>> format_ids(p) == id_array(p).tolist() == ["019b8d627a800000000000000007" + "0abc"]
    True
    """
    if len(parts.key) < _FEW:
        return [
            f"{ms & 0xFFFFFFFFFFFF:012x}{key:016x}{tail & 0xFFFF:04x}"
            for ms, key, tail in zip(
                parts.ms.tolist(), parts.key.tolist(), parts.tail.tolist(), strict=True
            )
        ]
    return [str(s) for s in id_array(parts).tolist()]


def _from_bytes(raw: np.ndarray) -> IdParts:
    """Parts of ids given as their 16 bytes each, shape (n, 16)."""
    n = len(raw)
    # three big-endian uint64 words: 2 zero bytes + 6 of ms, 8 of key, 6 zero bytes + 2 of tail
    words = np.zeros((n, 24), dtype=np.uint8)
    words[:, 2:8] = raw[:, :6]
    words[:, 8:16] = raw[:, 6:14]
    words[:, 22:24] = raw[:, 14:16]
    v = words.view(">u8")
    return IdParts(v[:, 0].astype(np.uint64), v[:, 1].astype(np.uint64), v[:, 2].astype(np.uint64))


def _from_hex(text: str, n: int) -> IdParts | None:
    """Parts of ``n`` ids written back to back as 32 hex digits each, or ``None`` if
    ``text`` is anything else."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    # fromhex skips whitespace between digit pairs: 16 bytes per 32 characters rules it out
    if len(text) != 32 * n or len(raw) != 16 * n:
        return None
    return _from_bytes(np.frombuffer(raw, dtype=np.uint8).reshape(n, 16))


def parse_ids(ids: Sequence[str]) -> tuple[IdParts, np.ndarray]:
    """Parse id strings; also returns which were well-formed (32 hex digits).

    Examples
    --------
    >>> parts, ok = parse_ids(["019b8d627a8014490dd40dced8002077", "nope"])
    >>> ok.tolist(), hex(int(parts.ms[0]))
    ([True, False], '0x19b8d627a80')
    """
    n = len(ids)
    # fast path, when every id is well-formed: one C-level hex decode of all of them
    try:
        text = "".join(ids) if set(map(len, ids)) == {32} else None
    except TypeError:
        text = None
    parts = None if text is None else _from_hex(text, n)
    if parts is not None:
        return parts, np.ones(n, dtype=bool)
    return _parse_each(ids)


def parse_id_column(ids: pd.Series) -> tuple[IdParts, np.ndarray] | None:
    """:func:`parse_ids` of a column of well-formed ids read straight from its Arrow buffer
    (no Python string per id), or ``None`` if the column has no such buffer or any id is
    not 32 hex digits.

    Examples
    --------
    >>> parts, ok = parse_id_column(pd.Series(["019b8d627a8014490dd40dced8002077"], dtype="str"))
    >>> ok.tolist(), hex(int(parts.ms[0]))
    ([True], '0x19b8d627a80')
    >>> parse_id_column(pd.Series(["019b8d627a8014490dd40dced8002077", "nope"], dtype="str"))
    """
    text = _arrow_text(ids)
    parts = None if text is None else _from_hex(text, len(ids))
    return None if parts is None else (parts, np.ones(len(ids), dtype=bool))


def _arrow_text(ids: pd.Series) -> str | None:
    """All ids of an Arrow-backed string column without nulls, concatenated, or ``None``."""
    to_arrow = getattr(ids.array, "__arrow_array__", None)
    if to_arrow is None:
        return None
    chunked = to_arrow()
    if chunked.null_count or not (
        pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)
    ):
        return None
    text = []
    for chunk in chunked.chunks:
        if len(chunk) == 0:
            continue
        offsets_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        _, offsets_buf, data = chunk.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=offsets_type)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        if (np.diff(offsets) != 32).any():
            return None
        lo, hi = int(offsets[0]), int(offsets[-1])
        # latin-1 maps every byte to one character: a non-ASCII byte is then a non-hex digit
        text.append(bytes(memoryview(data)[lo:hi]).decode("latin-1"))
    return "".join(text)


def _parse_each(ids: Sequence[str]) -> tuple[IdParts, np.ndarray]:
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

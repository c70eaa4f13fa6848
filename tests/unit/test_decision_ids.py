"""Decision id parsing: the fast paths agree with the one id at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xsell.decision_ids import IdParts, _parse_each, parse_id_column, parse_ids

GOOD = "019b8d627a8014490dd40dced8002077"


def _same(a: IdParts, b: IdParts) -> bool:
    return bool((a.ms == b.ms).all() and (a.key == b.key).all() and (a.tail == b.tail).all())


@pytest.mark.parametrize(
    "ids",
    [
        [],
        [GOOD],
        [GOOD, GOOD.upper()],
        [GOOD, "nope"],
        [GOOD[:31] + " ", GOOD],
        [GOOD[:30] + " 7", GOOD],
        [GOOD + "0", GOOD[:-1]],
        [GOOD, "é" * 32],
    ],
)
def test_fast_paths_parse_as_each_id_alone(ids: list[str]) -> None:
    slow, ok_slow = _parse_each(ids)
    fast, ok_fast = parse_ids(ids)
    assert ok_fast.tolist() == ok_slow.tolist()
    assert _same(fast, slow)
    from_column = parse_id_column(pd.Series(ids, dtype="str"))
    if ok_slow.all():
        assert from_column is not None
        assert from_column[1].all()
        assert _same(from_column[0], slow)
    else:
        assert from_column is None


def test_column_slices_and_chunks_are_read_at_their_offsets() -> None:
    other = "0" * 32
    col = pd.Series([other, GOOD, GOOD.upper()], dtype="str")
    chunked = pd.concat([col.iloc[1:2], col.iloc[2:]])
    for c in (col.iloc[1:], col.iloc[[1, 2]], chunked):
        parsed = parse_id_column(c)
        assert parsed is not None
        assert _same(parsed[0], parse_ids([GOOD, GOOD])[0])
    assert parse_id_column(pd.Series([GOOD, None], dtype="str")) is None
    assert parse_id_column(pd.Series([GOOD], dtype=object)) is None
    assert np.array_equal(parse_id_column(col)[0].key, parse_ids(col.tolist())[0].key)  # type: ignore[index]

"""Keyed randomness: a row's numbers do not depend on how many rows are computed with it."""

from __future__ import annotations

import numpy as np
import pytest

from xsell import _rng
from xsell._rng import hash_keys, keyed_uniform, mix64

KEYS = np.random.default_rng(5).integers(0, 2**64, size=40, dtype=np.uint64)


def test_mix64_one_at_a_time_equals_all_at_once() -> None:
    whole = mix64(KEYS)
    assert len(KEYS) > _rng._FEW  # the vectorized path
    one_by_one = np.concatenate([mix64(KEYS[i : i + 1]) for i in range(len(KEYS))])
    assert whole.dtype == one_by_one.dtype == np.uint64
    np.testing.assert_array_equal(whole, one_by_one)
    assert len(np.unique(whole)) == len(KEYS)  # a bijection
    assert not np.array_equal(whole, KEYS)


@pytest.mark.parametrize("seed", [0, 7, 2**63 + 5, -3])
@pytest.mark.parametrize("draw", [0, 1, 9, np.int64(4)])
def test_keyed_uniform_one_at_a_time_equals_all_at_once(seed: int, draw: int) -> None:
    whole = keyed_uniform(seed, KEYS, draw)
    for n in (1, 3, _rng._FEW):
        parts = [keyed_uniform(seed, KEYS[i : i + n], draw) for i in range(0, len(KEYS), n)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert ((whole >= 0) & (whole < 1)).all()
    assert not np.array_equal(whole, keyed_uniform(seed, KEYS, int(draw) + 1))
    assert not np.array_equal(whole, keyed_uniform(seed + 1, KEYS, draw))


@pytest.mark.parametrize("extra", [(), ("placement",), (1_767_225_600_000_000_000, "web")])
def test_hash_keys_one_at_a_time_equals_all_at_once(extra: tuple[object, ...]) -> None:
    ids = np.array([f"c-{i}" for i in range(30)], dtype=object)
    whole = hash_keys(ids, *extra)
    one_by_one = np.concatenate([hash_keys(ids[i : i + 1], *extra) for i in range(len(ids))])
    np.testing.assert_array_equal(whole, one_by_one)
    assert hash_keys(ids[:0], *extra).shape == (0,)
    assert len(np.unique(whole)) == len(ids)

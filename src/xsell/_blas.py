"""Control of the BLAS thread pool for small linear algebra on hot paths."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_blas"]


@cache
def _blas_libraries() -> tuple[Any, ...]:
    # scanning the loaded libraries takes milliseconds: do it once per process
    return tuple(lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas")


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with every loaded BLAS on one thread (a few µs to switch)."""
    libs = _blas_libraries()
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before, strict=True):
            lib.set_num_threads(n)

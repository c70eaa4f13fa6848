"""Outcome input: validated once, whatever form it arrives in.

Outcomes reach :meth:`xsell.Agent.update` as a list of :class:`~xsell.OfferResult` (the
real-time path: one or a few at a time, so no pandas overhead), as a DataFrame of
``decision_id`` + labels, or as full rows of context + ``product`` + labels (replay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from xsell.decision_ids import IdParts, parse_id_column, parse_ids
from xsell.errors import InputError, SchemaError
from xsell.records import OfferResult

__all__ = ["OutcomeBatch", "parse_outcomes"]


@dataclass(frozen=True, slots=True)
class OutcomeBatch:
    """Validated outcomes.

    Attributes
    ----------
    decision_ids
        Decision ids (lookup mode), or ``None`` when ``context`` is given (replay mode).
    context
        Full customer rows for replay mode, else ``None``.
    product
        Offered product per row (replay mode; ``None``/"none" for no offer), or ``None``.
    no_offer
        Rows whose decision offered nothing (skipped by the product models).
    conversion, opt_out
        Labels as floats; ``opt_out`` is NaN where unknown, or ``None`` if not given.
    parsed_ids
        ``decision_ids`` parsed, and which were well-formed (as
        :func:`~xsell.decision_ids.parse_ids` gives them), or ``None``.
    """

    decision_ids: Sequence[str] | None
    context: pd.DataFrame | None
    product: np.ndarray | None
    no_offer: np.ndarray
    conversion: np.ndarray
    opt_out: np.ndarray | None
    parsed_ids: tuple[IdParts, np.ndarray] | None = None


def _check_labels(v: np.ndarray, col: str, *, required: bool) -> np.ndarray:
    nan = np.isnan(v)
    if required and nan.any():
        raise InputError(
            f"`outcomes` column {col!r} is missing a value (row {int(np.flatnonzero(nan)[0])})"
        )
    bad = ~nan & (v != 0) & (v != 1)
    if bad.any():
        raise InputError(f"`outcomes` column {col!r} must be 0 or 1, got {float(v[bad][0]):g}")
    return v


def _column_labels(df: pd.DataFrame, col: str, *, required: bool) -> np.ndarray:
    s = df[col]
    if not (pd.api.types.is_numeric_dtype(s.dtype) or s.dtype == bool or s.dtype == "boolean"):
        raise SchemaError(f"`outcomes` column {col!r} must be 0/1, got dtype {s.dtype}")
    if isinstance(s.dtype, np.dtype):  # NumPy-backed: missing is NaN already, no scan for NA
        v = s.to_numpy().astype(np.float64)
    else:
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return _check_labels(v, col, required=required)


def _unique(ids: Sequence[str], parsed: tuple[IdParts, np.ndarray] | None = None) -> None:
    # well-formed ids with distinct keys are distinct strings; anything else compares strings
    if parsed is not None and parsed[1].all():
        keys = np.sort(parsed[0].key)
        if not (keys[1:] == keys[:-1]).any():
            return
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise InputError(
            f"`outcomes` column 'decision_id' repeats {dup!r}; give each decision's labels in one row"
        )


def _from_results(results: Sequence[OfferResult]) -> OutcomeBatch:
    ids = [str(r.decision_id) for r in results]
    _unique(ids)
    try:
        conv = np.array([r.conversion for r in results], dtype=np.float64)
        opt = np.array(
            [np.nan if r.opt_out is None else r.opt_out for r in results], dtype=np.float64
        )
    except (TypeError, ValueError):
        raise InputError("`OfferResult.conversion` and `opt_out` must be 0 or 1") from None
    return OutcomeBatch(
        ids,
        None,
        None,
        np.zeros(len(ids), dtype=bool),
        _check_labels(conv, "conversion", required=True),
        _check_labels(opt, "opt_out", required=False),
    )


def parse_outcomes(outcomes: object, model_inputs: Sequence[str]) -> OutcomeBatch:
    """Validate outcomes given as OfferResult(s) or a DataFrame (see the module docstring)."""
    if isinstance(outcomes, OfferResult):
        return _from_results([outcomes])
    if (
        isinstance(outcomes, Sequence)
        and not isinstance(outcomes, str)
        and all(isinstance(o, OfferResult) for o in outcomes)
    ):
        return _from_results(outcomes)
    if not isinstance(outcomes, pd.DataFrame):
        raise InputError(
            f"`outcomes` must be a DataFrame or a list of OfferResult, got {type(outcomes).__name__}"
        )
    df = outcomes
    if "conversion" not in df.columns:
        raise SchemaError("`outcomes` is missing the label column 'conversion'")
    conv = _column_labels(df, "conversion", required=True)
    opt = _column_labels(df, "opt_out", required=False) if "opt_out" in df.columns else None
    if "product" in df.columns and all(c in df.columns for c in model_inputs):
        product = df["product"].to_numpy(dtype=object)
        no_offer = pd.isna(df["product"]).to_numpy() | (product == "none")
        return OutcomeBatch(None, df, product, no_offer, conv, opt)
    if "decision_id" not in df.columns:
        raise SchemaError("`outcomes` needs a 'decision_id' column, or 'product' with full context")
    col = df["decision_id"]
    ids: Sequence[str]
    parsed = parse_id_column(col)
    if parsed is not None:
        # the Arrow-backed array itself: its strings are only made if an error names one
        ids = cast("Sequence[str]", col.array)
    else:
        ids = col.tolist() if pd.api.types.is_string_dtype(col.dtype) else [str(i) for i in col]
        parsed = parse_ids(ids)
    _unique(ids, parsed)
    no_offer = (
        pd.isna(df["product"]).to_numpy() if "product" in df.columns else np.zeros(len(df), bool)
    )
    return OutcomeBatch(ids, None, None, no_offer, conv, opt, parsed)

"""Saving and loading agents: one file, a JSON manifest and plain arrays, no pickle.

The file is a NumPy ``.npz`` archive read with ``allow_pickle=False``, so loading a file
can never run code. The manifest names the format and its version and carries a SHA-256
of every array, so a corrupted, truncated or foreign file is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell.arms import Arms
from xsell.catalog.loader import catalog_from_dict
from xsell.decision_ids import IdParts
from xsell.errors import PersistenceError, XsellError
from xsell.features.spec import FeatureSpec
from xsell.guardrails.contact_history import ContactHistory
from xsell.models.factory import model_from_state
from xsell.policies import policy_from_dict
from xsell.prior import WarmStartPrior

if TYPE_CHECKING:
    from xsell._time import Clock
    from xsell.agent import Agent

__all__ = ["FORMAT", "FORMAT_VERSION", "load_agent", "save_agent"]

FORMAT = "xsell-agent"
FORMAT_VERSION = 1


def _digest(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    return {
        k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in arrays.items()
    }


def save_agent(agent: Agent, path: str | os.PathLike[str]) -> None:
    """Write ``agent`` to ``path`` atomically (a crash never leaves a half-written file)."""
    from xsell import __version__

    arrays: dict[str, np.ndarray] = {}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xsell_version": __version__,
        "catalog": agent.catalog.to_dict(),
        "spec": agent.spec.to_dict(),
        "policy": {"name": agent.policy.name, "params": agent.policy.get_params()},
        "prior": agent.prior.to_dict(),
        "learn_opt_out": agent.learn_opt_out,
        "model_kind": agent.model_kind,
        "arms": agent.arms.to_list(),
        "model_params": agent.model_params,
        "seed": agent.seed,
        "record_contacts": agent.record_contacts,
        "pending_capacity": agent.pending_capacity,
        "half_life": agent.half_life,
        "last_update_at": None
        if agent.last_update_at is None
        else agent.last_update_at.isoformat(),
        "model_version": agent.model_version,
        "n_learned": agent.n_learned,
        "fitted": agent.is_fitted,
    }
    if agent.is_fitted:
        fmeta, farr = agent.featurizer.get_state()
        manifest["featurizer"] = fmeta
        arrays.update({f"featurizer.{k}": v for k, v in farr.items()})
        for name, model in (("model", agent.model), ("opt_out_model", agent.opt_out_model)):
            mmeta, marr = model.get_state()
            manifest[name] = mmeta
            arrays.update({f"{name}.{k}": v for k, v in marr.items()})
        arrays.update({f"pending.{k}": v for k, v in agent.pending.state().items()})
    manifest["digests"] = _digest(arrays)
    blob = np.frombuffer(json.dumps(manifest, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".xsell-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __manifest__=blob, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    p = Path(path)
    if not p.is_file():
        raise PersistenceError(f"no saved agent at {str(p)!r}")
    try:
        # open the file ourselves: np.load leaks its handle when the archive is broken
        with p.open("rb") as fh:
            npz = np.load(fh, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise PersistenceError(f"{p} is not an xsell agent file (a bare array)")
            if "__manifest__" not in npz.files:
                raise PersistenceError(f"{p} is not an xsell agent file (no manifest)")
            manifest = json.loads(npz["__manifest__"].tobytes().decode("utf-8"))
            arrays = {k: npz[k] for k in npz.files if k != "__manifest__"}
    except PersistenceError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, UnicodeDecodeError) as exc:
        raise PersistenceError(f"{p} is not a readable xsell agent file: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PersistenceError(
            f"{p} is not an xsell agent file (format {manifest.get('format')!r})"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PersistenceError(
            f"{p} has format version {manifest.get('format_version')!r}; this xsell reads version {FORMAT_VERSION}"
        )
    expected = manifest.get("digests", {})
    actual = _digest(arrays)
    if set(expected) != set(actual) or any(expected[k] != actual[k] for k in expected):
        bad = sorted(k for k in set(expected) | set(actual) if expected.get(k) != actual.get(k))
        raise PersistenceError(f"{p} is corrupted: arrays {bad[:5]} do not match their checksums")
    return manifest, arrays


def load_agent(
    path: str | os.PathLike[str],
    *,
    clock: Clock | None = None,
    history: ContactHistory | None = None,
) -> Agent:
    """Read an agent written by :func:`save_agent`."""
    from xsell.agent import Agent
    from xsell.models.bayes_logistic import BayesianLogisticRegression

    manifest, arrays = _read(path)
    try:
        agent = Agent(
            catalog_from_dict(manifest["catalog"]),
            FeatureSpec.from_dict(manifest["spec"]),
            policy=policy_from_dict(manifest["policy"]),
            prior=WarmStartPrior(**manifest["prior"]),
            learn_opt_out=bool(manifest["learn_opt_out"]),
            model=manifest.get("model_kind", "bayes_logistic"),
            model_params=manifest.get("model_params"),
            seed=int(manifest["seed"]),
            clock=clock,
            history=history,
            record_contacts=bool(manifest["record_contacts"]),
            pending_capacity=int(manifest["pending_capacity"]),
            half_life=manifest.get("half_life"),
            choose_channel=any(c is not None for _, c in manifest.get("arms", [])),
        )
        agent.model_version = int(manifest["model_version"])
        agent.n_learned = int(manifest["n_learned"])
        if "arms" in manifest:
            agent.arms = Arms.from_list(manifest["arms"])
        if manifest.get("last_update_at"):
            agent.last_update_at = pd.Timestamp(manifest["last_update_at"])
        if manifest["fitted"]:

            def sub(prefix: str) -> dict[str, np.ndarray]:
                cut = len(prefix) + 1
                return {k[cut:]: v for k, v in arrays.items() if k.startswith(prefix + ".")}

            agent.featurizer.set_state(manifest["featurizer"], sub("featurizer"))
            agent._build_models()
            agent.model = model_from_state(agent.model_kind, manifest["model"], sub("model"))
            agent.opt_out_model = BayesianLogisticRegression.from_state(
                manifest["opt_out_model"], sub("opt_out_model")
            )
            pend = sub("pending")
            parts = IdParts(pend["pending_ms"], pend["pending_key"], pend["pending_tail"])
            agent.pending.add(
                parts, pend["pending_X"], pend["pending_E"], pend["pending_arm"], pend["pending_P"]
            )
    except PersistenceError:
        raise
    except (XsellError, KeyError, TypeError, ValueError) as exc:
        raise PersistenceError(f"{path} holds an agent this xsell cannot rebuild: {exc}") from None
    return agent

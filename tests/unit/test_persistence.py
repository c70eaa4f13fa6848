"""Save/load: identical decisions after a round trip; corrupted or foreign files refused."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import Agent, PersistenceError

AT = "2026-01-05T09:00:00Z"


@pytest.fixture
def trained(catalog, spec, customers) -> Agent:
    agent = Agent(catalog, spec, seed=8, policy=xsell.ThompsonSampling(posterior_scale=0.7))
    out = agent.act(customers, at=AT)
    y = xsell.SampleBank(seed=11).respond(customers, out["product"].tolist(), AT)
    offered = out["product"].notna().to_numpy()
    agent.update(out[offered].assign(conversion=y[offered]).iloc[: offered.sum() // 2])
    return agent


def test_round_trip_gives_identical_decisions_and_state(
    trained: Agent, tmp_path: Path, customers
) -> None:
    path = tmp_path / "agent.npz"
    trained.save(str(path))
    loaded = Agent.load(str(path))
    assert loaded.model_version == trained.model_version and loaded.n_learned == trained.n_learned
    assert loaded.policy_version == trained.policy_version
    np.testing.assert_array_equal(loaded.model.mean_, trained.model.mean_)
    np.testing.assert_array_equal(loaded.model.cov_, trained.model.cov_)
    later = "2026-01-06T09:00:00Z"
    pd.testing.assert_frame_equal(loaded.act(customers, at=later), trained.act(customers, at=later))


def test_pending_decisions_survive_a_restart(trained: Agent, tmp_path: Path) -> None:
    pending = trained.pending.live_ids()
    assert pending
    trained.save(str(tmp_path / "a.npz"))
    loaded = Agent.load(str(tmp_path / "a.npz"))
    loaded.update(pd.DataFrame({"decision_id": pending[:10], "conversion": 1}))
    trained.update(pd.DataFrame({"decision_id": pending[:10], "conversion": 1}))
    np.testing.assert_allclose(loaded.model.mean_, trained.model.mean_)


def test_an_unfitted_agent_round_trips(catalog, spec, tmp_path: Path) -> None:
    Agent(catalog, spec, seed=3).save(str(tmp_path / "fresh.npz"))
    loaded = Agent.load(str(tmp_path / "fresh.npz"))
    assert not loaded.is_fitted and loaded.seed == 3


def _rewrite(path: Path, target: Path, edit) -> None:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, edit(item.filename, src.read(item.filename)))


def test_corrupted_and_foreign_files_are_refused(trained: Agent, tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    trained.save(str(good))
    raw = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"hello": 1}))
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    np.save(tmp_path / "bare.npy", np.arange(3))

    def flip_weights(name: str, data: bytes) -> bytes:
        if name == "model.mean.npy":
            arr = bytearray(data)
            arr[-1] ^= 0xFF
            return bytes(arr)
        return data

    _rewrite(good, tmp_path / "tampered.npz", flip_weights)

    def other_format(name: str, data: bytes) -> bytes:
        return (
            data.replace(b'"format_version": 1', b'"format_version": 9')
            if name == "__manifest__.npy"
            else data
        )

    _rewrite(good, tmp_path / "future.npz", other_format)
    cases = {
        "truncated.npz": "not a readable xsell agent file",
        "noise.npz": "not a readable xsell agent file",
        "pickle.npz": "not a readable xsell agent file",
        "plain.npz": "no manifest",
        "bare.npy": "a bare array",
        "tampered.npz": "corrupted: arrays \\['model.mean'\\]",
        "future.npz": "format version 9;",
        "missing.npz": "no saved agent",
    }
    for name, match in cases.items():
        with pytest.raises(PersistenceError, match=match):
            Agent.load(str(tmp_path / name))


def test_the_manifest_is_plain_json(trained: Agent, tmp_path: Path) -> None:
    trained.save(str(tmp_path / "a.npz"))
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:
        manifest = json.loads(npz["__manifest__"].tobytes())
    assert manifest["format"] == "xsell-agent" and manifest["policy"]["name"] == "thompson"

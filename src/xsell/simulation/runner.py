"""Run several contenders over several worlds of one scenario, in parallel if asked."""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from xsell.errors import InputError
from xsell.simulation.arena import run_contender
from xsell.simulation.contenders.base import ContenderFactory
from xsell.simulation.scenarios import SCENARIOS, Scenario, get_scenario, resolve_contenders

__all__ = ["ArenaResult", "run_arena"]


@dataclass
class ArenaResult:
    """Per-step metrics of every (seed, contender), and what produced them."""

    scenario: str
    steps: pd.DataFrame
    worlds: list[dict[str, Any]]
    contenders: list[str]
    seeds: list[int]
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)


def _one(
    scenario: Scenario,
    overrides: Mapping[str, Any],
    seed: int,
    name: str,
    factory: ContenderFactory,
) -> tuple[pd.DataFrame, dict[str, Any], float]:
    t0 = time.perf_counter()
    world = scenario.make_world(seed, **overrides)
    steps = run_contender(world, factory, name=name)
    return steps, world.info() | {"spec": world.spec.to_dict()}, time.perf_counter() - t0


def _one_by_name(
    scenario_name: str,
    overrides: Mapping[str, Any],
    seed: int,
    name: str,
    factory: ContenderFactory,
) -> tuple[pd.DataFrame, dict[str, Any], float]:
    return _one(get_scenario(scenario_name), overrides, seed, name, factory)


def _picklable(factories: Mapping[str, ContenderFactory]) -> None:
    for name, factory in factories.items():
        try:
            pickle.dumps(factory)
        except Exception as exc:
            raise InputError(
                f"contender {name!r} cannot be sent to a worker process ({exc}); define its "
                "factory at module level or run with jobs=1"
            ) from None


def run_arena(
    scenario: str | Scenario,
    *,
    seeds: Sequence[int],
    contenders: Sequence[str] | Mapping[str, ContenderFactory] | None = None,
    world_params: Mapping[str, Any] | None = None,
    jobs: int = 1,
    on_run: Callable[[str, int, float], None] | None = None,
) -> ArenaResult:
    """Run every contender on the world of every seed, with common random numbers.

    Parameters
    ----------
    scenario
        A scenario name (see :data:`~xsell.simulation.scenarios.SCENARIOS`) or object.
    seeds
        One world per seed; every contender meets each of them.
    contenders
        Names from the registry, or ``{name: factory}`` for your own (default: the
        scenario's list).
    world_params
        Overrides of the scenario's world parameters (e.g. ``{"customers": 10_000}``).
    jobs
        Worker processes (``1`` runs in this process; factories must then be picklable,
        e.g. classes or ``functools.partial`` of them defined at module level).
    on_run
        Called with ``(contender, seed, seconds)`` as each run finishes.

    Examples
    --------
    >>> result = run_arena("bank", seeds=[1], contenders=["oracle", "random"],
    ...                    world_params={"customers": 300, "days": 5})
    >>> sorted(result.steps["contender"].unique())
    ['oracle', 'random']
    """
    sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise InputError("`seeds` must name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"`seeds` must be distinct, got {seeds}")
    if not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"`jobs` must be a positive integer, got {jobs!r}")
    overrides = dict(world_params or {})
    if contenders is None:
        contenders = sc.contenders
    factories = (
        dict(contenders)
        if isinstance(contenders, Mapping)
        else resolve_contenders(list(contenders))
    )
    if not factories:
        raise InputError("`contenders` must name at least one contender")
    sc.make_world(seeds[0], **overrides)  # a bad parameter fails here, before any work
    tasks = [(seed, name) for seed in seeds for name in factories]
    t0 = time.perf_counter()
    results: dict[tuple[int, str], pd.DataFrame] = {}
    worlds: dict[int, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    if jobs > 1:
        _picklable(factories)
    if jobs == 1 or sc.name not in SCENARIOS or SCENARIOS[sc.name] is not sc:
        for seed, name in tasks:
            steps, info, secs = _one(sc, overrides, seed, name, factories[name])
            results[seed, name], worlds[seed] = steps, info
            timings[f"{name}/{seed}"] = secs
            if on_run is not None:
                on_run(name, seed, secs)
    else:
        workers = min(jobs, len(tasks), os.cpu_count() or 1)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {
                pool.submit(_one_by_name, sc.name, overrides, seed, name, factories[name]): (
                    seed,
                    name,
                )
                for seed, name in tasks
            }
            for fut in as_completed(futures):
                seed, name = futures[fut]
                steps, info, secs = fut.result()
                results[seed, name], worlds[seed] = steps, info
                timings[f"{name}/{seed}"] = secs
                if on_run is not None:
                    on_run(name, seed, secs)
    frames = [results[t] for t in tasks]
    return ArenaResult(
        scenario=sc.name,
        steps=pd.concat(frames, ignore_index=True),
        worlds=[worlds[s] for s in seeds],
        contenders=list(factories),
        seeds=seeds,
        seconds=time.perf_counter() - t0,
        meta={"world_params": overrides, "run_seconds": timings, "jobs": jobs},
    )

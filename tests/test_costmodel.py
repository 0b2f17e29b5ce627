"""The cost model: its arithmetic on a synthetic schedule and cost table, the by-level counts it
prices, the microbenchmark on tiny rings, and predictions of jobs that did not run."""
from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pandas as pd
import pytest

from backends.ops import LevelKey
from backends.plaintext import PlaintextBackend
from hemlr import columns as col
from hemlr import microbenchmark as bench
from hemlr import pricing
from hemlr.microbenchmark import microbenchmark
from hemlr.pricing import PREDICTED, predict
from hemlr.costmodel import plaintext_twin, predict_job, run_depth
from hemlr.experiment import run_experiment
from hemlr.session import EncryptedSession, open_session, plan_for
from hemlr.workloads import make_workload

from .conftest import make_factory, test_spec
from .test_experiment import tiny

# seconds by (kind, level, processes): alone, and in the 2 processes a parallel_map forks over
TABLE = pd.DataFrame(
    [("ct_mult", 0, 1, 1.0), ("ct_mult", 2, 1, 3.0), ("add", 0, 1, 0.5), ("serialize", 0, 1, 0.25),
     ("deserialize", 0, 1, 0.25),
     ("ct_mult", 0, 2, 9.0), ("add", 0, 2, 0.75), ("serialize", 0, 2, 0.5), ("map_overhead", 0, 2, 1.5)],
    columns=["kind", "level", "processes", "seconds"]).assign(n=5, library="synthetic", depth=4, map_workers=2)
SCHEDULE = {
    LevelKey("ct_mult", 0, 1): 2,   # 2 x 1.0 at a measured level, alone outside any map
    LevelKey("ct_mult", 1, 1): 1,   # 2.0, between the measured levels 0 and 2
    LevelKey("ct_mult", 5, 1): 1,   # 3.0: beyond the last measured level, its cost
    LevelKey("add", 3, 10): 10,     # 10 adds in a map of 10 items: 0.5 alone, 0.75 beside another
    LevelKey("map_result", 0, 10): 10,  # one map of 10 results: its overhead once when it forks
}


@pytest.mark.parametrize("workers, seconds", [
    (1, 2.0 + 2.0 + 3.0 + 5.0),                                 # nothing forks: no result crosses
    # 5 rounds of 2 items at once; results serialized there (at once too), loaded here
    (2, 7.0 + 10 * 5 * 0.75 / 10 + 10 * (5 * 0.5 / 10 + 0.25) + 1.5),
    (3, 7.0 + 10 * (3 * 0.75 + 0.5) / 10 + 10 * ((3 * 0.5 + 0.25) / 10 + 0.25) + 1.5),  # the 10th item alone
    (4, 7.0 + 10 * 3 * 0.75 / 10 + 10 * (3 * 0.5 / 10 + 0.25) + 1.5),  # 2 rounds of 4, one of 2
    (16, 7.0 + 10 * 0.75 / 10 + 10 * (0.5 / 10 + 0.25) + 1.5),        # more processes than items: one round
])
def test_predict_is_count_times_cost_at_the_level(workers: int, seconds: float) -> None:
    assert predict(SCHEDULE, TABLE, workers) == pytest.approx(seconds, rel=1e-12)
    assert predict(col.ops_json(SCHEDULE), TABLE, workers) == pytest.approx(seconds, rel=1e-12)


def test_predict_without_concurrent_costs_prices_a_map_at_the_single_process_costs_and_no_overhead() -> None:
    alone = TABLE.query("processes == 1")
    assert predict(SCHEDULE, alone, 2) == pytest.approx(7.0 + 5.0 / 2 + 10 * (0.25 / 2 + 0.25), rel=1e-12)


def test_predict_defaults_to_the_tables_workers_and_names_what_it_cannot_price() -> None:
    assert predict(SCHEDULE, TABLE) == predict(SCHEDULE, TABLE, 2)
    assert predict({}, TABLE) == 0.0
    with pytest.raises(ValueError, match=r"no cost for \['bootstrap', 'rotation'\]"):
        predict({**SCHEDULE, LevelKey("bootstrap", 3, 1): 1, LevelKey("rotation", 0, 1): 4}, TABLE)
    # results that never cross a process boundary need no serialization cost
    assert predict({LevelKey("map_result", 0, 10): 10}, TABLE.query("kind == 'add'"), 1) == 0.0


def test_ops_json_round_trips_and_is_sorted() -> None:
    text = col.ops_json(SCHEDULE)
    assert col.ops_from_json(text) == SCHEDULE
    assert text.startswith('[{"kind": "add", "level": 3, "width": 10, "n": 10}')
    assert col.ops_json({}) == "[]"


def _records(he, n: int = 24, f: int = 4, K: int = 3, iterations: int = 2, **kw):
    rng = np.random.default_rng(1)
    return list(open_session(he, rng.uniform(0, 1, (n, f)), np.arange(n) % K, K, iterations, **kw))


def test_by_level_counts_refine_the_flat_counts_of_a_training() -> None:
    records = _records(PlaintextBackend(ring_dim=2048))
    merged = {"add_plain": "add", "hoisted_rotation": "rotation"}
    for rec in records:
        by_kind: dict[str, int] = {}
        for key, n in rec.ops_by_level.items():
            by_kind[merged.get(key.kind, key.kind)] = by_kind.get(merged.get(key.kind, key.kind), 0) + n
        assert {k: by_kind.get(k, 0) for k in ("ct_mult", "pt_mult", "scalar_mult", "add", "rotation")} == \
               {k: rec.ops[k] for k in ("ct_mult", "pt_mult", "scalar_mult", "add", "rotation")}
        assert max(k.level for k in rec.ops_by_level) <= 14
        # the scores' windows and the gradient's classes run in parallel_maps of B*K = 3 and K = 3 items
        assert {k.width for k in rec.ops_by_level} == {1, 3}
    assert records[0].setup_ops_by_level and records[0].setup_ops_by_level.keys() != records[0].ops_by_level.keys()
    assert records[1].setup_ops_by_level == {}
    # the later iteration runs deeper
    assert min(k.level for k in records[1].ops_by_level if k.kind == "ct_mult") == 7


def test_the_tables_ops_key_is_the_interfaces() -> None:
    assert col.OpsKey._fields == LevelKey._fields


def test_rows_carry_the_by_level_counts_as_json() -> None:
    table = run_experiment(tiny(), "plain", test_spec("plaintext"), 2, "unit")
    first, second = (col.ops_from_json(t) for t in table[col.OPS_BY_LEVEL])
    assert sum(n for k, n in first.items() if k.kind == "ct_mult") == table["ct_mult"].iloc[0]
    assert first != second
    assert col.ops_from_json(table[col.OPS_BY_LEVEL_SETUP].iloc[0]) and table[col.OPS_BY_LEVEL_SETUP].iloc[1] == "[]"


def test_run_depth_is_the_plans_whatever_the_shape() -> None:
    he, mlr = PlaintextBackend(ring_dim=2048, max_depth=30), make_workload()
    assert run_depth(mlr, he, 2) == EncryptedSession(mlr, he, np.zeros((24, 4)), np.arange(24) % 3, 3,
                                                     2).plan.depth == 14
    assert run_depth(mlr, he, 5, "client") == EncryptedSession(mlr, he, np.zeros((40, 9)), np.arange(40) % 5, 5, 5,
                                                               "client").plan.depth == 25


def test_microbenchmark_times_every_primitive_at_every_level() -> None:
    client = PlaintextBackend(ring_dim=1024, bootstrap_depth=2)  # a bootstrap leaves 2 of the 4 levels
    table = microbenchmark(client, 4, samples=3, bootstrap=True)
    # timed on the server built from the client's bytes, as the trainer's server runs
    assert {key.kind for key in client.ops.by_level} == {"encrypt", "serialize"}
    levels = {kind: sorted(g["level"]) for kind, g in table.groupby("kind")}
    assert levels.pop("bootstrap") == [3]
    assert levels.pop("level_align") == [1, 2, 3, 4]
    products = ("ct_mult", "pt_mult", "scalar_mult")  # they consume a level: they need one left
    assert all(levels[k] == [0, 1, 2, 3] for k in products)
    assert set(levels) == set(bench.TIMED_KINDS) - {"bootstrap", "level_align"}
    assert all(v == [0, 1, 2, 3, 4] for k, v in levels.items() if k not in products)
    assert (table["seconds"] >= 0).all() and table["n"].eq(3).all() and table["processes"].eq(1).all()
    assert table[["library", "ring_dim", "depth", "map_workers", "hostname", "cpu_model"]].iloc[0].tolist()[:4] == \
           ["plaintext", 1024, 4, 1]
    subset = microbenchmark(PlaintextBackend(ring_dim=1024), 4, [0, 4], samples=1)
    assert set(subset["level"]) == {0, 4} and "bootstrap" not in set(subset["kind"])
    with pytest.raises(ValueError, match="must lie in 0..4"):
        microbenchmark(PlaintextBackend(ring_dim=1024), 4, [5])


@pytest.mark.parametrize("library", ["openfhe", "tenseal"])
def test_microbenchmark_on_a_library(library: str) -> None:
    he = make_factory(library)()
    table = microbenchmark(he, 3, [0, 2, 3], samples=1)
    assert set(table["level"]) == {0, 2, 3} and table["library"].eq(library).all()
    assert (table["seconds"] > 0).sum() >= len(table) - 2  # level_align may measure as 0
    assert table.query("kind == 'ct_mult'")["level"].tolist() == [0, 2]


def test_a_forking_backend_is_timed_also_in_concurrent_processes() -> None:
    table = microbenchmark(make_factory("tenseal", workers=2)(), 2, [0, 2], samples=2)
    alone, together = (table[table["processes"] == p] for p in (1, 2))
    assert len(alone) + len(together) == len(table)
    walls = together[together["kind"] == pricing.MAP_WALL]
    assert walls["level"].tolist() == [2] and walls["n"].eq(2).all() and (walls["seconds"] > 0).all()
    assert col.ops_from_json(walls["ops"].iloc[0])[("ct_mult", 0, 2)] == 2  # one product per worker
    levels, overheads = pricing.map_overheads(table)
    assert levels.tolist() == [2] and (overheads >= 0).all()
    together = together.drop(walls.index)
    assert sorted(zip(alone["kind"], alone["level"])) == sorted(zip(together["kind"], together["level"]))
    assert alone["n"].eq(2).all() and together["n"].eq(4).all()  # 2 samples in each of 2 processes
    assert (together.query("kind == 'rotation'")["seconds"] > 0).all() and table["map_workers"].eq(2).all()


def test_a_concurrent_process_that_dies_is_an_error_not_a_hang() -> None:
    first = multiprocessing.get_context("fork").Value("i", 0)

    def dies_in_one_process() -> None:
        with first.get_lock():
            first.value += 1
            mine = first.value
        if mine == 1:
            os._exit(3)

    with pytest.raises(RuntimeError, match=r"died \(exit codes \[.*3.*\]\)"):
        bench._concurrent_rounds({("add", 0): dies_in_one_process}, 3, 2)


def test_predictions_of_a_job_come_from_the_same_trainer_on_the_plaintext_twin() -> None:
    """At a small n, predict_job's numbers are those of a real plaintext run's counts."""
    table = microbenchmark(PlaintextBackend(ring_dim=2048), 14, samples=1).assign(map_workers=2)
    records = _records(PlaintextBackend(ring_dim=2048), n=40, f=5, K=3)
    mlr = make_workload()
    job = predict_job(mlr, PlaintextBackend(ring_dim=2048), table, 40, 5, 3, 2)
    assert job[PREDICTED].tolist() == [predict(r.ops_by_level, table) for r in records]
    assert job["predicted_setup_s"].iloc[0] == predict(records[0].setup_ops_by_level, table)
    assert job["upload_cts"].iloc[0] == 4 and job["ct_mult"].tolist() == [r.ops["ct_mult"] for r in records]
    both = predict_job(mlr, PlaintextBackend(ring_dim=2048), table, 40, 5, 3, 2, workers=[None, 1])
    assert both["map_workers"].tolist() == [2, 2, 1, 1]
    assert both[PREDICTED].tolist()[:2] == job[PREDICTED].tolist() != both[PREDICTED].tolist()[2:]
    # client refresh: the working form from level 0, 4 iterations of 6 levels, the pack
    with pytest.raises(ValueError, match="measured at depth \\[14\\], this job's keys have depth 25"):
        predict_job(mlr, PlaintextBackend(ring_dim=2048), table, 40, 5, 3, 4, refresh="client",
                    refresh_every=4)


@pytest.mark.parametrize("library, keys", [("openfhe", "per_step"), ("tenseal", "per_step"),
                                           ("openfhe", "power_of_two")])
def test_the_plaintext_twin_counts_like_the_library(library: str, keys: str) -> None:
    he = type(make_factory(library)())(**{**make_factory(library)().params, "rotation_keys": keys})
    twin = plaintext_twin(he)
    assert (twin.slots, twin.max_depth()) == (he.slots, he.max_depth())
    mlr = make_workload()
    assert plan_for(mlr, twin, 6000, 7, 4, 2) == plan_for(mlr, he, 6000, 7, 4, 2)  # as predict_job asserts
    real, counted = _records(he, n=16, f=7, K=4), _records(twin, n=16, f=7, K=4)
    assert [r.ops_by_level for r in real] == [r.ops_by_level for r in counted]
    assert real[0].setup_ops_by_level == counted[0].setup_ops_by_level


def test_with_predictions_prices_the_rows_that_have_a_table() -> None:
    df = pd.concat([run_experiment(tiny(), name, test_spec("plaintext"), 2, "unit") for name in ("a", "b")])
    table = microbenchmark(PlaintextBackend(ring_dim=2048), 14, samples=1)
    out = pricing.with_predictions(df, {("mlr", "a"): table})
    a, b = out[out["backend"] == "a"], out[out["backend"] == "b"]
    assert a[PREDICTED].tolist() == [predict(c, table) for c in a[col.OPS_BY_LEVEL]] and (a[PREDICTED] > 0).all()
    assert b[PREDICTED].isna().all()
    assert pricing.server_seconds(a).tolist() == a[col.wall("iteration")].tolist()

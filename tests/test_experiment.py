"""One train job -> a tidy table, the same way for CKKS and whole-model adapters."""
from __future__ import annotations

import numpy as np
import pytest

from backends import registry
from hemlr import columns as col
from hemlr.dataset import Dataset
from hemlr.experiment import run_experiment
from hemlr.workloads.mlr import QuadraticGradientMLR
from hemlr.workloads.mlr.reference import train_oracle

from .conftest import make_factory, test_spec


def tiny() -> Dataset:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 3
    X = 2.0 * np.eye(3, 4)[y] + rng.normal(0.0, 0.3, (40, 4))
    return Dataset("tiny", X[:24], y[:24], X[24:], y[24:], 3, "test", "synthetic, 3 classes")


@pytest.mark.parametrize("library", ["plaintext", "concrete"])
def test_one_row_per_iteration_with_the_same_measured_columns(library: str) -> None:
    make_factory(library)  # skips when the library is missing
    table = run_experiment(tiny(), library, test_spec(library), 2, "unit")
    assert list(table["iteration"]) == [1, 2]
    for name in ("test_accuracy", "sle_loss", "bce_loss", "test_bce_loss", "upload_cts", "download_bytes", "evalkey_bytes",
                 "peak_rss_mb", col.wall("iteration"), col.wall("eval"), *col.OP_LABELS):
        assert table[name].notna().all(), name
    phases = [c for c in table.columns if c.startswith("time_")]
    assert set(phases) <= {col.wall(p) for p in col.PHASES}
    assert (table[phases] >= 0).all().all()
    assert table["library"].eq(library).all() and table["dataset"].eq("tiny").all()


def test_ckks_rows_carry_the_oracle_distance_and_one_offs_once() -> None:
    ds = tiny()
    table = run_experiment(ds, "plain", test_spec("plaintext"), 2, "unit")
    W = train_oracle(ds.X_train, ds.y_train, 3, 2)[-1].W
    assert table["max_abs_w_diff_oracle"].max() < 1e-12 and (table["algorithm"] == QuadraticGradientMLR.title).all()
    assert list(table["upload_cts"]) == [4, 0] and list(table[col.upload_cts("Z")]) == [1, 0]
    assert table[col.wall("keygen")].iloc[1] == 0 and table["evalkey_bytes"].iloc[1] == 0
    assert table["depth"].eq(14).all() and table["level_after"].iloc[-1] == 14
    assert table["oracle_test_accuracy"].iloc[-1] == pytest.approx(
        np.mean((np.hstack([np.ones((16, 1)), ds.X_test]) @ W.T).argmax(1) == ds.y_test))


def test_whole_model_rows_say_what_they_trained_instead() -> None:
    make_factory("concrete")
    table = run_experiment(tiny(), "c", test_spec("concrete"), 2, "unit")
    assert table["max_abs_w_diff_oracle"].isna().all()
    assert "NOT the paper's" in table["algorithm"].iloc[0] and table["mode"].eq("simulated").all()


def test_a_job_drifting_beyond_the_tolerance_is_marked_failed() -> None:
    make_factory("tenseal")
    ds = tiny()
    ok = run_experiment(ds, "t", test_spec("tenseal"), 2, "unit")
    assert not ok["failed"].any() and (ok["rel_w_diff_oracle"] < 1e-3).all()
    # CKKS noise (~1e-7 relative here) is beyond a tolerance of 1e-12: every row says FAILED
    strict = run_experiment(ds, "t", test_spec("tenseal"), 2, "unit", tolerance=1e-12)
    assert strict["failed"].all() and strict["tolerance"].eq(1e-12).all()
    exact = run_experiment(ds, "p", test_spec("plaintext"), 2, "unit", tolerance=1e-12)
    assert not exact["failed"].any()


def test_repeats_train_from_fresh_keys_and_keep_every_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    adapters, oracles = [], []
    make_backend, oracle = registry.make_backend, QuadraticGradientMLR.reference
    monkeypatch.setattr(registry, "make_backend", lambda spec: adapters.append(spec) or make_backend(spec))
    monkeypatch.setattr(QuadraticGradientMLR, "reference", lambda *a: oracles.append(a) or oracle(*a))
    ds = tiny()
    table = run_experiment(ds, "plain", test_spec("plaintext"), 2, "unit", repeats=3)
    assert len(adapters) == 3 and len(oracles) == 1  # a new session per repeat; one deterministic oracle
    assert list(table[col.REPEAT]) == [0, 0, 1, 1, 2, 2] and list(table["iteration"]) == [1, 2] * 3
    # each repeat pays its own one-offs: keys and the data upload in its first iteration
    assert list(table["upload_cts"]) == [4, 0] * 3 and (table["evalkey_bytes"].iloc[::2] > 0).all()
    assert (table[col.wall("keygen")].iloc[::2] > 0).all() and (table[col.wall("keygen")].iloc[1::2] == 0).all()
    by_repeat = table.pivot(index="iteration", columns=col.REPEAT, values="test_accuracy")
    assert by_repeat.nunique(axis=1).eq(1).all() and table["max_abs_w_diff_oracle"].max() < 1e-12
    with pytest.raises(ValueError, match="repeats: 0"):
        run_experiment(ds, "plain", test_spec("plaintext"), 2, "unit", repeats=0)


def test_bce_columns_are_the_mean_loss_per_sample_of_train_and_test() -> None:
    ds = tiny()
    table = run_experiment(ds, "plain", test_spec("plaintext"), 2, "unit")
    assert list(table[col.REPEAT]) == [0, 0]
    assert np.allclose(table["bce_loss"], -table["sle_loss"] / len(ds.y_train), rtol=1e-12)
    assert np.allclose(table["test_bce_loss"], -table["test_sle_loss"] / len(ds.y_test), rtol=1e-12)
    assert table["bce_loss"].iloc[1] < table["bce_loss"].iloc[0]  # training lowers the loss it follows

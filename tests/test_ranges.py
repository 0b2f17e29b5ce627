"""Range checks before key generation: refused data names itself, usable data passes."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from backends import registry
from hemlr.workloads.bounds import MARGIN_BITS, SIGMOID_BOUND
from hemlr.workloads.mlr.ranges import range_problems
from hemlr.workloads.mlr.reference import W_INIT, train_oracle
from hemlr.sources.features_csv import load_features_csv

N, F, K = 128, 64, 10
Y = np.arange(N) % K
OPENFHE_BITS = 60 - 40  # the OpenFHE defaults
TENSEAL_BITS = 60 - 50  # TenSEAL as the shipped configs run it (scale_bits 50): the tightest


def uniform(high: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, high, (N, F))


def test_features_up_to_a_million_are_refused_naming_scores_weights_and_remedy() -> None:
    scores, weights = range_problems(uniform(1e6), Y, K, 2, "big", OPENFHE_BITS)
    assert scores.startswith("dataset 'big': the first iteration's scores S = Z V0^T reach |S| = ")
    assert "beyond the cubic sigmoid's range |S| <= 8" in scores
    assert "after iteration 1 of 2" in weights and "beyond the ciphertext bound 2^16 = 65536" in weights
    assert "below 2^20 (first_mod_bits - scale_bits)" in weights
    for message in (scores, weights):
        assert "set `standardize: true` on the dataset" in message
    # Without a modulus (plaintext) only the sigmoid's range applies.
    assert range_problems(uniform(1e6), Y, K, 2, "big") == [scores]


def test_one_cell_of_1e30_is_refused_naming_its_row_and_feature() -> None:
    X = uniform(1.0)
    X[5, 7] = 1e30
    scores, weights = range_problems(X, Y, K, 2, "cell", TENSEAL_BITS)
    assert "(training row 5, class 0; its largest feature is feature 7 (0-based) = 1e+30)" in scores
    assert "'cell'" in weights and "2^6 = 64" in weights


def test_the_sigmoid_bound_is_the_fit_interval() -> None:
    # Iteration 1 scores every class W_INIT * (1 + row sum): one feature sets the row sum.
    edge = SIGMOID_BOUND / W_INIT - 1
    X = np.zeros((N, 1))
    X[3, 0] = 0.99 * edge
    assert range_problems(X, Y, K, 1, "in") == []
    X[3, 0] = 1.01 * edge
    (message,) = range_problems(X, Y, K, 1, "out")
    assert f"|S| = {1.01 * SIGMOID_BOUND - 0.01 * W_INIT:.3g} (training row 3" in message


def test_the_weight_bound_follows_the_headroom() -> None:
    X = uniform(1e6)
    step = train_oracle(X, Y, K, 1)[0]
    bits = int(np.log2(max(np.abs(step.W).max(), np.abs(step.V).max()))) + MARGIN_BITS
    assert len(range_problems(X, Y, K, 1, "big", bits)) == 2  # bound 2^(bits - MARGIN_BITS) <= |W|
    assert len(range_problems(X, Y, K, 1, "big", bits + 1)) == 1  # the sigmoid's alone


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_refused_before_the_oracle_runs(bad: float) -> None:
    X = uniform(1.0)
    X[9, 2] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the oracle would warn on NaN arithmetic
        (message,) = range_problems(X, Y, K, 2, "nan", OPENFHE_BITS)
    assert message.startswith("dataset 'nan': the training features hold 1 non-finite value(s)")
    assert f"training row 9, feature 2 (0-based): {bad}" in message


@pytest.mark.parametrize("bits", [None, TENSEAL_BITS, OPENFHE_BITS])
def test_digits_in_zero_one_pass(bits: int | None) -> None:
    X, y = load_digits(return_X_y=True)
    assert range_problems(X[:128] / 16, y[:128], 10, 2, "digits", bits) == []


def test_standardizing_the_million_valued_data_passes() -> None:
    X = StandardScaler().fit_transform(uniform(1e6))
    assert range_problems(X, Y, K, 2, "big", TENSEAL_BITS) == []


@pytest.mark.parametrize("bits", [None, TENSEAL_BITS, OPENFHE_BITS])
def test_authors_features_pass(reference_csv, bits: int | None) -> None:
    path = reference_csv("REGNET_X_400MF_MNIST_TRAININGfirst512.csv")
    ds = load_features_csv("authors", str(path), (0, 128), None, (128, 512))
    assert range_problems(ds.X_train, ds.y_train, ds.n_classes, 2, "authors", bits) == []


def test_headroom_comes_from_the_backend_parameters() -> None:
    assert registry.make_backend({"library": "openfhe"}).headroom_bits() == OPENFHE_BITS
    assert registry.make_backend({"library": "tenseal", "scale_bits": 50}).headroom_bits() == TENSEAL_BITS
    assert registry.make_backend({"library": "plaintext"}).headroom_bits() is None

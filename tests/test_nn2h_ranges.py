"""The network's range check: refused data names the layer, row, iteration and remedy; usable
data passes; the session refuses before any key and ``range_check: warn`` trains anyway."""
from __future__ import annotations

import math

import numpy as np
import pytest

from backends import registry
from hemlr.dataset import DataError
from hemlr.session import open_session
from hemlr.workloads import make_workload
from hemlr.workloads.bounds import MARGIN_BITS

N, F, K = 32, 12, 4
Y = np.arange(N) % K
WORKLOAD = make_workload({"workload": "nn2h", "hidden": [8, 4]})


def normal(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, F))


def outlier_row() -> np.ndarray:
    X = normal()
    X[3] = 1e6  # every feature of one row: standardisation leaves it ~sqrt(N) in each
    return X


def test_standardised_data_passes() -> None:
    assert WORKLOAD.data_problems(normal(), Y, K, 3, "d", 20) == []


def test_an_outlier_row_is_refused_naming_layer_row_and_remedy() -> None:
    [message] = WORKLOAD.data_problems(outlier_row(), Y, K, 3, "d", None)
    assert message.startswith("dataset 'd': the first iteration's pre-activations of layer 1 reach |z| = ")
    assert "(training row 3, unit " in message and "beyond the cubic sigmoid's range |z| <= 8" in message
    assert "rescale (or correct) the features" in message


def test_the_weight_bound_is_tight_and_names_the_first_iteration_past_it() -> None:
    peaks = [max(float(np.abs(W).max()) for W in step.weights.Ws)
             for step in WORKLOAD.reference(normal(), Y, K, 3)]
    t = int(np.argmax(np.array(peaks) >= 1.0))  # the first iteration with |W| >= 1
    assert peaks[t] >= 1.0 > max(peaks[:t], default=0.0)
    bits = MARGIN_BITS  # bound 2^0 = 1
    [message] = WORKLOAD.data_problems(normal(), Y, K, 3, "d", bits)
    assert f"after iteration {t + 1} of 3 (W" in message and "beyond the ciphertext bound 2^0 = 1" in message
    assert f"reach |W| = {peaks[t]:.3g}" in message and "fewer iterations or smaller learning rates" in message
    assert WORKLOAD.data_problems(normal(), Y, K, 3, "d", bits + math.ceil(math.log2(max(peaks)) + 1e-9)) == []


def test_non_finite_features_are_refused_naming_the_cell() -> None:
    X = normal()
    X[2, 5] = np.nan
    [message] = WORKLOAD.data_problems(X, Y, K, 3, "d", 20)
    assert "the first at training row 2, feature 5 (0-based): nan" in message


def test_the_session_refuses_before_any_key_and_warn_trains_anyway(caplog: pytest.LogCaptureFixture) -> None:
    he = registry.make_backend({"library": "plaintext"})
    with pytest.raises(DataError, match="(?s)pre-activations of layer 1.*range_check: warn trains anyway"):
        open_session(he, outlier_row(), Y, K, 1, workload=WORKLOAD, dataset="d")
    with caplog.at_level("WARNING"):
        records = list(open_session(he, outlier_row(), Y, K, 1, workload=WORKLOAD, dataset="d",
                                    range_check="warn"))
    assert len(records) == 1 and "range_check: warn: training anyway" in caplog.text

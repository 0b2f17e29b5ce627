"""The scikit-learn interface follows scikit-learn's conventions."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from hemlr.estimator import HEMLRClassifier
from hemlr.workloads.mlr.reference import train_oracle


def test_fit_predict_matches_oracle_with_arbitrary_labels() -> None:
    X, y = load_digits(return_X_y=True)
    X = X[:200] / 16
    labels = np.array(list("abcdefghij"))[y[:200]]
    clf = HEMLRClassifier(backend={"library": "plaintext", "ring_dim": 32768}, iterations=3)
    clf.fit(X[:128], labels[:128])
    W = train_oracle(X[:128], y[:128], 10, 3)[-1].W
    assert np.allclose(clf.coef_, W[:, 1:], atol=1e-9) and np.allclose(clf.intercept_, W[:, 0])
    assert clf.n_iter_ == 3 and len(clf.weights_history_) == 3
    assert set(clf.predict(X[128:])) <= set(clf.classes_)
    assert 0.5 < clf.score(X[128:], labels[128:]) <= 1.0


def test_clone_and_params() -> None:
    clf = HEMLRClassifier(backend="plaintext", iterations=1)
    assert clone(clf).get_params() == {"backend": "plaintext", "iterations": 1}


@parametrize_with_checks([HEMLRClassifier()])  # plaintext backend; no check skipped or xfailed
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_predict_before_fit_raises_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        HEMLRClassifier().predict(np.zeros((2, 3)))


def test_binary_problem_trains_two_rows_and_returns_a_margin() -> None:
    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16
    labels = np.where(y == 1, "one", "zero")
    clf = HEMLRClassifier(iterations=2).fit(X[:64], labels[:64])
    W = train_oracle(X[:64], (labels[:64] == "zero").astype(int), 2, 2)[-1].W  # classes_ sorted
    assert list(clf.classes_) == ["one", "zero"] and clf.coef_.shape == (2, 64)
    assert np.allclose(clf.coef_, W[:, 1:], atol=1e-9) and np.allclose(clf.intercept_, W[:, 0])
    margin = clf.decision_function(X[64:])
    scores = X[64:] @ clf.coef_.T + clf.intercept_
    assert margin.shape == (len(X) - 64,) and np.allclose(margin, scores[:, 1] - scores[:, 0])
    assert np.array_equal(clf.predict(X[64:]), clf.classes_[np.argmax(scores, axis=1)])
    assert clf.score(X[64:], labels[64:]) > 0.9


def test_one_class_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 'a'"):
        HEMLRClassifier().fit(np.ones((3, 2)), ["a"] * 3)

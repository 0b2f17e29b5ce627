"""The scikit-learn interface follows scikit-learn's conventions."""
from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits

from hemlr.estimator import HEMLRClassifier
from hemlr.oracle import train_oracle


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

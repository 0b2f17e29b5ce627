"""scikit-learn interface: the paper's training on any registered CKKS backend.

>>> clf = HEMLRClassifier(backend={"library": "tenseal"}, iterations=2).fit(X, y)
>>> clf.predict(X_test)
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted

from backends import registry

from .session import open_session


class HEMLRClassifier(ClassifierMixin, BaseEstimator):
    """Multiclass logistic regression trained under CKKS (quadratic-gradient NAG).

    Parameters
    ----------
    backend : dict or str, default="plaintext"
        A backend config entry (``{"library": "tenseal", ...}``) or a library name.
    iterations : int, default=2
        Training iterations; the key material is sized for exactly this many.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features)
    intercept_ : ndarray of shape (n_classes,)
    classes_ : ndarray of shape (n_classes,)
    weights_history_ : list of ndarray (n_classes, n_features + 1), one per iteration,
        decrypted by the client after each iteration (bias first).
    """

    def __init__(self, backend: dict[str, Any] | str = "plaintext", iterations: int = 2) -> None:
        self.backend = backend
        self.iterations = iterations

    def fit(self, X: np.ndarray, y: np.ndarray) -> "HEMLRClassifier":
        X, y = self._validate_data(X, y, dtype=np.float64)
        self.classes_ = unique_labels(y)
        codes = np.searchsorted(self.classes_, y)
        spec = {"library": self.backend} if isinstance(self.backend, str) else dict(self.backend)
        session = open_session(registry.make_backend(spec), X, codes, len(self.classes_),
                               self.iterations)
        self.weights_history_ = [record.weights for record in session]
        W = self.weights_history_[-1]
        self.intercept_, self.coef_ = W[:, 0], W[:, 1:]
        self.n_iter_ = len(self.weights_history_)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = self._validate_data(X, dtype=np.float64, reset=False)
        return X @ self.coef_.T + self.intercept_

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

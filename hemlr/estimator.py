"""scikit-learn interface: the paper's training on any registered CKKS backend.

>>> clf = HEMLRClassifier(backend={"library": "tenseal"}, iterations=2).fit(X, y)
>>> clf.predict(X_test)
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
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
        One row per class, two for a binary problem too: the paper's model has K rows.
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
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes, but the "
                             f"data contains only one class: {self.classes_[0]!r}")
        spec = {"library": self.backend} if isinstance(self.backend, str) else dict(self.backend)
        session = open_session(registry.make_backend(spec), X, codes, len(self.classes_),
                               self.iterations)
        self.weights_history_ = [record.weights for record in session]
        W = self.weights_history_[-1]
        self.intercept_, self.coef_ = W[:, 0], W[:, 1:]
        self.n_iter_ = len(self.weights_history_)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Class scores (n_samples, n_classes); for two classes, as scikit-learn's binary
        convention wants, the margin of classes_[1] over classes_[0] (n_samples,)."""
        check_is_fitted(self)
        X = self._validate_data(X, dtype=np.float64, reset=False)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        # ties go to the first class either way, as with argmax
        indices = (scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[indices]

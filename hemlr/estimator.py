"""scikit-learn interface: the paper's training on any registered CKKS backend.

>>> clf = HEMLRClassifier(backend="tenseal", iterations=2).fit(X, y)
>>> clf.predict(X_test), clf.predict_proba(X_test)

Every parameter is a scalar (a string, a number or None) except ``backend_params``, so
``GridSearchCV`` can search over ``backend``, ``iterations``, ``refresh``, ... Keep
``backend_params`` fixed on the estimator: scikit-learn 1.5.0 (the pinned version) fails
on any dict inside a ``param_grid`` (scikit-learn#29074, fixed in 1.5.1).
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from backends import registry
from backends.base import CKKSBackend, ParameterError

from .columns import REFRESH
from .session import open_session
from .workloads import make_workload
from .workloads.mlr import LAYOUTS


class HEMLRClassifier(ClassifierMixin, BaseEstimator):
    """Multiclass logistic regression trained under CKKS (quadratic-gradient NAG).

    Parameters
    ----------
    backend : str, default="plaintext"
        The CKKS library to train on: a registered library name
        (``backends.registry.libraries()``; whole-model adapters such as concrete are
        refused in ``fit``, they do not train the paper's weights). A backend config entry
        ``{"library": "tenseal", **params}`` is also accepted and means
        ``backend="tenseal", backend_params=params``; use the string form to grid-search.
    backend_params : dict or None, default=None
        That adapter's parameters (its ``PARAMS_SCHEMA``, e.g. ``{"ring_dim": 32768}``);
        None: the adapter's defaults.
    iterations : int >= 1, default=2
        Training iterations; the key material is sized for exactly this many.
    refresh : {"none", "client", "bootstrap"}, default="none"
        How the encrypted weights get their levels back when ``iterations`` need more depth
        than the parameters hold: "client" re-encrypts them on a round trip to the client,
        "bootstrap" bootstraps them on the server.
    refresh_every : int >= 1 or None, default=None
        Iterations between refreshes; None: as many as the parameters' depth holds.
    state_bound : float > 0, default=1.0
        With ``refresh="bootstrap"`` (ignored otherwise): a bound on the weight state's
        magnitude; the state is divided by the power of two at or above it before each
        bootstrap, whose input must stay below 1.
    layout : {"paper", "diagonal"}, default="paper"
        How the ciphertexts hold data and weights: the paper's Volley Revolver, or the
        weights' diagonals (the same weights in fewer rotations and levels).

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features)
        One row per class, two for a binary problem too: the paper's model has K rows.
    intercept_ : ndarray of shape (n_classes,)
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
    weights_history_ : list of ndarray (n_classes, n_features + 1), one per iteration,
        decrypted by the client after each iteration (bias first).
    """

    def __init__(self, backend: str | dict[str, Any] = "plaintext",
                 backend_params: dict[str, Any] | None = None, iterations: int = 2,
                 refresh: str = "none", refresh_every: int | None = None,
                 state_bound: float = 1.0, layout: str = LAYOUTS[0]) -> None:
        self.backend = backend
        self.backend_params = backend_params
        self.iterations = iterations
        self.refresh = refresh
        self.refresh_every = refresh_every
        self.state_bound = state_bound
        self.layout = layout

    @property
    def _parameter_constraints(self) -> dict[str, list[Any]]:
        # a property: the libraries are those registered now (registry.refresh() adds some)
        return {
            "backend": [StrOptions(set(registry.libraries())), dict],
            "backend_params": [dict, None],
            "iterations": [Interval(Integral, 1, None, closed="left")],
            "refresh": [StrOptions(set(REFRESH))],
            "refresh_every": [Interval(Integral, 1, None, closed="left"), None],
            "state_bound": [Interval(Real, 0, None, closed="neither")],
            "layout": [StrOptions(set(LAYOUTS))],
        }

    def _make_backend(self) -> CKKSBackend:
        """The adapter ``backend`` and ``backend_params`` name (validated types)."""
        if isinstance(self.backend, dict):
            params = dict(self.backend)
            library = params.pop("library", None)
            if not isinstance(library, str) or library not in registry.libraries():
                raise ValueError(f"backend: a dict backend needs 'library', one of "
                                 f"{', '.join(registry.libraries())}; got {self.backend!r}")
            if self.backend_params is not None:
                raise ValueError(f"backend_params given with a dict backend {self.backend!r}; "
                                 f"use backend={library!r} and backend_params alone")
        else:
            library, params = self.backend, dict(self.backend_params or {})
        if not issubclass(registry.backend_class(library), CKKSBackend):
            ckks = [name for name in registry.libraries()
                    if issubclass(registry.backend_class(name), CKKSBackend)]
            raise ValueError(f"backend={library!r} trains a whole model of its own, not the "
                             f"paper's weights {type(self).__name__} holds; use a CKKS backend: "
                             f"{', '.join(ckks)}")
        try:
            return registry.make_backend({"library": library, **params})
        except ParameterError as exc:
            raise ParameterError(f"backend_params: {exc}") from exc

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: np.ndarray, y: np.ndarray) -> "HEMLRClassifier":
        X, y = self._validate_data(X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes, but the "
                             f"data contains only one class: {self.classes_[0]!r}")
        refresh_every = None if self.refresh_every is None else int(self.refresh_every)
        session = open_session(self._make_backend(), X, codes, len(self.classes_),
                               int(self.iterations), refresh=self.refresh,
                               state_bound=float(self.state_bound), refresh_every=refresh_every,
                               workload=make_workload({"workload": "mlr", "layout": self.layout}))
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

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), in the order of ``classes_``.

        The model is K one-vs-rest logistic models (each class's row is trained on its own
        sigmoid, independently of the others), so a class's probability is the logistic
        of its score; these do not sum to 1, and are normalised per row, as scikit-learn's
        one-vs-rest classifiers (OneVsRestClassifier, LogisticRegression's "ovr") do. For
        two classes, scikit-learn's binary convention: [1 - p, p] with p the logistic of
        the margin ``decision_function`` returns, so that both rank samples alike.

        Being monotone in the scores, its argmax is ``predict`` wherever the
        probabilities differ in float64 (scores more than ~36 above 0 all reach 1).
        """
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X: np.ndarray) -> np.ndarray:
        """Log of :meth:`predict_proba`, computed in the log domain: finite where the
        probabilities underflow to 0."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return _log_logistic(np.column_stack([-scores, scores]))
        log_p = _log_logistic(scores)
        return log_p - logsumexp(log_p, axis=1, keepdims=True)


def _log_logistic(z: np.ndarray) -> np.ndarray:
    """log(1 / (1 + exp(-z))), without overflow or cancellation."""
    return -np.logaddexp(0.0, -z)

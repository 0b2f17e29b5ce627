"""A training session on any adapter: the one thing the harness and the estimator iterate.

A CKKS adapter runs the paper's algorithm through :class:`hemlr.trainer.EncryptedSession`;
a whole-model adapter trains itself. Both are sessions: iterating yields one
:class:`backends.base.IterationRecord` per iteration, ``describe()`` says what ran and
``layout()`` gives the public shape of the encrypted computation (empty when the library
keeps its own). :func:`job_problems` says, from the shapes alone and before any work,
why a job cannot run.
"""
from __future__ import annotations

from typing import Iterator, Protocol

import numpy as np

from backends.base import Adapter, CKKSBackend, Description, IterationRecord, ModelBackend

from .packing import Plan
from .trainer import EncryptedSession


class Session(Protocol):
    def __iter__(self) -> Iterator[IterationRecord]: ...

    def describe(self) -> Description: ...

    def layout(self) -> dict[str, int]: ...


class ModelSession:
    """A whole-model adapter's own training, as a session."""

    def __init__(self, backend: ModelBackend, X: np.ndarray, y: np.ndarray, n_classes: int,
                 iterations: int) -> None:
        self.backend = backend
        # train() validates at once, so bad shapes fail before the first record
        self._records = backend.train(X, y, n_classes, iterations)

    def __iter__(self) -> Iterator[IterationRecord]:
        return iter(self._records)

    def describe(self) -> Description:
        return self.backend.describe()

    def layout(self) -> dict[str, int]:
        return {}


def open_session(backend: Adapter, X: np.ndarray, y: np.ndarray, n_classes: int,
                 iterations: int) -> Session:
    """The session training (X, y) for ``iterations`` on ``backend``."""
    if isinstance(backend, CKKSBackend):
        return EncryptedSession(backend, X, y, n_classes, iterations)
    return ModelSession(backend, X, y, n_classes, iterations)


def job_problems(backend: Adapter, n: int, n_features: int, n_classes: int,
                 iterations: int) -> list[str]:
    """Why ``backend`` cannot train n samples of n_features into n_classes (empty: it can)."""
    if isinstance(backend, ModelBackend):
        return backend.shape_problems(n, n_features, n_classes, iterations)
    try:
        plan = Plan(n, n_features + 1, n_classes, backend.slots, iterations)
    except ValueError as exc:
        return [str(exc)]
    problem = backend.depth_problem(plan.depth)
    return [f"{iterations} iterations: {problem}"] if problem else []

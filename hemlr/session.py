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

from .dataset import DataError
from .ranges import ckks_headroom_bits, range_problems
from .trainer import EncryptedSession, plan_for


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
                 iterations: int, refresh: str = "none", state_bound: float = 1.0,
                 refresh_every: int | None = None, dataset: str = "training data") -> Session:
    """The session training (X, y) for ``iterations`` on ``backend``; ``refresh``,
    ``state_bound`` and ``refresh_every`` apply to CKKS adapters (see EncryptedSession).

    Refuses, before any key exists, data the cubic sigmoid or the ciphertexts cannot hold
    (DataError naming ``dataset``, the magnitude and the remedy).
    """
    if isinstance(backend, CKKSBackend):
        problems = range_problems(X, y, n_classes, iterations, dataset, ckks_headroom_bits(backend.params))
        if problems:
            raise DataError("\n".join(problems))
        return EncryptedSession(backend, X, y, n_classes, iterations, refresh, state_bound,
                                refresh_every)
    if refresh != "none":
        raise ValueError(f"refresh: {refresh} applies to CKKS backends, not {backend.library}")
    return ModelSession(backend, X, y, n_classes, iterations)


def job_problems(backend: Adapter, n: int, n_features: int, n_classes: int,
                 iterations: int, refresh: str = "none", refresh_every: int | None = None) -> list[str]:
    """Why ``backend`` cannot train n samples of n_features into n_classes (empty: it can)."""
    if isinstance(backend, ModelBackend):
        out = backend.shape_problems(n, n_features, n_classes, iterations)
        return out + ([f"refresh: {refresh} applies to CKKS backends only"] if refresh != "none" else [])
    try:
        plan_for(backend, n, n_features + 1, n_classes, iterations, refresh, refresh_every)
    except ValueError as exc:
        return [str(exc)]
    return []

"""Workload ``mlr``: the paper's multiclass logistic regression (Chiang, arXiv 2304.03807).

Quadratic-gradient Nesterov with the cubic sigmoid, in the paper's mode (algorithm.md):
``reference`` is the textbook algorithm on numpy matrices; ``layout: paper`` runs it on the
paper's Volley-Revolver packing (``plan``, ``program``), ``layout: diagonal`` on the weights'
diagonals (``diagonal``): the same numbers in fewer rotations and levels.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from backends.base import CKKSBackend
from hemlr.workloads.base import Upload, Workload

from .diagonal import DiagonalClient, DiagonalPlan, DiagonalServer
from .plan import Plan
from .program import Client, Server
from .ranges import range_problems
from .reference import OracleStep, linear_scores, train_oracle


#: how the ciphertexts hold the data and the weights (the first: the paper's, the default)
LAYOUTS = ("paper", "diagonal")


class QuadraticGradientMLR(Workload):
    name: ClassVar[str] = "mlr"
    title: ClassVar[str] = "quadratic-gradient NAG, cubic sigmoid (Chiang 2023, paper mode)"
    PARAMS_SCHEMA: ClassVar[dict] = {
        "type": "object", "additionalProperties": False, "properties": {
            "layout": {"enum": list(LAYOUTS), "default": LAYOUTS[0],
                       "description": "how the ciphertexts hold data and weights: paper = the paper's "
                                      "Volley Revolver (6 levels per iteration); diagonal = the weights' "
                                      "diagonals (4 levels, far fewer rotations, more rotation keys); "
                                      "the same algorithm and numbers"},
        }}

    def reference(self, X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int) -> list[OracleStep]:
        return train_oracle(X, y, n_classes, iterations)

    def scores(self, weights: np.ndarray, X: np.ndarray) -> np.ndarray:
        return linear_scores(X, weights)

    def data_problems(self, X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int,
                      dataset: str, headroom_bits: int | None) -> list[str]:
        return range_problems(X, y, n_classes, iterations, dataset, headroom_bits)

    def plan(self, backend: CKKSBackend, n: int, n_features: int, n_classes: int, iterations: int,
             refresh: str, refresh_every: int | None) -> Plan | DiagonalPlan:
        layout = DiagonalPlan if self.params["layout"] == "diagonal" else Plan
        return layout(n, n_features + 1, n_classes, backend.slots, iterations, refresh=refresh,
                      max_depth=backend.max_depth(), bootstrap_depth=backend.bootstrap_depth() or 0,
                      bootstrap_slots=backend.bootstrap_slots(), refresh_every=refresh_every)

    def client(self, he: CKKSBackend, plan: Any) -> Client | DiagonalClient:
        return (DiagonalClient if isinstance(plan, DiagonalPlan) else Client)(he, plan)

    def server(self, he: CKKSBackend, plan: Any, upload: Upload) -> Server | DiagonalServer:
        return (DiagonalServer if isinstance(plan, DiagonalPlan) else Server)(he, plan, upload)


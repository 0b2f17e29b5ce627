"""The nn2h Workload: its parameters (grid-able), reference, plan, client and server."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from backends.base import CKKSBackend
from hemlr import columns as col
from hemlr.workloads.base import Upload, Workload

from .plan import Plan
from .program import Client, NNWeights, Server
from .ranges import range_problems
from .reference import NNParams, NNStep, scores, standardizer, train_reference

_DEFAULTS = NNParams()


@dataclass
class Step:
    """One reference iteration, its weights carrying the standardisation (as the client's do)."""

    step: NNStep
    weights: NNWeights

    @property
    def max_abs_score(self) -> float:
        return self.step.max_abs_score

    @property
    def state_max_abs(self) -> float:
        return self.step.state_max_abs


def _matrices(weights: Any) -> list[np.ndarray]:
    return list(weights.Ws) if isinstance(weights, NNWeights) else list(weights)


class TwoHiddenLayerNN(Workload):
    name: ClassVar[str] = "nn2h"
    title: ClassVar[str] = ("network f -> h1 -> h2 -> K, cubic sigmoid in every layer, delta = p - y, "
                            "full-batch GD (this harness's own workload)")
    PARAMS_SCHEMA: ClassVar[dict] = {
        "type": "object", "additionalProperties": False, "properties": {
            "hidden": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2,
                       "maxItems": 2, "default": list(_DEFAULTS.hidden),
                       "description": "sizes of the two hidden layers"},
            "rates": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 3,
                      "maxItems": 3, "default": list(_DEFAULTS.rates),
                      "description": "learning rates eta_1..eta_3 of the three layers"},
            "decay": {"type": "number", "exclusiveMinimum": 0, "default": _DEFAULTS.decay,
                      "description": "g_t = 1 / (1 + (t - 1) / decay) scales every rate"},
            "seed": {"type": "integer", "minimum": 0, "default": _DEFAULTS.seed,
                     "description": "seed of the weights' initialisation (numpy default_rng)"},
        }}

    # the checks' network fits every adapter's tiny test ring (OpenFHE's 512 slots hold its state)
    TEST_PARAMS: ClassVar[dict[str, Any]] = {"hidden": [8, 4]}

    @property
    def nn_params(self) -> NNParams:
        p = self.params
        return NNParams(hidden=tuple(p["hidden"]), rates=tuple(p["rates"]), decay=float(p["decay"]),
                        seed=int(p["seed"]))

    def reference(self, X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int) -> list[Step]:
        mu, s = standardizer(np.asarray(X, dtype=np.float64))
        return [Step(step, NNWeights(tuple(step.Ws), mu, s))
                for step in train_reference(X, y, n_classes, iterations, self.nn_params)]

    def reference_columns(self, step: Step) -> dict[str, float]:
        """Per layer, the share of pre-activations beyond the cubic's monotone range: the
        network does run the cubic there (nn.md), and a reader must know how much."""
        return {col.beyond_monotone(layer): share
                for layer, share in enumerate(step.step.share_beyond_monotone, start=1)}

    def scores(self, weights: NNWeights, X: np.ndarray) -> np.ndarray:
        return scores(weights.Ws, X, weights.mu, weights.s)

    def drift(self, weights: Any, reference: Any) -> tuple[float, float]:
        """Over the weight matrices only (not the standardisation they carry)."""
        got = np.concatenate([np.ravel(W) for W in _matrices(weights)])
        want = np.concatenate([np.ravel(W) for W in _matrices(reference)])
        diff = float(np.abs(got - want).max())
        return diff, diff / float(np.abs(want).max())

    def data_problems(self, X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int,
                      dataset: str, headroom_bits: int | None) -> list[str]:
        return range_problems(X, y, n_classes, iterations, dataset, headroom_bits, self.nn_params)

    def plan(self, backend: CKKSBackend, n: int, n_features: int, n_classes: int, iterations: int,
             refresh: str, refresh_every: int | None) -> Plan:
        return Plan(n, n_features, n_classes, tuple(self.params["hidden"]), backend.slots, iterations,
                    refresh=refresh, max_depth=backend.max_depth(),
                    bootstrap_depth=backend.bootstrap_depth() or 0,
                    bootstrap_slots=backend.bootstrap_slots(), refresh_every=refresh_every)

    def client(self, he: CKKSBackend, plan: Plan) -> Client:
        return Client(he, plan, self.nn_params)

    def server(self, he: CKKSBackend, plan: Plan, upload: Upload) -> Server:
        return Server(he, plan, upload, self.nn_params)

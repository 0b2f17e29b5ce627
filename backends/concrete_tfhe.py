"""Concrete ML (TFHE) baseline: K-class logistic regression as K encrypted binary SGD models.

Concrete ML 1.9 trains only binary logistic regression on encrypted data
(``SGDClassifier(fit_encrypted=True)``: mini-batch SGD, 6-bit quantised data, weights and
gradients, learning rate 1, weights clipped to ``parameters_range``). A K-class model is
therefore K one-vs-rest binary models and the predicted class is the argmax of their K
decision scores. This is a different algorithm from the paper's quadratic-gradient NAG and
is reported as a baseline only.

How the training is driven, and why not through ``fit``/``partial_fit``:

* ``partial_fit`` compiles a circuit and generates keys per model (~2 GB of evaluation
  keys in RAM and ~15 s of keygen each: 10 models would not fit in 24 GB), decrypts and
  re-encrypts the weights at every call, and exposes no per-phase timing.
* The training circuit Concrete ML compiles depends only on the data's value range, the
  batch size and ``parameters_range``, never on the labels, so all K binary models share
  one compiled circuit and one key set: one client, one secret key.
* This module replays exactly what ``SGDClassifier._fit_encrypted`` (concrete-ml 1.9.0)
  does for ``fit(max_iter=iterations)``: the same random draws (initial weights and bias,
  then all batches), the same quantisers, the composable circuit run once per
  batch with the weights staying encrypted on the server. Each of the K models is thus
  the model ``SGDClassifier(random_state=r, max_iter=T).fit(X, y == k)`` would produce
  (tests check this with the simulation's bootstrap errors switched off). The same random
  state for every class means every model sees the same batch, so the encrypted batch
  features are uploaded once per iteration and only the K label vectors differ.
* After every iteration the client downloads and decrypts a copy of all K weight
  vectors to score the model; the server keeps its encrypted weights for the next step.
  ``early_stopping`` is never used: it would decrypt inside the training loop.

Client-side preprocessing (fitted on the training data only): optional PCA to
``n_components`` features (the circuit's cost grows with the feature count), then a
min-max scaling of each feature to ``parameters_range`` as Concrete ML's documentation
recommends.

Reported per iteration: phases "compile" (preprocessing + circuit compilation) and
"keygen" (execute only, includes serializing the evaluation keys) on the first iteration;
"encrypt" (quantise, encrypt, serialize), "iteration" (the server's K circuit runs; the
first one also loads the compressed evaluation keys) and "decrypt". Traffic per iteration,
with batch size B: B*d + B*K ciphertexts up (the shared batch, K label vectors; plus d + 1
initial weights on the first), K*(d + 1) down, counted from the circuit's transport specs
and measured in serialized bytes. Simulation encrypts nothing, so its traffic is 0.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import numpy as np

from .base import ModelBackend, ParameterError, default_workers
from .records import Description, IterationRecord
from .measure import timed

if TYPE_CHECKING:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler

# Imported by ConcreteMLBackend.load_library on first use (see backends.base.Adapter): it
# pulls in torch, seconds and ~0.5 GB.
fhe: Any = None
SGDClassifier: Any = None

_MODES = {"execute": "encrypted", "simulate": "simulated"}
# Inputs of Concrete ML's training circuit, in order: batch features, batch labels, weights, bias.
_X, _Y, _W, _B = range(4)


@dataclass(frozen=True)
class _Scores:
    """Decision function of one iteration: client-side reduction, then the K linear scores."""

    reducer: PCA | None
    scaler: MinMaxScaler
    W: np.ndarray  # (d, K)
    b: np.ndarray  # (K,)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        Z = np.asarray(X, dtype=np.float64)
        if self.reducer is not None:
            Z = self.reducer.transform(Z)
        return self.scaler.transform(Z) @ self.W + self.b


def _cts_per_gate(circuit: Any) -> tuple[list[int], list[int]]:
    """LWE ciphertexts per input and per output of ``circuit``, read from its client specs.

    The last axis of a gate's transport ("concrete") shape is one LWE ciphertext (3 words
    when seed-compressed, n + 1 when not); every other axis counts ciphertexts, so a CRT
    encoding of wide integers would be counted too.
    """
    (info,) = json.loads(circuit.client.specs.serialize())["circuits"]

    def count(gate: dict) -> int:
        return int(np.prod(gate["typeInfo"]["lweCiphertext"]["concreteShape"]["dimensions"][:-1]))

    return [count(g) for g in info["inputs"]], [count(g) for g in info["outputs"]]


class ConcreteMLBackend(ModelBackend):
    """One-vs-rest encrypted SGD logistic regression through Concrete ML (see module docstring)."""

    library: ClassVar[str] = "concrete"
    requirement: ClassVar[str] = "install concrete-ml==1.9.0"
    PARAMS_SCHEMA: ClassVar[dict] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {
                "type": "string", "enum": list(_MODES), "default": "execute",
                "description": "'execute': real TFHE encryption (128-bit); 'simulate': Concrete's "
                               "FHE simulation (same quantisation and PBS error rate, no encryption)"},
            "n_components": {
                "type": ["integer", "null"], "minimum": 1, "default": 4,
                "description": "client-side PCA (fitted on the training data) to this many features "
                               "before encryption; null keeps every feature (cost grows with it)"},
            "batch_size": {
                "type": "integer", "minimum": 1, "default": 8,
                "description": "samples per SGD step (Concrete ML's SGDClassifier.batch_size)"},
            "parameters_range": {
                "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                "default": [-1.0, 1.0],
                "description": "range [low, high] of weights and bias (initialisation and "
                               "clipping); features are min-max scaled to it"},
            "random_state": {
                "type": "integer", "minimum": 0, "default": 0,
                "description": "seed of the batch sampling and weight initialisation"},
        },
    }
    TEST_PARAMS: ClassVar[dict] = {"mode": "simulate", "n_components": 2}
    WORKLOADS: ClassVar[tuple[str, ...]] = ("mlr",)

    @classmethod
    def resources(cls, params: Mapping[str, Any], iterations: int) -> tuple[float, float]:
        # 2.6 GB at 4 components (memory beyond that not measured: assumed to grow with the
        # circuit); one 10-class step ~100 s at 4 components, ~250 s at 8, 11-13 min at 16,
        # 17-23 min at 32; simulation 1.3 s per step at 8 components (docs/results.md).
        components = params["n_components"] or 400  # null keeps every feature (the paper's 400)
        if params["mode"] == "simulate":
            return 800 + 100 * components, 20 + 0.5 * components * iterations
        return 1000 + 400 * components, 20 + 45 * components * iterations

    @classmethod
    def load_library(cls) -> None:
        global fhe, SGDClassifier
        from concrete import fhe
        from concrete.ml.sklearn import SGDClassifier

    @classmethod
    def cross_problems(cls, params: dict[str, Any]) -> list[str]:
        lo, hi = params["parameters_range"]
        if not lo < hi:
            return [f"parameters_range must satisfy low < high, got {[lo, hi]}"]
        return []

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        self.fhe_mode = p["mode"]
        self.n_components = p["n_components"]
        self.batch_size = int(p["batch_size"])
        self.parameters_range = tuple(float(v) for v in p["parameters_range"])
        self.random_state = int(p["random_state"])
        self.evalkey_bytes: int | None = None  # known after keygen (execute mode)
        # Fixed training settings are read from the library, not restated here.
        template = self._new_model(max_iter=1)
        self.n_bits_training = int(template.n_bits_training)
        self.learning_rate = float(template.learning_rate_value)
        self.p_error = float(template.training_p_error)
        self.algorithm = (
            "one-vs-rest binary logistic regression, encrypted mini-batch SGD (Concrete ML "
            f"SGDClassifier, {self.n_bits_training}-bit quantised, lr {self.learning_rate:g}, "
            f"batch {self.batch_size}, p_error {self.p_error:g}); NOT the paper's "
            "quadratic-gradient NAG")

    @property
    def mode(self) -> str:
        return _MODES[self.fhe_mode]

    def describe(self) -> Description:
        # Concrete ML compiles the training circuit with a default Configuration.
        bits = int(fhe.Configuration().security_level.value)
        encrypted = self.fhe_mode == "execute"
        return Description(
            library=self.library, mode=self.mode, algorithm=self.algorithm,
            security=(f"{bits}-bit (Concrete default)" if encrypted
                      else f"none (FHE simulation of the {bits}-bit parameters, nothing encrypted)"),
            security_bits=bits if encrypted else None,
            library_version=(f"concrete-ml {metadata.version('concrete-ml')}, "
                             f"concrete-python {metadata.version('concrete-python')}"),
            # Concrete's runtime parallelises loops with OpenMP over every core it may use
            # (CPU/wall ~1.9 measured for the training circuit on an idle 2-core machine).
            workers=default_workers(None))

    def _new_model(self, max_iter: int) -> Any:
        model = SGDClassifier(fit_encrypted=True, loss="log_loss",
                              parameters_range=self.parameters_range,
                              random_state=self.random_state, max_iter=max_iter,
                              early_stopping=False)
        model.batch_size = self.batch_size  # an attribute in Concrete ML, not a constructor argument
        return model

    # ---------------------------------------------------------------- training
    def shape_problems(self, n: int, f: int, n_classes: int, iterations: int) -> list[str]:
        out = []
        if self.n_components is not None and self.n_components > min(n, f):
            out.append(f"n_components {self.n_components} exceeds what PCA can give for {n} "
                       f"training samples with {f} features (at most {min(n, f)})")
        if self.batch_size > n:
            out.append(f"batch_size {self.batch_size} exceeds the {n} training samples")
        return out

    def train(self, X: np.ndarray, y: np.ndarray, n_classes: int,
              iterations: int) -> Iterator[IterationRecord]:
        """Validate now (before anything is compiled or encrypted), then train lazily."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise ValueError(f"concrete: X must be (n, f) and y (n,), got {X.shape} and {y.shape}")
        n, f = X.shape
        if n_classes < 2 or y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"concrete: labels must lie in 0..{n_classes - 1} with n_classes >= 2")
        if iterations < 1:
            raise ValueError(f"concrete: iterations must be >= 1, got {iterations}")
        problems = self.shape_problems(n, f, n_classes, iterations)
        if problems:
            raise ParameterError("concrete: " + "; ".join(problems))
        return self._train(X, y.astype(np.int64), int(n_classes), int(iterations))

    def _train(self, X: np.ndarray, y: np.ndarray, K: int, T: int) -> Iterator[IterationRecord]:
        from sklearn.decomposition import PCA  # here: a registry scan must stay light
        from sklearn.preprocessing import MinMaxScaler

        execute = self.fhe_mode == "execute"
        phases: dict[str, tuple[float, float]] = {}
        with timed(phases, "compile"):
            reducer = (PCA(self.n_components, random_state=self.random_state).fit(X)
                       if self.n_components is not None else None)
            Z = X if reducer is None else reducer.transform(X)
            scaler = MinMaxScaler(feature_range=self.parameters_range).fit(Z)
            Z = scaler.transform(Z)
            n, d = Z.shape
            model = self._new_model(max_iter=T)
            # The circuit SGDClassifier.fit compiles (Concrete ML 1.9 keeps it behind this method).
            qmodule = model._get_training_quantized_module(Z.min(axis=0), Z.max(axis=0), "cpu")
            circuit = qmodule.fhe_circuit
            if execute:
                circuit.enable_fhe_execution()
            else:
                circuit.enable_fhe_simulation()
        try:
            in_cts, out_cts = _cts_per_gate(circuit)
            pbs_per_step = int(circuit.programmable_bootstrap_count)
            if execute:
                with timed(phases, "keygen"):
                    circuit.keygen(force=True)
                    self.evalkey_bytes = len(circuit.keys.evaluation.serialize())

            # Same draw order as SGDClassifier._fit_encrypted: weights, bias, then every batch.
            rng = model.random_number_generator
            lo, hi = self.parameters_range
            w0 = rng.uniform(lo, hi, size=(1, d, 1))
            b0 = rng.uniform(lo, hi, size=(1, 1, 1))
            batches = [rng.choice(n, size=self.batch_size, replace=False) for _ in range(T)]
            onehot = np.eye(K)[y]

            state: list[tuple[Any, Any]] = []  # per class: (weights, bias), encrypted or quantised
            for t in range(1, T + 1):
                idx = batches[t - 1]
                up_cts = up_bytes = down_cts = down_bytes = 0
                with timed(phases, "encrypt"):
                    q_x = qmodule.quantize_input(Z[idx].reshape(1, -1, d), None, None, None)[_X]
                    q_ys = [qmodule.quantize_input(None, onehot[idx, k].reshape(1, -1, 1), None, None)[_Y]
                            for k in range(K)]
                    q_init = qmodule.quantize_input(None, None, w0, b0)[_W:] if t == 1 else None
                    if execute:  # what the client sends: bytes at the client/server boundary
                        x_blob = circuit.encrypt(q_x, None, None, None)[_X].serialize()
                        y_blobs = [circuit.encrypt(None, q, None, None)[_Y].serialize() for q in q_ys]
                        init_blobs = ([v.serialize() for v in circuit.encrypt(None, None, *q_init)[_W:]]
                                      if q_init is not None else [])
                        up_cts = in_cts[_X] + K * in_cts[_Y] + (in_cts[_W] + in_cts[_B] if init_blobs else 0)
                        up_bytes = len(x_blob) + sum(map(len, y_blobs)) + sum(map(len, init_blobs))
                with timed(phases, "iteration"):
                    if execute:
                        x_in = fhe.Value.deserialize(x_blob)
                        if init_blobs:  # every class starts from the same initial weights
                            state = [tuple(fhe.Value.deserialize(b) for b in init_blobs)] * K
                        state = [circuit.run(x_in, fhe.Value.deserialize(y_blobs[k]), *state[k])
                                 for k in range(K)]
                        w_blobs = [(w.serialize(), b.serialize()) for w, b in state]
                        down_cts = K * (out_cts[0] + out_cts[1])
                        down_bytes = sum(len(w) + len(b) for w, b in w_blobs)
                    else:
                        if q_init is not None:
                            state = [tuple(q_init)] * K
                        state = [qmodule.quantized_forward(q_x, q_ys[k], *state[k], fhe="simulate")
                                 for k in range(K)]
                with timed(phases, "decrypt"):
                    if execute:
                        q_out = [circuit.decrypt(fhe.Value.deserialize(w), fhe.Value.deserialize(b))
                                 for w, b in w_blobs]
                    else:
                        q_out = state
                    floats = [qmodule.dequantize_output(qw, qb) for qw, qb in q_out]
                    W = np.stack([w.reshape(d) for w, _ in floats], axis=1)
                    b = np.array([bb.reshape(()) for _, bb in floats])
                yield IterationRecord(
                    iteration=t, decision_function=_Scores(reducer, scaler, W, b), phases=phases,
                    ops={"bootstrap": K * pbs_per_step, "encrypt": up_cts, "decrypt": down_cts},
                    upload={"batch": (up_cts, up_bytes)} if execute else {},
                    download=(down_cts, down_bytes),
                    evalkey_bytes=(self.evalkey_bytes or 0) if t == 1 else 0)
                phases = {}
        finally:
            circuit.cleanup()

"""A training session on any adapter: the one thing the harness and the estimator iterate.

A CKKS adapter runs a workload's client and server programs through :class:`EncryptedSession`,
which knows no workload's shapes; a whole-model adapter trains itself, for the workloads it
declares it can stand in for. Both are sessions: iterating yields one
:class:`backends.records.IterationRecord` per iteration, ``describe()`` says what ran and
``layout()`` gives the public shape of the encrypted computation (empty when the library
keeps its own). :func:`job_problems` says, from the shapes alone and before any work, why a
job cannot run.
"""
from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from functools import partial
from typing import Any, Iterator, Protocol

import numpy as np

from backends.base import Adapter, CKKSBackend, ModelBackend
from backends.measure import timed
from backends.records import Description, IterationRecord

from .dataset import DataError
from .workloads import make_workload
from .workloads.base import Plan, Workload

log = logging.getLogger(__name__)


class Session(Protocol):
    def __iter__(self) -> Iterator[IterationRecord]: ...

    def describe(self) -> Description: ...

    def layout(self) -> dict[str, int]: ...


def plan_for(workload: Workload, backend: CKKSBackend, n: int, n_features: int, n_classes: int,
             iterations: int, refresh: str = "none", refresh_every: int | None = None) -> Plan:
    """The plan of ``workload`` training n samples of n_features on ``backend``; ValueError
    when it cannot run there."""
    if refresh == "bootstrap" and backend.bootstrap_depth() is None:
        raise ValueError(f"refresh: bootstrap is not available on {backend.library} "
                         "(no CKKS bootstrapping); use refresh: client")
    plan = workload.plan(backend, n, n_features, n_classes, iterations, refresh, refresh_every)
    problem = backend.depth_problem(plan.depth)  # a depth within the bound a library still refuses
    if problem:
        raise ValueError(problem)
    return plan


class EncryptedSession:
    """One encrypted training run of a workload: a client and a server joined only by bytes.

    Iterating yields one :class:`IterationRecord` per iteration: the weights the client
    decrypted, the server's operations, phase times and the bytes that moved. Keys, the
    upload and the server's setup happen at the first ``next()`` and are booked on the
    first record. Where the plan refreshes the state after an iteration, the server packs
    it into one ciphertext (which is also what the client decrypts to see the weights)
    and either bootstraps it or sends it on a round trip to the client, who re-encrypts
    it (in the working form the plan names: see RefreshParams.expands); the refresh is booked
    on that iteration's record.
    """

    def __init__(self, workload: Workload, backend: CKKSBackend, X: np.ndarray, y: np.ndarray,
                 n_classes: int, iterations: int, refresh: str = "none", state_bound: float = 1.0,
                 refresh_every: int | None = None) -> None:
        self.workload = workload
        self.he = backend
        self.X, self.y = X, y
        self.plan = plan_for(workload, backend, len(y), X.shape[1], n_classes, iterations, refresh,
                             refresh_every)
        # The bootstrapped state is scaled toward 1 by a public power of two: a bootstrap's
        # error is absolute (~1e-5) and its input must stay below 1.
        self.state_scale = 2.0 ** -math.ceil(math.log2(state_bound)) if refresh == "bootstrap" else 1.0
        if refresh == "bootstrap":
            problems = self._bootstrap_input_problems(n_classes, state_bound)
            if problems:
                raise DataError("\n".join(problems))

    def _bootstrap_input_problems(self, n_classes: int, state_bound: float) -> list[str]:
        """Why a planned bootstrap's input would reach 1 (empty: none would), from the exact
        reference, before any key exists: every backend refuses the same input, whether its
        bootstrap would check it (the exact one) or silently lose precision (a real one)."""
        refreshes = self.plan.refreshes
        steps = self.workload.reference(self.X, self.y, n_classes, max(refreshes)) if refreshes else []
        for t in refreshes:
            peak = steps[t - 1].state_max_abs
            if peak * self.state_scale >= 1.0:
                return [f"refresh: bootstrap: the state reaches |state| = {peak:.3g} after iteration {t} "
                        f"(exact reference), beyond state_bound {state_bound:g} (rounded up to "
                        f"{1 / self.state_scale:g}, the public power of two the state is divided by "
                        f"before a bootstrap, whose input must stay below 1); set state_bound to at "
                        f"least {peak:.3g}"]
        return []

    def describe(self) -> Description:
        return self.he.describe()

    def layout(self) -> dict[str, Any]:
        """The public shape of the encrypted computation (from the plan alone)."""
        plan = self.plan
        # iterations between refreshes once past the first cycle (which starts lower)
        every = (plan.refreshes[-1] - plan.refreshes[-2] if len(plan.refreshes) > 1 else
                 plan.refreshes[0] if plan.refreshes else None)
        return {"depth": plan.depth, **plan.layout(), "rotation_keys": len(self.he.key_steps(plan.rotation_steps)),
                "refresh": plan.refresh, "refreshes_planned": len(plan.refreshes), "refresh_every": every}

    def __iter__(self) -> Iterator[IterationRecord]:
        plan, phases = self.plan, {}
        client = self.workload.client(self.he, plan)
        keys = f"depth {plan.depth}, {len(self.he.key_steps(plan.rotation_steps))} rotation keys" + (
            ", bootstrapping keys" if plan.refresh == "bootstrap" else "")
        with _progress(phases, "keygen", f"key generation ({keys})"):
            public = client.keygen()
        with _progress(phases, "encrypt", "packing and encrypting the training data"):
            upload = client.encrypt_upload(self.X, self.y)
        with _progress(phases, "server_setup", "server set-up from the published bytes"):
            server_he = type(self.he).server_from_bytes(public, plan.depth, plan.rotation_steps,
                                                        bootstrap=plan.refresh == "bootstrap",
                                                        **self.he.params)
            server = self.workload.server(server_he, plan, upload)
        published = len(public) + self.he.external_bytes()
        del public  # GBs at large rings: the server holds what it needs
        first = {"setup_ops": server_he.ops.snapshot(), "evalkey_bytes": published,
                 "key_bytes": self.he.key_sizes(), "upload": upload.parts()}
        scale = self.state_scale
        for t in range(1, plan.iterations + 1):
            ops0 = server_he.ops.snapshot()
            refresh = t in plan.refreshes
            with timed(phases, "iteration"):
                server.step()
                if refresh:
                    packed = server.pack_state(scale)
                    blobs, level = [server_he.serialize(packed)], packed.level
                else:
                    server.finish_weights()
                    blobs, level = server.export_weights()
            with timed(phases, "decrypt"):
                if refresh:
                    weights, state = client.decrypt_state(blobs[0], level, scale)
                else:
                    weights = client.decrypt_weights(blobs, level)
            up: dict[str, tuple[int, int]] = {}
            if refresh and plan.refresh == "client":
                with _progress(phases, "refresh", f"client refresh after iteration {t}"):
                    fresh = client.encrypt_state(state, scale)
                    server.load_state([server_he.deserialize(b, 0) for b in fresh], scale)
                up = {"refresh": (len(fresh), sum(map(len, fresh)))}
            elif refresh:
                with _progress(phases, "bootstrap", f"bootstrap after iteration {t}"):
                    server.load_state([server_he.bootstrap(packed)], scale)
            record = first if t == 1 else {}
            yield IterationRecord(
                iteration=t, decision_function=partial(self.workload.scores, weights), phases=phases,
                ops=server_he.ops.since(ops0), download=(len(blobs), sum(map(len, blobs))),
                weights=weights, level=level, refreshes=int(refresh),
                **{**record, "upload": {**record.get("upload", {}), **up}})
            phases = {}


@contextmanager
def _progress(phases: dict[str, tuple[float, float]], name: str, what: str) -> Iterator[None]:
    """``timed``, with a line in the job's log when the phase starts and when it ends."""
    log.info("%s ...", what)
    before = phases.get(name, (0.0, 0.0))[0]
    with timed(phases, name):
        yield
    log.info("%s: %.1f s", what, phases[name][0] - before)


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
                 refresh_every: int | None = None, dataset: str = "training data",
                 workload: Workload | None = None, range_check: str = "refuse") -> Session:
    """The session training ``workload`` (default: the paper's) on (X, y) for ``iterations`` on
    ``backend``; ``refresh``, ``state_bound`` and ``refresh_every`` apply to CKKS adapters
    (see EncryptedSession).

    Refuses, before any key exists, data the activation or the ciphertexts cannot hold
    (DataError naming ``dataset``, the magnitude and the remedy); with ``range_check="warn"``
    it logs why and trains anyway, a deliberate experiment the report flags.
    """
    workload = workload or make_workload()
    if isinstance(backend, CKKSBackend):
        problems = workload.data_problems(X, y, n_classes, iterations, dataset, backend.headroom_bits())
        if problems and range_check == "refuse":
            raise DataError("\n".join(problems) + "\n(range_check: warn trains anyway and flags the job)")
        for problem in problems:
            log.warning("range_check: warn: training anyway: %s", problem)
        return EncryptedSession(workload, backend, X, y, n_classes, iterations, refresh, state_bound,
                                refresh_every)
    problems = _model_problems(backend, workload, refresh)
    if problems:
        raise ValueError("; ".join(problems))
    return ModelSession(backend, X, y, n_classes, iterations)


def _model_problems(backend: ModelBackend, workload: Workload, refresh: str) -> list[str]:
    out = [] if workload.name in backend.WORKLOADS else [
        f"{backend.library} trains a whole model of its own and stands in only for workload(s) "
        f"{', '.join(backend.WORKLOADS) or 'none'}, not {workload.name}"]
    return out + ([f"refresh: {refresh} applies to CKKS backends, not {backend.library}"] if refresh != "none" else [])


def job_problems(backend: Adapter, n: int, n_features: int, n_classes: int, iterations: int,
                 refresh: str = "none", refresh_every: int | None = None,
                 workload: Workload | None = None) -> list[str]:
    """Why ``backend`` cannot train ``workload`` on n samples of n_features into n_classes (empty: it can)."""
    workload = workload or make_workload()
    if isinstance(backend, ModelBackend):
        return backend.shape_problems(n, n_features, n_classes, iterations) + _model_problems(
            backend, workload, refresh)
    try:
        plan_for(workload, backend, n, n_features, n_classes, iterations, refresh, refresh_every)
    except ValueError as exc:
        return [str(exc)]
    return []

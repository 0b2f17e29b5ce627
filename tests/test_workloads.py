"""The workload checks (hemlr/workload_checks.py) for every workload on every adapter that can
run it, and a throw-away workload module that is found, validated and checked without any list
to edit."""
from __future__ import annotations

import sys
import textwrap

import pytest

from backends import registry
from hemlr import workloads
from hemlr.config import ConfigError, validate_config
from hemlr.workload_checks import checks_for

from .conftest import make_factory

#: every workload with its TEST_PARAMS, and the variants of its parameters that change the
#: encrypted program (not only the numbers)
SPECS = [{"workload": name, **workloads.workload_class(name).TEST_PARAMS} for name in workloads.names()]
SPECS += [{"workload": "mlr", "layout": "diagonal"}]
CASES = [(spec, library, check) for spec in SPECS for library in registry.libraries()
         for check in checks_for(registry.backend_class(library))]


def _spec_id(spec: dict) -> str:
    return "-".join(str(v) for k, v in spec.items() if k not in ("hidden",))


@pytest.mark.parametrize("spec, library, check", CASES,
                         ids=[f"{_spec_id(s)}-{lib}-{c.__name__}" for s, lib, c in CASES])
def test_workload_checks(spec: dict, library: str, check) -> None:
    check(workloads.make_workload(dict(spec)), make_factory(library))


# One weight vector per class, each iteration W <- W + lr * (class means of the features): one
# product per iteration, no rotation, a state of its own (W) to refresh.
ADDER = '''
from typing import ClassVar

import numpy as np

from hemlr.workloads.base import Upload, Workload


class Plan:
    def __init__(self, he, n, f, K, iterations, refresh, refresh_every):
        self.iterations, self.refresh, self.rotation_steps, self.K, self.f = iterations, refresh, [], K, f
        every = refresh_every or iterations
        self.refreshes = tuple(t for t in range(every, iterations, every)) if refresh != "none" else ()
        # a level per step; a refreshed state: one to pack it, one to load it, one left for a bootstrap
        restart = (he.bootstrap_depth() or 0) if refresh == "bootstrap" else 0
        self.depth = iterations if refresh == "none" else restart + every + 2 + (refresh == "bootstrap")
        if self.depth > he.max_depth():
            raise ValueError(f"{iterations} iterations need depth {self.depth}; use refresh")

    def layout(self):
        return {"columns": self.f}


class Step:
    def __init__(self, W):
        self.weights, self.max_abs_score = W, float(np.abs(W).max())
        self.state_max_abs = self.max_abs_score  # the state a refresh packs is W


class Client:
    def __init__(self, he, plan):
        self.he, self.plan = he, plan

    def keygen(self):
        self.he.keygen(self.plan.depth, [], bootstrap=self.plan.refresh == "bootstrap")
        return self.he.public_bytes()

    def _pack(self, M):
        v = np.zeros(self.he.slots)
        v[:M.size] = M.ravel()
        return self.he.serialize(self.he.encrypt(v))

    def encrypt_upload(self, X, y):
        means = np.vstack([X[y == c].mean(axis=0) for c in range(self.plan.K)])
        return Upload(cts={"means": [self._pack(means)], "W0": [self._pack(np.zeros_like(means))]})

    def _unpack(self, blob, level, scale=1.0):
        v = self.he.decrypt(self.he.deserialize(blob, level))
        return v[:self.plan.K * self.plan.f].reshape(self.plan.K, self.plan.f) / scale

    def decrypt_weights(self, blobs, level):
        return self._unpack(blobs[0], level)

    def decrypt_state(self, blob, level, scale):
        W = self._unpack(blob, level, scale)
        return W, W

    def encrypt_state(self, state, scale):
        return [self._pack(state * scale)]


class Server:
    def __init__(self, he, plan, upload, lr):
        self.he, self.lr = he, lr
        self.means = he.deserialize(upload.cts["means"][0], 0)
        self.W = he.deserialize(upload.cts["W0"][0], 0)

    def step(self):
        self.W = self.he.add(self.W, self.he.mul_scalar(self.means, self.lr))

    def finish_weights(self):
        pass

    def export_weights(self):
        return [self.he.serialize(self.W)], self.W.level

    def pack_state(self, scale):
        return self.he.mul_scalar(self.W, scale)

    def load_state(self, cts, scale):
        self.W = self.he.mul_scalar(cts[0], 1.0 / scale)


class MeanAdder(Workload):
    name: ClassVar[str] = "adder"
    title: ClassVar[str] = "class means, added up (a test workload)"
    PARAMS_SCHEMA: ClassVar[dict] = {"type": "object", "additionalProperties": False, "properties": {
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.5, "description": "step"}}}

    def reference(self, X, y, n_classes, iterations):
        means = np.vstack([X[y == c].mean(axis=0) for c in range(n_classes)])
        return [Step(t * self.params["lr"] * means) for t in range(1, iterations + 1)]

    def scores(self, weights, X):
        return X @ weights.T

    def plan(self, backend, n, n_features, n_classes, iterations, refresh, refresh_every):
        return Plan(backend, n, n_features, n_classes, iterations, refresh, refresh_every)

    def client(self, he, plan):
        return Client(he, plan)

    def server(self, he, plan, upload):
        return Server(he, plan, upload, self.params["lr"])
'''


@pytest.fixture
def workload_dir(tmp_path, monkeypatch):
    """A folder on the workloads package path; the registry forgets it afterwards."""
    monkeypatch.setattr(workloads, "__path__", [*workloads.__path__, str(tmp_path)])
    workloads.refresh()
    yield tmp_path
    monkeypatch.undo()
    sys.modules.pop("hemlr.workloads.adder_workload", None)  # forget the imported module too
    vars(workloads).pop("adder_workload", None)
    workloads.refresh()
    assert "adder" not in workloads.names()


def test_a_dropped_in_workload_is_found_validated_and_checked(workload_dir) -> None:
    (workload_dir / "adder_workload.py").write_text(textwrap.dedent(ADDER))
    workloads.refresh()
    assert "adder" in workloads.names()
    config = {"datasets": {"d": {"source": "digits", "n_train": 128}},
              "workloads": {"add": {"workload": "adder", "lr": [0.25, 0.5]}},
              "backends": {"p": {"library": "plaintext"}},
              "experiments": [{"datasets": ["d"], "workloads": ["add", "mlr"], "backends": ["p"]}]}
    cfg = validate_config(config)  # a grid over the workload's own parameter
    assert sorted(cfg["workloads"]) == ["add_lr~0p25", "add_lr~0p5", "mlr"]
    assert cfg["workloads"]["add_lr~0p5"] == {"workload": "adder", "lr": 0.5}
    with pytest.raises(ConfigError, match=r"workloads.add.lr: -1 is less than or equal to the minimum of 0"):
        validate_config({**config, "workloads": {"add": {"workload": "adder", "lr": -1}}})
    with pytest.raises(ConfigError, match="workloads.add.workload: 'nope' is not allowed; allowed values: adder, mlr"):
        validate_config({**config, "workloads": {"add": {"workload": "nope"}}})
    adder = workloads.make_workload({"workload": "adder"})
    for library in registry.libraries():
        for check in checks_for(registry.backend_class(library)):
            check(adder, make_factory(library))


def test_a_wrong_workload_fails_its_checks(workload_dir) -> None:
    """The checks can fail: a server that adds the means twice drifts from its reference."""
    (workload_dir / "adder_workload.py").write_text(textwrap.dedent(ADDER).replace(
        "self.he.mul_scalar(self.means, self.lr)", "self.he.mul_scalar(self.means, 2 * self.lr)"))
    workloads.refresh()
    adder = workloads.make_workload({"workload": "adder"})
    check = next(c for c in checks_for(registry.backend_class("plaintext")) if c.__name__ == "check_follows_the_reference")
    with pytest.raises(AssertionError, match="drifts"):
        check(adder, make_factory("plaintext"))


def test_an_unknown_workload_is_named() -> None:
    with pytest.raises(workloads.WorkloadError, match="unknown workload 'nope'; allowed: .*mlr"):
        workloads.workload_class("nope")

"""The shared conformance checks (backends/checks.py) on every registered adapter, the
paper's training end to end on every CKKS adapter, and a throw-away adapter module that is
found, registered and checked without any list to edit."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import backends
from backends import registry
from backends.base import CKKSBackend
from backends.checks import check_backend, checks_for
from hemlr.workloads.mlr.reference import train_oracle
from hemlr.session import open_session

from .conftest import make_factory

CASES = [(library, check) for library in registry.libraries()
         for check in checks_for(registry.backend_class(library))]


@pytest.mark.parametrize("library, check", CASES, ids=[f"{lib}-{c.__name__}" for lib, c in CASES])
def test_conformance(library: str, check) -> None:
    check(make_factory(library))


CKKS = [lib for lib in registry.libraries() if issubclass(registry.backend_class(lib), CKKSBackend)]


@pytest.mark.slow
@pytest.mark.parametrize("library", CKKS)
def test_training_matches_the_oracle(library: str) -> None:
    """Two encrypted iterations through the session equal the textbook algorithm."""
    he = make_factory(library)()
    rng = np.random.default_rng(3)
    n, f, K, iterations = 16, 7, 4, 2
    X, y = rng.uniform(0, 1, (n, f)), rng.integers(0, K, n)
    oracle = train_oracle(X, y, K, iterations)
    tol = 1e-9 if he.mode == "exact" else 1e-4
    records = list(open_session(he, X, y, K, iterations))
    assert [r.iteration for r in records] == [1, 2]
    for rec, step in zip(records, oracle):
        assert np.abs(rec.weights - step.W).max() < tol
    final = records[-1].decision_function(X)
    assert np.array_equal(final.argmax(1), (np.hstack([np.ones((n, 1)), X]) @ oracle[-1].W.T).argmax(1))
    assert records[0].evalkey_bytes > 0 and records[0].upload and records[1].upload == {}


ECHO = '''
from backends.plaintext import PlaintextBackend


class EchoBackend(PlaintextBackend):
    library = "echo"
'''

BROKEN = '''
import numpy as np
from backends.plaintext import PlaintextBackend


class WrongWayBackend(PlaintextBackend):
    library = "wrongway"

    def _rotate(self, a, step):
        return np.roll(a.raw, step)  # right instead of left
'''


@pytest.fixture
def adapter_dir(tmp_path, monkeypatch):
    """A folder on the backends package path; the registry forgets it afterwards."""
    monkeypatch.setattr(backends, "__path__", [*backends.__path__, str(tmp_path)])
    registry.refresh()
    yield tmp_path
    for name in [m for m in sys.modules if m in ("backends.echo_adapter", "backends.wrongway_adapter")]:
        del sys.modules[name]
    registry.refresh()


def test_a_dropped_in_adapter_is_registered_and_checked(adapter_dir) -> None:
    (adapter_dir / "echo_adapter.py").write_text(textwrap.dedent(ECHO))
    (adapter_dir / "wrongway_adapter.py").write_text(textwrap.dedent(BROKEN))
    registry.refresh()
    assert {"echo", "wrongway"} <= set(registry.libraries())
    check_backend(lambda: registry.make_backend({"library": "echo", "ring_dim": 2048}))
    with pytest.raises(AssertionError, match="rotate"):
        check_backend(lambda: registry.make_backend({"library": "wrongway", "ring_dim": 2048}))


def test_a_module_that_fails_to_import_is_named(adapter_dir) -> None:
    (adapter_dir / "ghost_adapter.py").write_text("raise ImportError('half-written adapter')\n")
    registry.refresh()
    assert "half-written adapter" in registry.broken_modules()["backends.ghost_adapter"]
    with pytest.raises(Exception, match="ghost_adapter failed to import"):
        registry.backend_class("ghost")

"""Shared test fixtures: adapters built from their own TEST_PARAMS, and the optional reference data."""
from __future__ import annotations

from pathlib import Path

import pytest

from backends import registry

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REFERENCE = SHARED_DATA / "reference-features"


def test_spec(library: str, **overrides) -> dict:
    """The config entry of ``library`` with its adapter's small (often INSECURE) TEST_PARAMS."""
    return {"library": library, **registry.backend_class(library).TEST_PARAMS, **overrides}


test_spec.__test__ = False  # a helper, not a test


def make_factory(library: str, **overrides):
    """A factory of fresh client adapters for ``library``, or skip when its library is missing."""
    reason = registry.unavailable_reason(library)
    if reason:
        pytest.skip(reason)
    return lambda: registry.make_backend(test_spec(library, **overrides))


@pytest.fixture
def reference_csv():
    """Path factory for the authors' feature files; skips when ../shared is absent."""
    def get(name: str) -> Path:
        path = REFERENCE / name
        if not path.exists():
            pytest.skip(f"reference features not available at {path}")
        return path
    return get

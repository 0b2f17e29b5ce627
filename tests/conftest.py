"""Shared test fixtures: small backend parameters and the optional reference data."""
from __future__ import annotations

from pathlib import Path

import pytest

from backends import registry

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REFERENCE = SHARED_DATA / "reference-features"

#: small, fast (and for the CKKS libraries deliberately INSECURE) parameters per library;
#: depth 14 must fit so that the 2-iteration trainer runs end to end.
SMALL_PARAMS: dict[str, dict] = {
    "plaintext": {"library": "plaintext", "slots": 1024},
    "tenseal": {"library": "tenseal", "poly_modulus_degree": 8192, "security": "none",
                "processes": 1},
    "openfhe": {"library": "openfhe", "ring_dim": 4096, "security": "HEStd_NotSet", "threads": 2},
}


def make_factory(library: str):
    """A factory of fresh client backends for ``library``, or skip when unavailable."""
    reason = registry.unavailable_reason(library)
    if reason:
        pytest.skip(reason)
    return lambda: registry.make_backend(SMALL_PARAMS[library])


@pytest.fixture
def reference_csv():
    """Path factory for the authors' feature files; skips when ../shared is absent."""
    def get(name: str) -> Path:
        path = REFERENCE / name
        if not path.exists():
            pytest.skip(f"reference features not available at {path}")
        return path
    return get

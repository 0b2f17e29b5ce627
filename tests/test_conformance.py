"""The shared conformance checks (backends/checks.py) on every CKKS backend."""
from __future__ import annotations

import pytest

from backends.checks import ALL_CHECKS

from .conftest import SMALL_PARAMS, make_factory


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("library", sorted(SMALL_PARAMS))
def test_conformance(library: str, check) -> None:
    check(make_factory(library))

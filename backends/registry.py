"""Registry: config names -> backend adapters.

Adapter modules import their HE library lazily-tolerant (a missing library is recorded,
not raised at import), so the registry can list every backend and its parameter
schema on any machine and report a missing library clearly when one is used.
"""
from __future__ import annotations

import importlib
from typing import Any

from .base import BackendError

#: library name -> "module:Class"
LIBRARIES: dict[str, str] = {
    "plaintext": "backends.plaintext:PlaintextBackend",
    "tenseal": "backends.tenseal_ckks:TenSEALBackend",
    "openfhe": "backends.openfhe_ckks:OpenFHEBackend",
    "concrete": "backends.concrete_tfhe:ConcreteMLBackend",
}


def backend_class(library: str) -> type:
    """The adapter class registered for ``library``."""
    if library not in LIBRARIES:
        raise BackendError(f"unknown backend library {library!r}; allowed: {', '.join(LIBRARIES)}")
    module_name, cls_name = LIBRARIES[library].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # the adapter module itself is missing
        raise BackendError(f"backend {library!r} is not available: {exc}") from exc
    return getattr(module, cls_name)


def params_schema(library: str) -> dict:
    """JSON schema of the config keys of ``library`` (defaults included)."""
    return backend_class(library).PARAMS_SCHEMA


def make_backend(spec: dict[str, Any]) -> Any:
    """Instantiate the adapter for a validated backend spec (``library`` plus parameters)."""
    params = dict(spec)
    library = params.pop("library")
    return backend_class(library)(**params)


def unavailable_reason(library: str) -> str | None:
    """None when ``library`` can run here, else why not (e.g. the package is missing)."""
    try:
        cls = backend_class(library)
    except BackendError as exc:
        return str(exc)
    return getattr(cls, "unavailable_reason", lambda: None)()

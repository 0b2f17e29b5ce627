"""Registry: config ``library`` names -> adapter classes, found by scanning ``backends/``.

Every module of the package is imported and its concrete :class:`Adapter` subclasses are
registered under their ``library``: adding a backend is adding one file. Adapter modules
tolerate a missing HE library (it is recorded, not raised at import), so every backend
and its parameter schema is listed on any machine; a module that fails to import for
another reason is reported by name instead of hiding the others.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache
from typing import Any

import backends

from .base import Adapter, BackendError, import_error_text


@lru_cache(maxsize=1)
def _scan() -> tuple[dict[str, type[Adapter]], dict[str, str]]:
    found: dict[str, type[Adapter]] = {}
    broken: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(backends.__path__), key=lambda i: i.name):
        name = f"backends.{info.name}"
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # an adapter under construction may fail on import in any way
            broken[name] = import_error_text(exc)
            continue
        for cls in vars(module).values():
            if (inspect.isclass(cls) and issubclass(cls, Adapter) and cls.__module__ == name
                    and not inspect.isabstract(cls)):
                if cls.library in found:
                    raise BackendError(f"library {cls.library!r} is registered twice: by "
                                       f"{found[cls.library].__module__} and {name}")
                found[cls.library] = cls
    return found, broken


def refresh() -> None:
    """Forget the scan (after adding an adapter module at run time)."""
    _scan.cache_clear()


def libraries() -> list[str]:
    """Every registered library name, sorted."""
    return sorted(_scan()[0])


def broken_modules() -> dict[str, str]:
    """Modules of ``backends/`` that failed to import -> why."""
    return dict(_scan()[1])


def backend_class(library: str) -> type[Adapter]:
    """The adapter class registered for ``library``."""
    found, broken = _scan()
    if library not in found:
        hint = "".join(f"; {m} failed to import ({why})" for m, why in broken.items())
        raise BackendError(f"unknown backend library {library!r}; allowed: "
                           f"{', '.join(sorted(found))}{hint}")
    return found[library]


def make_backend(spec: dict[str, Any]) -> Adapter:
    """Instantiate the adapter of a backend spec: ``library`` plus its parameters."""
    params = dict(spec)
    return backend_class(params.pop("library"))(**params)


def unavailable_reason(library: str) -> str | None:
    """None when ``library`` can run here, else why not (e.g. the package is missing)."""
    try:
        cls = backend_class(library)
    except BackendError as exc:
        return str(exc)
    return cls.unavailable_reason()

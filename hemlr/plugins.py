"""Plugins found by scanning a package: data sources (hemlr.sources) and workloads (hemlr.workloads).

Adding a plugin is adding one module (or subpackage) that defines a concrete subclass of the
package's base class; nothing else lists it.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from typing import Generic, TypeVar

P = TypeVar("P")


class Registry(Generic[P]):
    """name -> class of every concrete ``base`` subclass defined in a module of ``package``,
    keyed by the class's ``name``; scanned on first use and again after :meth:`refresh`."""

    def __init__(self, package: str, base: type[P], what: str, skip: tuple[str, ...] = ()) -> None:
        self.package, self.base, self.what, self.skip = package, base, what, skip
        self._found: dict[str, type[P]] | None = None

    def found(self) -> dict[str, type[P]]:
        if self._found is None:
            self._found = self._scan()
        return self._found

    def refresh(self) -> None:
        """Scan again (after a module was added to the package or to its ``__path__``); a broken
        plugin fails here, by name."""
        self._found = self._scan()

    def names(self) -> list[str]:
        return sorted(self.found())

    def _scan(self) -> dict[str, type[P]]:
        found: dict[str, type[P]] = {}
        # read at scan time: tests extend the package's __path__
        for info in pkgutil.iter_modules(sys.modules[self.package].__path__):
            if info.name in self.skip:
                continue
            module = importlib.import_module(f"{self.package}.{info.name}")
            for cls in vars(module).values():
                # Defined in the module (or inside its subpackage): an imported one is not a second plugin.
                if (not inspect.isclass(cls) or not issubclass(cls, self.base) or inspect.isabstract(cls)
                        or not cls.__module__.startswith(module.__name__)):
                    continue
                other = found.get(cls.name)
                if other is not None and other is not cls:
                    raise ImportError(f"{self.what} {cls.name!r} is defined twice: in {other.__module__} "
                                      f"({other.__qualname__}) and in {cls.__module__} ({cls.__qualname__})")
                found[cls.name] = cls
        return found

"""Workloads (training algorithms): one module or subpackage each, found by scanning this package.

A config's ``workloads.<name>`` entry picks its workload with ``workload:``; that workload's
class owns every other key of the entry (hemlr.workloads.base.Workload). Adding a training
algorithm is adding one module here; nothing outside it knows its shapes.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.schema import problems
from hemlr.plugins import Registry

from .base import Workload, WorkloadError

#: the workload of an experiment that names none: the paper's
DEFAULT = "mlr"


_REGISTRY: Registry[Workload] = Registry(__name__, Workload, "workload", skip=("base",))


def refresh() -> None:
    """Rescan the package (after a module was added to it or to ``__path__``)."""
    _REGISTRY.refresh()


def names() -> list[str]:
    """The workloads' names, sorted."""
    return _REGISTRY.names()


def workload_class(name: str) -> type[Workload]:
    """The class of workload ``name``; WorkloadError listing the known ones otherwise."""
    found = _REGISTRY.found()
    if name not in found:
        raise WorkloadError(f"unknown workload {name!r}; allowed: {', '.join(sorted(found))}")
    return found[name]


def spec_problems(name: str, spec: dict[str, Any]) -> list[str]:
    """Validate the config entry ``workloads.<name>`` in place, filling defaults; one message per problem."""
    prefix = ("workloads", name)
    errors = problems(spec, {"type": "object", "required": ["workload"],
                             "properties": {"workload": {"enum": names()}}}, prefix)
    if errors:
        return errors
    rest = {k: v for k, v in spec.items() if k != "workload"}
    errors = workload_class(spec["workload"]).param_problems(rest, prefix, extra_keys=("workload",))
    kind = spec["workload"]
    spec.clear()
    spec.update({"workload": kind, **rest})
    return errors


def make_workload(spec: Mapping[str, Any] | None = None) -> Workload:
    """The workload of a config entry (``workload`` plus its parameters); the default one without."""
    params = dict(spec or {"workload": DEFAULT})
    return workload_class(params.pop("workload"))(**params)

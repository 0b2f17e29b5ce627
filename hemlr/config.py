"""The workflow configuration: validation, defaults and the job list.

The JSON schema (hemlr/schemas/config.schema.yaml, package data) owns the harness keys;
each dataset entry is owned by its source's ``SCHEMA`` (hemlr/sources/), each workload entry
by its workload's ``PARAMS_SCHEMA`` (hemlr/workloads/) and each backend entry by its
adapter's ``PARAMS_SCHEMA`` (backends/), so every parameter is declared in one place. Validation also checks every job from the shapes alone (the ring can hold the
rows and the depth of the requested iterations at the stated security) and reports every
problem at once, before any job runs: a typo should cost seconds, not a failed multi-hour
job.

Before any entry is checked, the datasets of the files named by ``include_datasets`` join the
config's own (which win on a name clash), and every grid (a list where one value is expected,
hemlr.grids) is expanded into one entry per combination.
"""
from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from backends import registry, schema
from backends.base import BackendError

from . import grids, sources, workloads
from .grids import SECTIONS
from .columns import HISTORY_STORE, REFRESH
from .dataset import Shape
from .session import job_problems

SCHEMA_PATH = resources.files("hemlr") / "schemas" / "config.schema.yaml"

#: Keys of a backend entry that the harness reads and the adapter never sees.
HARNESS_BACKEND_KEYS = ("iterations", "repeats", "refresh", "refresh_every", "state_bound", "range_check")


class ConfigError(ValueError):
    """An invalid configuration; the message names the key path and what is allowed there."""


def _backend_problems(name: str, entry: dict[str, Any]) -> list[str]:
    library = entry["library"]
    if library not in registry.libraries():
        broken = "".join(f"; {m} failed to import ({why})" for m, why in registry.broken_modules().items())
        return [f"backends.{name}.library: unknown library {library!r}; "
                f"allowed values: {', '.join(registry.libraries())}{broken}"]
    params = {k: v for k, v in entry.items() if k not in ("library", *HARNESS_BACKEND_KEYS)}
    problems = registry.backend_class(library).param_problems(
        params, ("backends", name), extra_keys=("library", *HARNESS_BACKEND_KEYS))
    entry.update(params)  # the adapter's defaults, so that jobs and reports see them
    if entry.get("refresh") == "none" and entry.get("refresh_every") is not None:
        problems.append(f"backends.{name}.refresh_every: {entry['refresh_every']} applies with refresh: client "
                        f"or bootstrap; this entry has refresh: none (set refresh, or remove refresh_every)")
    return problems


def _yaml_problem(path: str | Path, exc: yaml.YAMLError) -> str:
    """Where a file stops being YAML, without quoting the file (it may not be text at all)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = getattr(exc, "problem", None) or type(exc).__name__
    return f"{path}: not valid YAML{where}: {what}"


def _experiment_problems(config: dict[str, Any]) -> list[str]:
    errors = []
    for i, experiment in enumerate(config["experiments"]):
        for kind in SECTIONS:
            for j, name in enumerate(experiment[kind]):
                if name not in config[kind]:
                    errors.append(f"experiments[{i}].{kind}[{j}]: unknown {kind[:-1]} {name!r}; "
                                  f"defined {kind}: {', '.join(config[kind])}")
    return errors


def _job_problems(config: dict[str, Any], valid: Mapping[str, set[str]]) -> list[str]:
    """Every valid (dataset, workload, backend) job checked from the dataset's shape alone."""
    shapes: dict[str, Shape | None] = {}
    built: dict[str, Any] = {}
    errors = []
    for d, w, b in train_jobs(config):
        if d not in valid["datasets"] or w not in valid["workloads"] or b not in valid["backends"]:
            continue
        if d not in shapes:  # None when the inputs are missing: the data stage says so
            shapes[d] = sources.source(config["datasets"][d]).shape()
        if b not in built:
            try:
                built[b] = registry.make_backend(backend_params(config, b))
            except BackendError as exc:
                built[b] = None
                errors.append(f"backends.{b}: {exc}")
        shape, backend = shapes[d], built[b]
        if shape is not None and backend is not None:
            errors += [f"backends.{b} with workloads.{w} on datasets.{d} ({shape.n_train} samples, "
                       f"{shape.n_features} features, {shape.n_classes} classes): {p}"
                       for p in job_problems(backend, shape.n_train, shape.n_features,
                                             shape.n_classes, backend_iterations(config, b),
                                             config["backends"][b]["refresh"],
                                             config["backends"][b]["refresh_every"],
                                             workloads.make_workload(config["workloads"][w]))]
    return errors


def _included_datasets(cfg: dict[str, Any], top: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Merge the datasets of the ``include_datasets`` files into ``cfg`` (its own entries win);
    the problems of those files, each naming its file, and name -> file of every included entry."""
    if "include_datasets" not in cfg:
        return [], {}
    paths = cfg.pop("include_datasets")
    errors = schema.problems(paths, top["properties"]["include_datasets"], ("include_datasets",))
    if errors:
        return errors, {}
    layout = {"type": "object", "additionalProperties": False, "required": ["datasets"],
              "properties": {"datasets": {"type": "object", "propertyNames": top["definitions"]["name"]}}}
    included: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path in [paths] if isinstance(paths, str) else paths:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            errors.append(f"include_datasets: cannot read {path} ({exc.strerror or exc}; relative paths are "
                          "relative to the directory snakemake runs in)")
            continue
        except yaml.YAMLError as exc:
            errors.append(_yaml_problem(path, exc))
            continue
        errors += [f"{path}: {line}" for e in schema.problems(data, layout) for line in e.splitlines()]
        if isinstance(data, dict) and isinstance(data.get("datasets"), dict):
            # A badly named entry is reported above, naming its file; the others still take part.
            pattern = top["definitions"]["name"]["pattern"]
            good = {n: e for n, e in data["datasets"].items() if isinstance(n, str) and re.search(pattern, n)}
            included.update(good)
            origins.update(dict.fromkeys(good, str(path)))
    own = cfg.get("datasets")
    if isinstance(own, dict):
        cfg["datasets"] = {**included, **own}
        origins = {n: f for n, f in origins.items() if n not in own}
    elif own is None:
        cfg["datasets"] = included
    return errors, origins


def _expand_grids(cfg: dict[str, Any], top: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Expand the grids of ``datasets``, ``workloads`` and ``backends`` and the experiments naming them, in
    place, recording every member in ``grid_members``; the grids' problems, and member -> grid."""
    harness = {k: v for k, v in top["properties"]["backends"]["additionalProperties"]["properties"].items()
               if k != "library"}

    def backend_keys(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
        library = entry.get("library")
        if not isinstance(library, str) or library not in registry.libraries():
            return None  # reported by _backend_problems
        return {**harness, **registry.backend_class(library).PARAMS_SCHEMA["properties"]}

    def dataset_keys(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
        name = entry.get("source")
        return sources.source_class(name).SCHEMA["properties"] if name in sources.names() else None

    def workload_keys(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
        name = entry.get("workload")
        return workloads.workload_class(name).PARAMS_SCHEMA["properties"] if name in workloads.names() else None

    records = cfg.setdefault("grid_members", {})
    if not isinstance(records, dict):
        return [], {}  # the schema says what is wrong with it
    errors: list[str] = []
    members: dict[str, dict[str, list[str]]] = {}
    bases: dict[str, str] = {}
    for section, keys in (("datasets", dataset_keys), ("workloads", workload_keys), ("backends", backend_keys)):
        if not isinstance(cfg.get(section), dict):
            continue
        expansion = grids.expand(cfg[section], section, keys)
        cfg[section] = expansion.entries
        members[section] = expansion.members
        records.setdefault(section, {}).update(expansion.records)
        bases.update({m: r["grid"] for m, r in expansion.records.items()})
        errors += expansion.problems
    grids.expand_experiments(cfg.get("experiments"), members)
    return errors, bases


def _attributed(errors: list[str], origins: Mapping[str, str]) -> list[str]:
    """Each message about an included dataset prefixed with the file that defines it."""
    lines = [line for e in errors for line in e.splitlines()]
    return [next((f"{file}: {line}" for name, file in origins.items() if _about([line], f"datasets.{name}")), line)
            for line in lines]


def _about(errors: list[str], path: str) -> bool:
    """Whether a message concerns the entry at ``path`` (or something inside it)."""
    return any(e.startswith((f"{path}:", f"{path}.", f"{path}[")) for e in errors)


def load_schema(schema_path: str | Path | None = None) -> dict[str, Any]:
    """The harness's JSON schema, with the values only the code knows (the refresh modes, the
    default workload, the history store) filled in, so that each is spelled once."""
    top = yaml.safe_load((Path(schema_path) if schema_path else SCHEMA_PATH).read_text())
    backend = top["properties"]["backends"]["additionalProperties"]["properties"]
    backend["refresh"]["enum"] = list(REFRESH)
    top["properties"]["workloads"]["default"] = {workloads.DEFAULT: {"workload": workloads.DEFAULT}}
    top["properties"]["history_dir"]["default"] = HISTORY_STORE
    top["properties"]["experiments"]["items"]["properties"]["workloads"]["default"] = [workloads.DEFAULT]
    return top


def validate_config(config: Mapping[str, Any], schema_path: str | Path | None = None) -> dict[str, Any]:
    """A validated copy of ``config`` with every default filled in; raises ConfigError listing all problems."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"<top level>: the configuration must be a mapping, got {type(config).__name__}")
    cfg = copy.deepcopy(dict(config))
    top = load_schema(schema_path)
    # the default workload is always available by its name (before grids expand, so that
    # validating a validated config changes nothing)
    if isinstance(cfg.setdefault("workloads", {}), dict):
        cfg["workloads"].setdefault(workloads.DEFAULT, {"workload": workloads.DEFAULT})
    errors, origins = _included_datasets(cfg, top)
    found, bases = _expand_grids(cfg, top)
    errors += found
    origins.update({m: origins[b] for m, b in bases.items() if b in origins})
    errors += schema.problems(cfg, top)
    # Each entry is checked by its owner as far as the structure holding it is sound, so
    # that one message lists every problem.
    valid: dict[str, set[str]] = {section: set() for section in SECTIONS}
    owners = {"datasets": ("source", sources.spec_problems), "workloads": ("workload", workloads.spec_problems),
              "backends": ("library", _backend_problems)}
    for section, (key, check) in owners.items():
        entries = cfg.get(section)
        if not isinstance(entries, dict):
            continue
        for name, entry in entries.items():
            if isinstance(entry, dict) and isinstance(entry.get(key), str):
                found = check(name, entry)
                errors += found
                if not found and not _about(errors, f"{section}.{name}"):
                    valid[section].add(name)
    if all(isinstance(cfg.get(k), dict) for k in valid) and not _about(errors, "experiments"):
        errors += _experiment_problems(cfg)
        if not _about(errors, "iterations"):
            errors += _job_problems(cfg, valid)
    if errors:
        raise ConfigError("\n".join(_attributed(errors, origins)))
    return cfg


def load_config(path: str | Path, schema_path: str | Path | None = None) -> dict[str, Any]:
    """Read a YAML config file and validate it (see validate_config)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc)) from exc
    return validate_config(data, schema_path)


# ----------------------------------------------------------------------------------- jobs


def train_jobs(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(dataset, workload, backend) triples of all experiments' cross products, in config order, each once."""
    triples = (itertools.product(*(e[s] for s in SECTIONS)) for e in config["experiments"])
    return list(dict.fromkeys(itertools.chain.from_iterable(triples)))


def backend_params(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """What the adapter receives: ``library`` and its parameters, without the harness keys."""
    return {k: v for k, v in config["backends"][name].items() if k not in HARNESS_BACKEND_KEYS}


def workload_spec(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """What hemlr.workloads.make_workload receives: ``workload`` and its parameters."""
    return dict(config["workloads"][name])


def backend_iterations(config: Mapping[str, Any], name: str) -> int:
    return int(config["backends"][name].get("iterations", config["iterations"]))


def backend_repeats(config: Mapping[str, Any], name: str) -> int:
    return int(config["backends"][name].get("repeats", config["repeats"]))


def backend_training(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """How the harness trains on backend ``name``: run_experiment's keyword arguments
    (iterations, repeats, refresh, refresh_every, state_bound, range_check, tolerance)."""
    entry = config["backends"][name]
    return {"iterations": backend_iterations(config, name), "repeats": backend_repeats(config, name),
            "refresh": entry["refresh"], "refresh_every": entry["refresh_every"],
            "state_bound": float(entry["state_bound"]), "range_check": entry["range_check"],
            "tolerance": float(config["tolerance"])}

"""Parameter grids of the workflow configuration: a list where one value is expected.

A backend or dataset entry whose keys hold lists stands for the cross product of those
lists: hemlr.config replaces it by one concrete entry per combination before checking any
entry, and an experiment naming the entry names all of its members. A key whose own schema
type is an array (openfhe's ``bootstrap_level_budget``, features_csv's ``train_rows``) is a
grid only when given a list of lists; any other key is a grid whenever given a list. The
selecting key (``library``, ``source``) never is.

Members are named like ``snakemake.utils.Paramspace`` names its instances: the base name,
then ``key~value`` for every grid key, joined by ``_`` (``tenseal_ring_dim~65536_workers~1``).
Values are spelled so that a name stays a file name and a wildcard value: ``.`` of a number
becomes ``p``, list items are joined by ``-``, other characters outside ``[A-Za-z0-9_-]``
become ``-``.

Validation records each member's base name and the values of its grid keys (the config's
``grid_members``); :func:`grid_columns` turns that record into columns of the results table,
and :func:`scaling_axes` says which scaling plots the run's grids call for.
"""
from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from snakemake.utils import Paramspace

from backends.schema import problems

from . import sources
from .columns import JOB

#: the config's sections of named entries, in the order of the results table's JOB columns
SECTIONS = ("datasets", "workloads", "backends")

#: schema properties of an entry's keys (by the entry's library or source); None: unknown owner
Properties = Callable[[Mapping[str, Any]], Mapping[str, Mapping[str, Any]] | None]


def _array_typed(prop: Mapping[str, Any]) -> bool:
    types = prop.get("type", [])
    return "array" in ([types] if isinstance(types, str) else types) or "items" in prop


def is_grid(value: Any, prop: Mapping[str, Any] | None) -> bool:
    """Whether ``value`` of a key whose schema is ``prop`` (None: an unknown key) is a grid."""
    if prop is None or not isinstance(value, list):
        return False
    return not _array_typed(prop) or (bool(value) and all(isinstance(v, list) for v in value))


def _token(value: Any) -> str:
    """``value`` spelled for a name."""
    if isinstance(value, list):
        return "-".join(map(_token, value))
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null, true, false: as written in YAML
    text = str(value).replace(".", "p") if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text)


def member_names(base: str, keys: list[str], combinations: list[tuple[Any, ...]]) -> list[str]:
    """The names of a grid's members, in the order of ``combinations`` (values of ``keys``)."""
    tokens = pd.DataFrame([[_token(v) for v in combination] for combination in combinations], columns=keys)
    return [f"{base}_{pattern}" for pattern in Paramspace(tokens, filename_params="*").instance_patterns]


@dataclass
class Expansion:
    """A config section with its grids expanded."""

    #: name -> entry, every grid replaced by its members in place
    entries: dict[str, Any] = field(default_factory=dict)
    #: grid name -> its members' names
    members: dict[str, list[str]] = field(default_factory=dict)
    #: member name -> {"grid": grid name, "values": {grid key: this member's value}}
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _first_valid(values: list[Any], prop: Mapping[str, Any]) -> list[Any]:
    """The first of ``values`` that ``prop`` accepts, as a one-item list (empty: none does)."""
    return next(([v] for v in values if not problems(copy.deepcopy(v), prop)), [])


def _repeated(values: list[Any], where: tuple[str, ...]) -> list[str]:
    """A grid value given twice (two members of one name), found in linear time: jsonschema's
    uniqueItems compares every pair."""
    seen: set[str] = set()
    for i, value in enumerate(values):
        key = json.dumps(value, sort_keys=True)
        if key in seen:
            return [f"{'.'.join(where)}[{i}]: {value!r} is given twice; each value of a grid once"]
        seen.add(key)
    return []


def expand(entries: Mapping[str, Any], section: str, properties: Properties) -> Expansion:
    """Every entry of ``section`` (``datasets``, ``backends``) with its grids expanded.

    A grid value the key's schema refuses is reported at its place (``backends.b.ring_dim[1]``)
    and its entry is not expanded: it stays under its own name with each grid key at its first
    valid value (or without it), so that its other keys are still checked and nothing refers
    to members that do not exist.
    """
    out = Expansion()
    for name, entry in entries.items():
        props = properties(entry) if isinstance(entry, dict) else None
        keys = [k for k, v in entry.items() if is_grid(v, props.get(k))] if props else []
        if not keys:
            out.entries[name] = entry
            continue
        found = [p for k in keys for p in problems(
            copy.deepcopy(entry[k]), {"type": "array", "minItems": 1, "items": props[k]}, (section, name, k))]
        found += [p for k in keys for p in _repeated(entry[k], (section, name, k))]
        if found:
            out.problems += found
            out.entries[name] = {k: v for k, v in entry.items() if k not in keys}
            out.entries[name].update({k: v for k in keys for v in _first_valid(entry[k], props[k])})
            continue
        combinations = list(itertools.product(*(entry[k] for k in keys)))
        names = member_names(name, keys, combinations)
        # the grid's lists stay out of each member: copying them into every member is quadratic
        fixed = {k: v for k, v in entry.items() if k not in keys}
        for member, combination in zip(names, combinations):
            if member in out.entries or member in entries:
                out.problems.append(f"{section}.{name}: its grid member {member!r} has the name of another "
                                    f"entry of {section}; rename one of them")
                continue
            values = dict(zip(keys, copy.deepcopy(combination)))
            out.entries[member] = {**copy.deepcopy(fixed), **values}
            out.records[member] = {"grid": name, "values": values}
        out.members[name] = names
    return out


def expand_experiments(experiments: Any, members: Mapping[str, Mapping[str, list[str]]]) -> None:
    """Replace, in place, every grid an experiment names by its members (``members``: section ->
    grid name -> member names); malformed experiments are left to the schema."""
    for experiment in experiments if isinstance(experiments, list) else []:
        for section, grids in members.items():
            names = experiment.get(section) if isinstance(experiment, dict) else None
            if isinstance(names, list):
                experiment[section] = [m for n in names
                                       for m in (grids.get(n, [n]) if isinstance(n, str) else [n])]


def grid_columns(df: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """The run's tidy table with the grids of its validated ``config``: columns ``grid`` (the
    backend's grid), ``dataset_grid`` (the dataset's), ``workload_grid`` (the workload's),
    ``grid_params`` (the keys that vary, the dataset's, the workload's then the backend's,
    comma-separated; null outside grids) and each varying key's value, unless the table already
    has that column (ring_dim, n_train, ...: what ran)."""
    members = config.get("grid_members", {})
    rows = []
    for job in df[JOB].drop_duplicates().itertuples(index=False):
        records = {section: members.get(section, {}).get(name, {}) for section, name in zip(SECTIONS, job)}
        values = {k: v for r in records.values() for k, v in r.get("values", {}).items()}
        rows.append({**dict(zip(JOB, job)), "grid": records["backends"].get("grid"),
                     "dataset_grid": records["datasets"].get("grid"), "workload_grid": records["workloads"].get("grid"),
                     "grid_params": ", ".join(values) or None, **values})
    jobs = pd.DataFrame(rows)
    return df.merge(jobs.drop(columns=[c for c in jobs if c in df and c not in JOB]), on=JOB, how="left")


#: the grid key that sets a CKKS backend's ring
RING_KEY = "ring_dim"


def scaling_axes(config: Mapping[str, Any]) -> list[str]:
    """The scaling plots of a validated ``config``: "n" when its experiments train on grid
    members of at least two dataset sizes (a key of its source's SIZE_KEYS), "ring" when on
    members of at least two rings."""
    members = config.get("grid_members", {})

    def distinct(section: str, keys: Callable[[str], tuple[str, ...]]) -> int:
        used = {name for experiment in config["experiments"] for name in experiment[section]}
        return len({json.dumps(record["values"][k]) for name, record in members.get(section, {}).items()
                    if name in used for k in keys(name) if k in record["values"]})

    def size_keys(dataset: str) -> tuple[str, ...]:
        return sources.source_class(config["datasets"][dataset]["source"]).SIZE_KEYS

    return [axis for axis, n in (("n", distinct("datasets", size_keys)),
                                 ("ring", distinct("backends", lambda _: (RING_KEY,)))) if n > 1]

"""Dataset sources: one module per source, found by scanning this package.

A config's ``datasets.<name>`` entry picks its source with ``source:``; that source's class
owns everything else about it: the schema of its keys, the files it reads, its manifest,
its shape and its loader. Adding a source is adding one module here that defines a concrete
Source subclass; nothing outside this package names a source.

Every source also takes ``standardize`` (added to its SCHEMA and applied to what its
``load`` returns by :class:`Source` itself), so no source implements it.
"""
from __future__ import annotations

import abc
import functools
import os
from collections.abc import Mapping
from typing import Any, Callable, ClassVar

from backends.schema import key_path, problems

from hemlr.dataset import DataError, Dataset, Shape, file_record, standardized
from hemlr.plugins import Registry

#: the key every source's SCHEMA gains; off by default so that the paper's data stays unscaled
STANDARDIZE = {"type": "boolean", "default": False,
               "description": "scale every feature to mean 0 / std 1 with the training rows' "
                              "statistics, applied to train and test"}


def _standardizing(load: Callable[[Source, str], Dataset]) -> Callable[[Source, str], Dataset]:
    @functools.wraps(load)
    def wrapper(self: Source, name: str) -> Dataset:
        ds = load(self, name)
        return standardized(ds) if self.spec.get("standardize") else ds
    return wrapper


class Source(abc.ABC):
    """One kind of dataset; an instance is one validated ``datasets.<name>`` entry."""

    #: the value of ``source:`` in a config
    name: ClassVar[str]
    #: draft-7 JSON schema of the entry's keys other than ``source`` (defaults are filled in)
    SCHEMA: ClassVar[dict[str, Any]]

    def __init__(self, spec: Mapping[str, Any]) -> None:
        """``spec``: an entry spec_problems accepted (defaults filled, ``source`` included)."""
        self.spec = dict(spec)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only what the class itself defines: an inherited SCHEMA or load is already done.
        if "SCHEMA" in cls.__dict__:
            cls.SCHEMA = {**cls.SCHEMA, "properties": {**cls.SCHEMA.get("properties", {}),
                                                       "standardize": STANDARDIZE}}
        if "load" in cls.__dict__:
            cls.load = _standardizing(cls.__dict__["load"])  # type: ignore[method-assign]

    #: the keys of SCHEMA that set the dataset's size (a grid over one of them is a scaling axis)
    SIZE_KEYS: ClassVar[tuple[str, ...]] = ()

    def files(self) -> list[str]:
        """Input files the spec names, existing or not, for Snakemake to watch."""
        return []

    def resources(self) -> tuple[float, float]:
        """(peak MB, seconds) of building the features, before the workflow's margins (a source
        that reads a file or two needs little; one that runs a network says more)."""
        return 1000, 60

    @abc.abstractmethod
    def manifest(self, name: str) -> dict[str, Any]:
        """Check that the inputs exist and record what they are, before any heavy work.

        JSON-serialisable, with "dataset", "source", "spec" and "inputs" (markdown bullet
        lines for the report); raises DataError naming what is missing and how to provide it.
        """

    @abc.abstractmethod
    def shape(self) -> Shape | None:
        """The dataset's shape from the spec and at most a light read of its files; None when
        a file is missing or unreadable (the manifest reports why)."""

    def input_problems(self) -> list[tuple[str, str]]:
        """What the spec asks of its data that the data cannot give (a row range beyond a file's
        end, n_classes below a label, a class without a training row), found by config
        validation from at most the light read of shape(): (key of the spec at fault, "<value>
        is not allowed; <why, and what is>") pairs; none when a file is missing or unreadable
        (the manifest reports why). The loader checks the same again: a file may change after
        validation."""
        return []

    def input_digests(self) -> dict[str, str]:
        """sha256 of each existing input file, by path as the spec names it (what the features
        rule's params hold, so that a cache can record what built it)."""
        return {str(path): file_record(path, count_rows=False)["sha256"]
                for path in self.files() if os.path.isfile(path)}

    @abc.abstractmethod
    def load(self, name: str) -> Dataset:
        """Build the dataset; raises DataError on bad inputs. Standardized afterwards when the
        spec says so (the subclass's load is wrapped at class creation)."""

    def _manifest(self, name: str, inputs: list[str], **facts: Any) -> dict[str, Any]:
        """The keys every manifest has (the spec records ``standardize``), then the source's own facts."""
        return {"dataset": name, "source": self.name, "spec": dict(self.spec), "inputs": inputs, **facts}


_REGISTRY: Registry[Source] = Registry(__name__, Source, "dataset source")


def _registry() -> dict[str, type[Source]]:
    return _REGISTRY.found()


def refresh() -> None:
    """Rescan the package (after a module was added to it or to ``__path__``)."""
    _REGISTRY.refresh()


def names() -> list[str]:
    """The sources' names, sorted."""
    return _REGISTRY.names()


def source_class(name: str) -> type[Source]:
    """The class of source ``name`` (one of names()); its SCHEMA says which keys an entry takes."""
    return _registry()[name]


def _integral_floats(value: Any, schema: Any, parts: tuple[Any, ...]) -> list[str]:
    """A float such as 128.0 where ``schema`` wants an integer: JSON Schema counts it as one,
    but a row index or a count written so is a mistake (and Python cannot slice with it)."""
    if not isinstance(schema, Mapping):
        return []
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    errors = []
    if isinstance(value, float) and value.is_integer() and "integer" in kinds and "number" not in kinds:
        errors.append(f"{key_path(parts)}: {value!r} is not of type 'integer'; write {int(value)}")
    if isinstance(value, Mapping):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                errors += _integral_floats(value[key], sub, (*parts, key))
    if isinstance(value, list):
        for i, item in enumerate(value):
            errors += _integral_floats(item, schema.get("items"), (*parts, i))
    return errors


def _problems(spec: Any, prefix: tuple[str, ...]) -> list[str]:
    # First the source itself, so that an unknown one is reported alone, not with every key it lacks.
    head = {"type": "object", "required": ["source"], "properties": {"source": {"enum": names()}}}
    errors = problems(spec, head, prefix)
    if errors:
        return errors
    rest = {k: v for k, v in spec.items() if k != "source"}
    schema = _registry()[spec["source"]].SCHEMA
    errors = problems(rest, schema, prefix, extra_keys=("source",)) + _integral_floats(rest, schema, prefix)
    errors += [f"{key_path([*prefix, k])}: {v!r}: braces are not allowed in a path (Snakemake reads "
               "them as wildcards); rename the file or folder" for k, v in rest.items()
               if isinstance(v, str) and ("{" in v or "}" in v)]
    chosen = spec["source"]
    spec.clear()
    spec.update({"source": chosen, **rest})  # rest holds the defaults; keep `source` first
    return errors


def spec_problems(name: str, spec: dict[str, Any]) -> list[str]:
    """Validate the config entry ``datasets.<name>`` in place, filling defaults; one message per problem.

    A valid entry is then checked against its files (Source.input_problems), so that what the
    config decides (a row range, n_classes) is reported before any job, naming the key.
    """
    prefix = ("datasets", name)
    errors = _problems(spec, prefix)
    if errors:
        return errors
    return [f"{key_path((*prefix, key) if key else prefix)}: {message}"
            for key, message in _registry()[spec["source"]](spec).input_problems()]


def source(spec: Mapping[str, Any], name: str | None = None) -> Source:
    """The Source of a dataset entry, validated on a copy; raises DataError listing every problem.

    ``name`` (the dataset's) only makes the messages name ``datasets.<name>``.
    """
    checked = dict(spec)
    errors = _problems(checked, ("datasets", name) if name else ("dataset",))
    if errors:
        raise DataError("\n".join(errors))
    return _registry()[checked["source"]](checked)


def build_dataset(name: str, spec: Mapping[str, Any]) -> Dataset:
    """Validate a dataset entry and load it."""
    return source(spec, name).load(name)

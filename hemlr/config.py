"""The workflow configuration: validation, defaults, the job list and dataset input checks.

The JSON schema (workflow/schemas/config.schema.yaml) owns the harness keys and the dataset
keys of every source; each backend entry is owned by its adapter's ``PARAMS_SCHEMA``
(``backends.registry.params_schema``), so a library's parameters are described in one place.
Errors name the key path and what would have been allowed there, because a typo in a
config should cost seconds, not a failed multi-hour job.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from backends import registry

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"

#: Keys of a backend entry that the harness reads and the adapter never sees.
HARNESS_BACKEND_KEYS = ("iterations",)


class ConfigError(ValueError):
    """An invalid configuration; the message names the key path and what is allowed there."""


def _properties_with_defaults(validator: Any, properties: dict, instance: Any, schema: dict) -> Iterable:
    # jsonschema never fills defaults itself; this is its documented extension recipe.
    if validator.is_type(instance, "object"):
        for key, sub in properties.items():
            if isinstance(sub, dict) and "default" in sub:
                instance.setdefault(key, copy.deepcopy(sub["default"]))
    yield from jsonschema.Draft7Validator.VALIDATORS["properties"](validator, properties, instance, schema)


_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"properties": _properties_with_defaults})


def _key_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _message(err: jsonschema.ValidationError, prefix: Sequence[Any], extra_keys: Sequence[str]) -> str:
    """One readable line per problem: key path first, then what is allowed there."""
    parts = [*prefix, *err.absolute_path]
    where = _key_path(parts)
    if "propertyNames" in err.relative_schema_path:
        return (f"{where}: name {err.instance!r} is not allowed; names must match "
                f"{err.schema.get('pattern')} (letters, digits, '_' and '-': they become file names)")
    if err.validator == "additionalProperties" and err.validator_value is False:
        known = list(err.schema.get("properties", {}))
        allowed = ", ".join([*known, *(k for k in extra_keys if k not in known)])
        return "\n".join(f"{_key_path([*parts, key])}: unknown key; allowed keys at {where}: {allowed}"
                         for key in err.instance if key not in known)
    if err.validator == "enum":
        text = (f"{where}: {err.instance!r} is not allowed; allowed values: "
                f"{', '.join(map(str, err.validator_value))}")
    elif err.validator == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        text = f"{where}: missing required key(s) {', '.join(missing)}"
    else:
        text = f"{where}: {err.message}"
    # The failing schema's description says what the key means; the root's is too long to repeat.
    description = err.schema.get("description") if len(err.relative_schema_path) > 1 else None
    return f"{text} ({description})" if description else text


def _errors(instance: Any, schema: dict, prefix: Sequence[Any] = (),
            extra_keys: Sequence[str] = ()) -> list[str]:
    """Validate ``instance`` in place (filling defaults) and return one message per problem."""
    errors = sorted(_Validator(schema).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    # Draft 7 reports each missing required key separately; the message already lists them all.
    return list(dict.fromkeys(_message(e, prefix, extra_keys) for e in errors))


def _backend_errors(name: str, spec: dict[str, Any]) -> list[str]:
    library = spec["library"]
    if library not in registry.LIBRARIES:
        return [f"backends.{name}.library: unknown library {library!r}; "
                f"allowed values: {', '.join(registry.LIBRARIES)}"]
    try:
        schema = registry.params_schema(library)
    except Exception as exc:  # an adapter under construction may fail on import in any way
        return [f"backends.{name}.library: the adapter for library {library!r} cannot be imported "
                f"({type(exc).__name__}: {exc})"]
    harness = {k: spec.pop(k) for k in HARNESS_BACKEND_KEYS if k in spec}
    errors = _errors(spec, schema, ("backends", name), extra_keys=HARNESS_BACKEND_KEYS)
    spec.update(harness)
    return errors


def _experiment_errors(config: dict[str, Any]) -> list[str]:
    errors = []
    for i, experiment in enumerate(config["experiments"]):
        for kind in ("datasets", "backends"):
            for j, name in enumerate(experiment[kind]):
                if name not in config[kind]:
                    errors.append(f"experiments[{i}].{kind}[{j}]: unknown {kind[:-1]} {name!r}; "
                                  f"defined {kind}: {', '.join(config[kind])}")
    return errors


def validate_config(config: Mapping[str, Any], schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """A validated copy of ``config`` with every default filled in; raises ConfigError listing all problems."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"<top level>: the configuration must be a mapping, got {type(config).__name__}")
    cfg = copy.deepcopy(dict(config))
    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = _errors(cfg, schema)
    if errors:  # the checks below rely on the structure the schema guarantees
        raise ConfigError("\n".join(errors))
    for name, spec in cfg["backends"].items():
        errors += _backend_errors(name, spec)
    errors += _experiment_errors(cfg)
    if errors:
        raise ConfigError("\n".join(errors))
    return cfg


def load_config(path: str | Path, schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """Read a YAML config file and validate it (see validate_config)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    return validate_config(data, schema_path)


# ----------------------------------------------------------------------------------- jobs


def train_jobs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dataset, backend) pairs of all experiments' cross products, in config order, each once."""
    pairs = (itertools.product(e["datasets"], e["backends"]) for e in config["experiments"])
    return list(dict.fromkeys(itertools.chain.from_iterable(pairs)))


def backend_params(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """What the adapter receives: ``library`` and its parameters, without the harness keys."""
    return {k: v for k, v in config["backends"][name].items() if k not in HARNESS_BACKEND_KEYS}


def backend_iterations(config: Mapping[str, Any], name: str) -> int:
    return int(config["backends"][name].get("iterations", config["iterations"]))


# ------------------------------------------------------------------------------ dataset inputs


def _named_files(spec: Mapping[str, Any]) -> list[str]:
    keys = {"features_csv": ("path", "test_path"), "mnist_regnet": ("weights",)}.get(spec["source"], ())
    return [spec[k] for k in keys if spec.get(k)]


def dataset_files(spec: Mapping[str, Any]) -> list[str]:
    """Files named by a dataset spec that exist, for Snakemake to watch; missing ones are
    left to dataset_manifest, which reports them with hemlr.data's message."""
    return [p for p in _named_files(spec) if os.path.isfile(p)]


def _file_record(path: str, count_rows: bool) -> dict[str, Any]:
    from hemlr.data import DataError

    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    record = {"path": os.path.abspath(path), "bytes": os.path.getsize(path), "sha256": digest.hexdigest()}
    if count_rows:  # non-blank lines, as hemlr.data counts CSV rows
        with open(path, "rb") as f:
            record["rows"] = sum(1 for line in f if line.strip())
    return record


def dataset_manifest(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check that a dataset's inputs exist and record what they are, before any heavy work.

    Raises hemlr.data.DataError naming what is missing and how to provide it.
    """
    manifest: dict[str, Any] = {"dataset": name, "source": spec["source"], "spec": dict(spec)}
    if spec["source"] == "digits":
        import sklearn
        from sklearn.datasets import load_digits

        manifest.update(sklearn_version=sklearn.__version__, images=len(load_digits().target))
    elif spec["source"] == "features_csv":
        manifest["files"] = [_file_record(p, count_rows=True) for p in _named_files(spec)]
    elif spec["source"] == "mnist_regnet":
        from hemlr.data import load_mnist_split
        from hemlr.features import REGNET_WEIGHTS_FILE, regnet_backbone

        root = spec["mnist_root"]
        counts = {split: len(load_mnist_split(root, train, download=spec["download"])[1])
                  for split, train in (("train", True), ("test", False))}
        regnet_backbone(spec["weights"], spec["torch_home"])  # DataError naming the missing weights
        manifest["mnist"] = {"root": os.path.abspath(root), **{f"{k}_images": v for k, v in counts.items()}}
        manifest["weights"] = (_file_record(spec["weights"], count_rows=False) if spec["weights"] else
                               {"file": REGNET_WEIGHTS_FILE, "torch_home": spec["torch_home"]})
    return manifest

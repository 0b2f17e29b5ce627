"""JSON-schema validation with defaults and one readable line per problem.

Shared by the adapters (their ``PARAMS_SCHEMA``), the dataset sources and the workflow
configuration, so every parameter anywhere is checked the same way and every error names
the key path and what would have been allowed there: a typo should cost seconds, not a
failed multi-hour job.
"""
from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jsonschema


def _properties_with_defaults(validator: Any, properties: dict, instance: Any, schema: dict) -> Iterable:
    # jsonschema never fills defaults itself; this is its documented extension recipe.
    if validator.is_type(instance, "object"):
        for key, sub in properties.items():
            if isinstance(sub, dict) and "default" in sub:
                instance.setdefault(key, copy.deepcopy(sub["default"]))
    yield from jsonschema.Draft7Validator.VALIDATORS["properties"](validator, properties, instance, schema)


def _finite_number(checker: Any, instance: Any) -> bool:
    # NaN passes every bound (comparisons with it are false) and inf passes a minimum: neither is
    # a usable parameter anywhere, so "number" means a finite one.
    return jsonschema.Draft7Validator.TYPE_CHECKER.is_type(instance, "number") and math.isfinite(instance)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator, {"properties": _properties_with_defaults},
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("number", _finite_number))
#: what YAML 1.1 (PyYAML) reads as a string although it looks like a number: 1e-3, 5e+2
_YAML_TEXT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def key_path(parts: Iterable[Any]) -> str:
    """``backends.openfhe.ring_dim``, ``experiments[0].datasets[1]``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _message(err: jsonschema.ValidationError, prefix: Sequence[Any], extra_keys: Sequence[str]) -> str:
    parts = [*prefix, *err.absolute_path]
    where = key_path(parts)
    if err.validator == "maxLength":
        noun = "name" if "propertyNames" in err.relative_schema_path else "value"
        return (f"{where}: a {noun} of {len(err.instance)} characters is not allowed; at most "
                f"{err.validator_value} (names and values become file names)")
    if "propertyNames" in err.relative_schema_path:
        return (f"{where}: name {err.instance!r} is not allowed; names must match "
                f"{err.schema.get('pattern')} (letters, digits, '_', '-' and '~': they become file names)")
    if err.validator == "additionalProperties" and err.validator_value is False:
        known = list(err.schema.get("properties", {}))
        allowed = ", ".join([*(k for k in extra_keys if k not in known), *known])
        return "\n".join(f"{key_path([*parts, key])}: unknown key; allowed keys at {where}: {allowed}"
                         for key in err.instance if key not in known)
    if err.validator == "enum":
        text = (f"{where}: {err.instance!r} is not allowed; allowed values: "
                f"{', '.join(map(str, err.validator_value))}")
    elif err.validator == "const":
        text = f"{where}: {err.instance!r} is not allowed; allowed value: {err.validator_value}"
    elif err.validator == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        text = f"{where}: missing required key(s) {', '.join(missing)}"
    elif err.validator == "type" and isinstance(err.instance, float) and not math.isfinite(err.instance):
        text = f"{where}: {err.instance} is not allowed; a finite number is"
    elif err.validator == "type" and isinstance(err.instance, str) and _YAML_TEXT_NUMBER.match(err.instance):
        text = (f"{where}: {err.message}; YAML reads {err.instance} as text: write it with a decimal "
                f"point ({_with_point(err.instance)}) or as a plain decimal")
    else:
        text = f"{where}: {err.message}"
    # The failing schema's description says what the key means; the root's is too long to repeat.
    description = err.schema.get("description") if len(err.relative_schema_path) > 1 else None
    return f"{text} ({description})" if description else text


def _with_point(text: str) -> str:
    """1e-3 -> 1.0e-3: the spelling YAML 1.1 reads as a number."""
    mantissa, exponent = re.split("[eE]", text)
    return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"


def problems(instance: Any, schema: Mapping[str, Any], prefix: Sequence[Any] = (),
             extra_keys: Sequence[str] = (), renamed: Mapping[str, str] | None = None) -> list[str]:
    """Validate ``instance`` in place (filling defaults); one message per problem, none if valid.

    ``extra_keys`` are keys a caller strips before validating (listed as allowed in
    messages); ``renamed`` maps old key names to the name that replaced them.
    """
    out = []
    if renamed and isinstance(instance, dict):
        for old in [k for k in instance if k in renamed]:
            out.append(f"{key_path([*prefix, old])}: this key was renamed; use {renamed[old]}")
            instance.pop(old)
    errors = sorted(_Validator(dict(schema)).iter_errors(instance),
                    key=lambda e: [str(p) for p in e.absolute_path])
    # Draft 7 reports each missing required key separately; the message already lists them all.
    return out + list(dict.fromkeys(_message(e, prefix, extra_keys) for e in errors))

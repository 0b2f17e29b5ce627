"""JSON-schema validation with defaults and one readable line per problem.

Shared by the adapters (their ``PARAMS_SCHEMA``), the dataset sources and the workflow
configuration, so every parameter anywhere is checked the same way and every error names
the key path and what would have been allowed there: a typo should cost seconds, not a
failed multi-hour job.
"""
from __future__ import annotations

import copy
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


_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"properties": _properties_with_defaults})


def key_path(parts: Iterable[Any]) -> str:
    """``backends.openfhe.ring_dim``, ``experiments[0].datasets[1]``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _message(err: jsonschema.ValidationError, prefix: Sequence[Any], extra_keys: Sequence[str]) -> str:
    parts = [*prefix, *err.absolute_path]
    where = key_path(parts)
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
    else:
        text = f"{where}: {err.message}"
    # The failing schema's description says what the key means; the root's is too long to repeat.
    description = err.schema.get("description") if len(err.relative_schema_path) > 1 else None
    return f"{text} ({description})" if description else text


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

"""Config errors as one short line: the key path, the value and what is allowed.

Snakemake's ``validate`` reports a schema violation with the whole schema and config (hundreds of
lines for one typo). :func:`check_config` runs the same JSON Schema (draft 2020-12) first and turns
the most relevant violation into ``studies.frankle_bau.seeds[0] = 'x': must be integer``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .studies import ConfigError


def key_path(parts: Any) -> str:
    """``['studies', 'frankle_bau', 'seeds', 0]`` -> ``studies.frankle_bau.seeds[0]``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def describe(error: Any) -> str:
    """One line for a ``jsonschema.ValidationError``."""
    path = key_path(error.absolute_path)
    where = path or "the config"
    kind, expected, schema = error.validator, error.validator_value, error.schema
    if kind == "additionalProperties":
        allowed = sorted((schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        keys = ", ".join(f"{path + '.' if path else ''}{k}" for k in extra) or where
        return f"{keys}: unknown key; allowed{' in ' + path if path else ' top-level keys'}: {', '.join(allowed)}"
    if kind == "required":
        missing = [k for k in expected if isinstance(error.instance, dict) and k not in error.instance]
        return f"{where}: missing required key {', '.join(missing) or error.message}"
    value = f"{where} = {_short(error.instance)}"
    if kind == "enum":
        return f"{value}; allowed: {', '.join(map(str, expected))}"
    if kind == "type":
        return f"{value}; must be {' or '.join(expected) if isinstance(expected, list) else expected}"
    bounds = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<",
              "minItems": "a list of at least", "maxItems": "a list of at most", "minLength": "at least",
              "multipleOf": "a multiple of", "minProperties": "at least"}
    if kind in bounds:
        unit = {"minItems": " items", "maxItems": " items", "minLength": " characters",
                "minProperties": " keys"}.get(kind, "")
        return f"{value}; must be {bounds[kind]} {expected}{unit}"
    if kind == "pattern":
        return f"{value}; must match {expected}"
    return f"{value}: {error.message}"


def check_config(config: dict[str, Any], schema_file: str | Path) -> None:
    """Raise :class:`ConfigError` with one line for the config's most relevant schema violation."""
    import jsonschema
    import yaml

    with open(schema_file) as f:
        schema = yaml.safe_load(f)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(describe(error))

"""Stage settings as dataclasses: each stage's defaults are written once, in its dataclass (the
config schema's defaults are checked against them by a test), and the CLI takes its defaults from
there. Stages accept the dataclass or a plain mapping of its fields (as the workflow passes them)."""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


def merge_config(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated in place by ``over`` as Snakemake merges ``--configfile`` files: a mapping
    under a key present in both is merged key by key, anything else replaces. Returns ``base``."""
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = value
    return base


def as_config(cls: type[T], value: "T | Mapping[str, Any] | None") -> T:
    """``value`` as a ``cls``: None gives the defaults; a mapping must name only ``cls``'s fields
    (the error names the unknown keys and the allowed ones)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{cls.__name__}: expected a mapping of settings, got {type(value).__name__}")
    if hasattr(cls, "from_dict"):
        return cls.from_dict(value)  # type: ignore[attr-defined]
    kinds = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - set(kinds))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings {unknown}; allowed: {', '.join(kinds)}")
    # a nested settings dataclass (e.g. DissectConfig.bootstrap) may be given as a mapping too
    nested = {k: type(_default(kinds[k])) for k in value if is_dataclass(_default(kinds[k]))}
    for k, v in value.items():
        _check_type(cls.__name__, k, _default(kinds[k]), v)
    return cls(**{k: as_config(nested[k], v) if k in nested else v for k, v in value.items()})


def _check_type(owner: str, key: str, default: Any, value: Any) -> None:
    """A setting whose default is a bool, int, float or str must be one too (an int is a float)."""
    if value is None or default is None:
        return
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise ValueError(f"{owner}.{key} = {value!r}: must be {kind}")


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def defaults(cls: type) -> dict[str, Any]:
    """The default of every field of a settings dataclass (nested dataclasses as dicts)."""
    assert is_dataclass(cls)
    out = {}
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING:
            continue
        value = _default(f)
        out[f.name] = defaults(type(value)) if is_dataclass(value) else value
    return out

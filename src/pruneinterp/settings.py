"""Stage settings as dataclasses: each stage's defaults are written once, in its dataclass (the
config schema's defaults are checked against them by a test), and the CLI takes its defaults from
there. Stages accept the dataclass or a plain mapping of its fields (as the workflow passes them)."""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


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
    allowed = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings {unknown}; allowed: {', '.join(allowed)}")
    return cls(**value)


def defaults(cls: type) -> dict[str, Any]:
    """The default of every field of a settings dataclass (nested dataclasses as dicts)."""
    assert is_dataclass(cls)
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            value = f.default
        elif f.default_factory is not MISSING:
            value = f.default_factory()
        else:
            continue
        out[f.name] = defaults(type(value)) if is_dataclass(value) else value
    return out

"""``docs/config.md`` from the workflow's config schema: every key with its type, default, allowed
values and meaning, so the reference cannot drift from what the workflow accepts
(``pruneinterp config-docs --out docs/config.md``; a test fails when the file is out of date).

Standard library and PyYAML only: no torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"

_BOUNDS = (("minimum", ">= {}"), ("exclusiveMinimum", "> {}"), ("maximum", "<= {}"), ("exclusiveMaximum", "< {}"),
           ("multipleOf", "multiple of {}"), ("minItems", "at least {} items"), ("minProperties", "at least {} keys"),
           ("pattern", "matches `{}`"))


def load_schema(path: str | Path = SCHEMA) -> dict[str, Any]:
    import yaml

    with open(path) as f:
        return yaml.safe_load(f)


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a ``$ref`` to ``#/$defs/NAME`` merged in (the node's own keys win)."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return {**_resolve(target, schema), **{k: v for k, v in node.items() if k != "$ref"}}


def _type(node: dict[str, Any]) -> str:
    t = node.get("type", "")
    kinds = t if isinstance(t, list) else [t]
    if "array" in kinds and isinstance(node.get("items"), dict) and node["items"].get("type"):
        kinds = [f"array of {node['items']['type']}" if k == "array" else k for k in kinds]
    return " or ".join(k for k in kinds if k)


def _allowed(node: dict[str, Any]) -> str:
    parts = []
    enum = node.get("enum") or (node.get("items") or {}).get("enum")
    if enum:
        parts.append(", ".join(f"`{v}`" for v in enum))
    for key, fmt in _BOUNDS:
        if key in node:
            parts.append(fmt.format(node[key]))
    if node.get("uniqueItems"):
        parts.append("no repeats")
    return "; ".join(parts)


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return "required" if node.get("_required") else "–"
    return f"`{json.dumps(node['default'])}`"


def _one_line(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def rows(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key path, schema node) for every key, depth first in the schema's order; a map's keys are
    written ``<name>`` and a list's items ``[]``."""

    def walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        node = _resolve(node, schema)
        required = set(node.get("required", []))
        for key, child in (node.get("properties") or {}).items():
            child = {**_resolve(child, schema), "_required": key in required}
            sub = f"{path}.{key}" if path else key
            yield sub, child
            yield from walk(child, sub)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            extra = _resolve(extra, schema)
            sub = f"{path}.<name>" if path else "<name>"
            yield sub, extra
            yield from walk(extra, sub)
        items = node.get("items")
        if isinstance(items, dict) and (_resolve(items, schema).get("properties")):
            yield from walk(items, f"{path}[]")

    yield from walk(schema, "")


def render(schema: dict[str, Any] | None = None) -> str:
    schema = schema or load_schema()
    lines = [
        "# Configuration reference",
        "",
        "Generated from `workflow/schemas/config.schema.yaml` by `pruneinterp config-docs --out docs/config.md`;",
        "do not edit by hand (a test compares this file with the schema). `config/config.yaml` is the default",
        "run, `config/test.yaml` the tiny test run; a `--configfile` merges over `config/config.yaml`. A key",
        "path with `<name>` is a map's key of your choice (a model id, a study name, a figure name); `[]` is an",
        "item of a list. A wrong value stops the workflow before any job with one line naming the key path.",
        "",
    ]
    section = None
    for path, node in rows(schema):
        top = path.split(".")[0].split("[")[0]
        if top != section:
            section = top
            head = _resolve(schema["properties"][top], schema)
            lines += ([""] if lines[-1] else []) + [f"## `{top}`", ""]
            if head.get("description"):
                lines += [_one_line(head["description"]).replace("\\|", "|"), ""]
            lines += ["| key | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
            if path == top and (node.get("properties") or isinstance(node.get("additionalProperties"), dict)):
                continue  # a section: its keys follow (its meaning is above the table)
        lines.append(f"| `{path}` | {_type(node)} | {_default(node)} | {_allowed(node)} | "
                     f"{_one_line(node.get('description', ''))} |")
    return "\n".join(lines) + "\n"


def undocumented(schema: dict[str, Any] | None = None) -> list[str]:
    """Key paths without a description."""
    schema = schema or load_schema()
    return [path for path, node in rows(schema) if not node.get("description")]


def write(out: str | Path = DOC) -> Path:
    from .io import atomic_path

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(render())
    return out

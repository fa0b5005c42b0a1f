"""JSON Schema (what OpenAI and Anthropic tools carry) -> the OpenAPI 3.0 subset Gemini's
``functionDeclarations[].parameters`` and ``responseSchema`` accept.

Gemini answers 400 "Invalid JSON payload received. Unknown name ..." for any key outside its
Schema message (``additionalProperties``, ``$schema``, ``$ref``, ``const``, ``oneOf``,
``examples``, ``strict``...), so this keeps an allow-list rather than stripping the keys known
to fail, and rewrites what has an equivalent: ``$ref`` is inlined from ``$defs`` /
``definitions`` (pydantic emits those for every nested model), ``type: [x, "null"]`` becomes
``nullable``, ``const`` a one-value ``enum``, ``oneOf`` ``anyOf`` (looser: "at least one"
instead of "exactly one"), and ``allOf`` is merged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenomy.gateway.translate.base import TranslationError, as_dict

_COPIED = frozenset(
    {
        "title",
        "description",
        "nullable",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "default",
        "example",
        "propertyOrdering",
    }
)
# Gemini rejects any other format ("only 'enum' and 'date-time' are supported for STRING").
_FORMATS = {
    "string": {"enum", "date-time"},
    "integer": {"int32", "int64"},
    "number": {"float", "double"},
}
_MAX_REF_DEPTH = 32  # deeper than any real schema: a recursive model, which Gemini cannot take


def gemini_schema(schema: Any, where: str) -> dict[str, Any]:
    root = as_dict(schema)
    defs = {**as_dict(root.get("definitions")), **as_dict(root.get("$defs"))}
    return _clean(root, defs, where, 0)


def has_properties(schema: Mapping[str, Any]) -> bool:
    return bool(schema.get("properties"))


def _clean(
    schema: Mapping[str, Any], defs: Mapping[str, Any], where: str, depth: int
) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name not in defs or depth >= _MAX_REF_DEPTH:
            raise TranslationError(
                f"{where}: $ref {ref!r} cannot be inlined (unknown or recursive), and Gemini "
                "does not accept references"
            )
        # Keys next to $ref (a field's description) win over the definition's.
        merged = {**as_dict(defs[name]), **{k: v for k, v in schema.items() if k != "$ref"}}
        return _clean(merged, defs, where, depth + 1)

    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _COPIED}
    for part in schema.get("allOf") or []:
        out.update(_clean(as_dict(part), defs, where, depth + 1))

    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            out["nullable"] = True
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1:
            out["anyOf"] = [{"type": k} for k in kinds]
    if isinstance(kind, str):
        out["type"] = kind

    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        cleaned = []
        for option in options:
            if as_dict(option).get("type") == "null":
                out["nullable"] = True
            else:
                cleaned.append(_clean(as_dict(option), defs, where, depth + 1))
        if len(cleaned) == 1:
            out.update(cleaned[0])
        elif cleaned:
            out["anyOf"] = cleaned

    values = schema["enum"] if isinstance(schema.get("enum"), list) else None
    if "const" in schema:
        values = [schema["const"]]
    # Gemini's enum is string-only: a numeric enum is left out rather than mistyped.
    if values and all(isinstance(v, str) for v in values):
        out["enum"] = values
        out.setdefault("type", "string")

    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(str(out.get("type")), ()):
        out["format"] = fmt

    properties = as_dict(schema.get("properties"))
    if properties:
        out["properties"] = {
            name: _clean(as_dict(sub), defs, f"{where}.{name}", depth)
            for name, sub in properties.items()
        }
        required = [r for r in schema.get("required") or [] if r in properties]
        if required:
            out["required"] = required
    if isinstance(schema.get("items"), dict):
        out["items"] = _clean(schema["items"], defs, where, depth)
    return out

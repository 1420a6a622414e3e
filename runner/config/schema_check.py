"""JSON Schema validation that speaks the user's language and points at the spot."""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from runner.config.resources import load_schema
from runner.config.yamlsource import DocPath, Positions
from runner.errors import Diagnostic

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, datetime.date):
        # YAML reads 2024-05-01 as a date, not text.
        return f"date {value.isoformat()}"
    if not isinstance(value, str):
        return f"a {type(value).__name__} value"
    text = value
    return f"string {text[:40]!r}" if len(text) <= 40 else f"string {text[:37]!r}..."


#: Field name -> what a value that fails its schema pattern should look like.
_PATTERN_MESSAGES = {
    "name": "is not a valid account name: use letters, digits, '-' and '_', "
    "starting with a letter or '_'",
    "base_url": "is not an http:// or https:// URL",
    "endpoint_url": "is not an http:// or https:// URL",
    "public_url_base": "is not an http:// or https:// URL",
    "url": "is not a storage location: use file://DIR, a local path, or s3://bucket/prefix",
}


@cache
def _validator(kind: str) -> Draft202012Validator:
    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _allowed_keys(schema: dict[str, Any]) -> list[str]:
    return [k for k in schema.get("properties", {}) if k != "$schema"]


def _messages(error: ValidationError) -> list[tuple[DocPath, str, bool]]:
    """(path, message, point-at-key) triples for one jsonschema error."""
    path: DocPath = tuple(error.absolute_path)
    validator = error.validator
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = _allowed_keys(schema)
        patterns = list(schema.get("patternProperties", {}))
        out = []
        for key in instance:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            hint = did_you_mean(key, allowed)
            if not hint:
                hint = f"; allowed keys: {', '.join(allowed)} (or x-... for your own notes)"
            out.append(((*path, key), f"unknown key {key!r}{hint}", True))
        return out
    if validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else error.message
        return [(path, f"missing required key {name!r}", False)]
    if validator == "enum":
        options = [str(o) for o in error.validator_value]
        hint = did_you_mean(str(instance), options)
        return [
            (path, f"{instance!r} is not one of: {', '.join(options)}{hint}", False),
        ]
    if validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        if not path:
            return [
                (
                    path,
                    f"the file must be a mapping (key: value lines), got {_describe(instance)}",
                    False,
                )
            ]
        if names == ["boolean"] and isinstance(instance, str):
            # YAML 1.2: yes/no/on/off are text; say so in the words the value was written.
            return [(path, f"expected true or false, got {instance!r}", False)]
        hint = ""
        if names == ["string"] and isinstance(instance, int | float | bool | datetime.date):
            # YAML turns unquoted 3.5, 017 and true into numbers and booleans.
            hint = "; put it in quotes to make it text"
        return [(path, f"expected {wanted}, got {_describe(instance)}{hint}", False)]
    if validator == "pattern":
        if "propertyNames" in error.schema_path:
            # The offending thing is a key (an input name), not a value.
            return [
                (
                    (*path, str(instance)),
                    f"{instance!r} is not a valid name: use letters, "
                    "digits and underscores, starting with a letter or '_'",
                    True,
                )
            ]
        field = str(path[-1]) if path else ""
        if field in _PATTERN_MESSAGES:
            return [(path, f"{instance!r} {_PATTERN_MESSAGES[field]}", False)]
        if len(path) >= 2 and path[-2] == "mime":
            return [(path, f"{instance!r} is not a MIME type such as image/png", False)]
        if field == "id":
            return [
                (
                    path,
                    f"{instance!r} is not a valid step id: use lower-case letters, "
                    "digits and underscores, starting with a letter or '_'",
                    False,
                )
            ]
        if field == "api_key_env":
            return [
                (
                    path,
                    # Never echo the value: it is often a pasted key, and this message
                    # ends up in terminals and CI logs.
                    "not an environment variable name (value not shown, in case it is a "
                    "key); api_key_env names the variable that holds the key (e.g. "
                    "OPENAI_API_KEY), never the key itself",
                    False,
                )
            ]
        return [
            (path, f"{instance!r} does not match the expected form {error.validator_value}", False)
        ]
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        word = {
            "minimum": "at least",
            "exclusiveMinimum": "greater than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[str(validator)]
        return [(path, f"must be {word} {error.validator_value}, got {instance!r}", False)]
    if validator == "minItems":
        return [(path, f"needs at least {error.validator_value} item(s)", False)]
    if validator == "minLength":
        return [(path, "must not be empty", False)]
    if validator == "uniqueItems":
        return [(path, "items must be unique", False)]
    return [(path, error.message, False)]


def schema_diagnostics(kind: str, data: Any, positions: Positions) -> list[Diagnostic]:
    """Every schema problem in ``data`` (a ``kind`` document), as pinpointed diagnostics."""
    if data is None:
        return [positions.diagnostic((), f"the file is empty; a {kind} file needs content")]
    errors: Sequence[ValidationError] = list(_validator(kind).iter_errors(data))
    out: list[Diagnostic] = []
    seen: set[tuple[DocPath, str]] = set()
    for error in errors:
        for path, message, at_key in _messages(error):
            if (path, message) in seen:
                continue
            seen.add((path, message))
            out.append(positions.diagnostic(path, message, key=at_key))
    return out

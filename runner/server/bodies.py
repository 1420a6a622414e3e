"""Reading request bodies and query strings: JSON only, both spellings, every field checked.

The original system's clients send camelCase (``mediaType``, ``workflowType``,
``maxAttempts``, ``accountName``); mediamix's own names are snake_case. Both are accepted;
a body giving one field both ways with different values, an unknown field, or a value of
the wrong type or out of range is a 400 naming the field as the caller spelled it.
Limits are the command line's (:mod:`runner.config.limits`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from runner.config.schema_check import did_you_mean
from runner.server.errors import ApiError, field_error
from runner.server.state import SETTINGS

#: The original API's names -> mediamix's.
CAMEL = {
    "mediaType": "media_type",
    "workflowType": "workflow",
    "maxAttempts": "max_attempts",
    "accountName": "account",
    "apiKey": "api_key",
    "apiKeyEnv": "api_key_env",
    "baseUrl": "base_url",
    "maxConcurrency": "max_concurrency",
    "presetName": "preset",
    "pipelineName": "pipeline",
}
SNAKE_TO_CAMEL = {snake: camel for camel, snake in CAMEL.items()}
#: Names that carry a key's value: refused everywhere, and never echoed.
KEY_FIELDS = frozenset({"api_key", "key", "secret", "token", "password"})
_CAMEL_WORD = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return CAMEL.get(name) or _CAMEL_WORD.sub("_", name).lower()


async def read_json(request: web.Request) -> Any:
    """The body as JSON, within the size limit (413) and the body time limit (408)."""
    settings = request.app[SETTINGS]
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            raw = await request.read()
    except TimeoutError:
        raise ApiError(408, "the request body did not arrive in time") from None
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not valid JSON") from None


class Body:
    """A JSON object's fields under mediamix's names, remembering how each was spelled."""

    def __init__(self, raw: Any, allowed: Iterable[str]) -> None:
        if not isinstance(raw, dict):
            raise ApiError(400, "the request body must be a JSON object")
        allowed = set(allowed)
        self.spelled: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        for name, value in raw.items():
            snake = _snake(str(name))
            if snake in KEY_FIELDS:
                # The value may well be a real key: say where keys go, never repeat it.
                raise ApiError(
                    400,
                    f"{name}: mediamix never takes an API key in a request. Keys live in "
                    "environment variables on the server; name the variable instead "
                    "(apiKeyEnv / api_key_env, e.g. OPENAI_API_KEY) and set it where "
                    "mediamix serve runs",
                    field=str(name),
                )
            if snake not in allowed:
                suggestion = did_you_mean(str(name), [*allowed, *(
                    SNAKE_TO_CAMEL[a] for a in allowed if a in SNAKE_TO_CAMEL
                )])  # fmt: skip
                raise field_error(
                    str(name), f"unknown field{suggestion}; known: {', '.join(sorted(allowed))}"
                )
            if snake in self.values and self.values[snake] != value:
                raise field_error(
                    str(name),
                    f"given twice ({self.spelled[snake]} and {name}) with different values",
                )
            self.values[snake] = value
            self.spelled.setdefault(snake, str(name))

    def name(self, snake: str) -> str:
        return self.spelled.get(snake, SNAKE_TO_CAMEL.get(snake, snake))

    def has(self, snake: str) -> bool:
        return self.values.get(snake) is not None

    def string(
        self,
        snake: str,
        *,
        required: bool = False,
        max_chars: int = 256,
        pattern: re.Pattern[str] | None = None,
        choices: Sequence[str] | None = None,
    ) -> str | None:
        value = self.values.get(snake)
        if value is None:
            if required:
                raise field_error(self.name(snake), "is required")
            return None
        if not isinstance(value, str):
            raise field_error(self.name(snake), f"must be a string, not {_kind(value)}")
        if choices is not None and value not in choices:
            raise field_error(
                self.name(snake),
                f"{value[:40]!r} is not one of {', '.join(choices)}{did_you_mean(value, choices)}",
            )
        if len(value) > max_chars:
            raise field_error(self.name(snake), f"is longer than {max_chars} characters")
        if pattern is not None and not pattern.match(value):
            raise field_error(self.name(snake), f"{value[:40]!r} is not allowed here")
        return value

    def integer(self, snake: str, *, low: int, high: int) -> int | None:
        value = self.values.get(snake)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise field_error(self.name(snake), f"must be a whole number, not {_kind(value)}")
        if not low <= value <= high:
            raise field_error(self.name(snake), f"must be between {low} and {high}, not {value}")
        return value

    def strings(self, snake: str, *, max_items: int = 100, max_chars: int = 200) -> list[str]:
        value = self.values.get(snake)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise field_error(self.name(snake), "must be a list of strings")
        if len(value) > max_items or any(len(v) > max_chars for v in value):
            raise field_error(
                self.name(snake), f"at most {max_items} items of {max_chars} characters"
            )
        return list(value)

    def mapping(self, snake: str, *, max_bytes: int) -> dict[str, Any]:
        value = self.values.get(snake)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise field_error(self.name(snake), f"must be an object, not {_kind(value)}")
        if len(json.dumps(value)) > max_bytes:
            raise field_error(self.name(snake), f"is larger than {max_bytes} bytes as JSON")
        return value


def _kind(value: Any) -> str:
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def query_value(
    query: Mapping[str, str], snake: str, *, max_chars: int = 128
) -> tuple[str, str] | None:
    """(spelling, value) of a query parameter given as snake_case or camelCase."""
    for spelling in (snake, SNAKE_TO_CAMEL.get(snake)):
        if spelling and spelling in query:
            value = query[spelling]
            if len(value) > max_chars:
                raise field_error(spelling, f"is longer than {max_chars} characters")
            return spelling, value
    return None

"""Error bodies, Retry-After and status mapping shared by the HTTP adapters."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest

from runner.errors import (
    CredentialsError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from runner.providers.http_common import (
    ErrorDetail,
    decode_json,
    encode_json_body,
    error_for_status,
    parse_error_body,
    parse_retry_after,
)
from runner.transport import Reply


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, None),
        ({}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_http_date() -> None:
    now = time.time()
    assert parse_retry_after({"Retry-After": formatdate(now + 42, usegmt=True)}, now=now) == (
        pytest.approx(42, abs=1)
    )
    assert parse_retry_after({"Retry-After": formatdate(now - 60, usegmt=True)}, now=now) == 0.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error": {"message": "m", "type": "invalid_request_error", "code": "bad"}},
            ErrorDetail("m", "invalid_request_error", "bad"),
        ),
        (
            {"object": "error", "message": "m", "type": "BadRequestError", "code": 400},
            ErrorDetail("m", "BadRequestError", None),
        ),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "m"}},
            ErrorDetail("m", "overloaded_error", None),
        ),
        (
            {"error": {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"}},
            ErrorDetail("m", "RESOURCE_EXHAUSTED", None),
        ),
        ({"message": "m", "id": "x"}, ErrorDetail("m", None, None)),
        (
            {"detail": {"status": "too_many_concurrent_requests", "message": "m"}},
            ErrorDetail("m", None, "too_many_concurrent_requests"),
        ),
        (
            {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]},
            ErrorDetail("body.text: field required", "missing", None),
        ),
        (
            {"name": "bad_request", "errors": ["prompt: required"]},
            ErrorDetail("prompt: required", None, "bad_request"),
        ),
        (
            {"error": {"code": "content_filter", "message": "m", "innererror": {"code": "RAI"}}},
            ErrorDetail("m", None, "content_filter"),
        ),
    ],
)
def test_vendor_error_shapes(body: object, expected: ErrorDetail) -> None:
    assert parse_error_body(json.dumps(body).encode()) == expected


def test_non_json_error_body_keeps_its_first_line() -> None:
    assert parse_error_body(b"<html>Bad Gateway</html>\nmore") == ErrorDetail(
        "<html>Bad Gateway</html>"
    )


@pytest.mark.parametrize(
    ("status", "detail", "kind", "code"),
    [
        (401, ErrorDetail("m"), CredentialsError, None),
        (403, ErrorDetail("m"), CredentialsError, None),
        (402, ErrorDetail("m"), CredentialsError, "insufficient_quota"),
        (429, ErrorDetail("m", "insufficient_quota"), CredentialsError, "insufficient_quota"),
        (429, ErrorDetail("m", code="rate_limit_exceeded"), RateLimitedError, None),
        (529, ErrorDetail("m"), RateLimitedError, "overloaded"),
        (408, ErrorDetail("m"), TransientError, None),
        (409, ErrorDetail("m"), TransientError, None),
        (502, ErrorDetail("m"), TransientError, None),
        (404, ErrorDetail("m"), PermanentError, None),
        (422, ErrorDetail("m"), PermanentError, None),
        (400, ErrorDetail("m", code="content_policy_violation"), PermanentError, "content_policy"),
        (400, ErrorDetail("m", code="content_filter"), PermanentError, "content_policy"),
    ],
)
def test_status_mapping(
    status: int, detail: ErrorDetail, kind: type[ProviderError], code: str | None
) -> None:
    error = error_for_status("Vendor", status, detail, {"Retry-After": "3"})
    assert type(error) is kind and error.http_status == status
    if code is not None:
        assert error.code == code
    if kind is RateLimitedError:
        assert error.retry_after == 3


def test_secrets_in_a_vendor_message_are_blanked() -> None:
    detail = ErrorDetail("Incorrect API key provided: sk-live-abcdefgh1234")
    error = error_for_status("Vendor", 401, detail, {}, secrets=["sk-live-abcdefgh1234"])
    assert "sk-live-abcdefgh1234" not in str(error) and "[REDACTED]" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "café 🎬"}]},
        {"logit_bias": {50256: -100}, "temperature": 1e-05},  # YAML gives int keys
        {"seed": 2**70},  # beyond orjson's 64 bits: the json module's path
        {"prompt": "half an emoji \ud83d"},  # a lone surrogate, as a JSON row can hold
    ],
)
def test_a_request_body_means_what_the_json_module_would_send(body: dict[str, object]) -> None:
    encoded = encode_json_body(body)
    assert json.loads(encoded) == json.loads(json.dumps(body))
    assert b"\n" not in encoded and b": " not in encoded  # compact, as httpx sends JSON


@pytest.mark.parametrize(
    "content", [b'{"text": "ok", "n": 3}', b'{"score": NaN}', b'{"text": "\\ud83d cut"}']
)
def test_a_2xx_body_the_json_module_reads_is_never_called_malformed(content: bytes) -> None:
    reply = Reply(200, {}, content)
    decoded = decode_json(reply, vendor="openai")
    assert json.dumps(decoded, sort_keys=True) == json.dumps(json.loads(content), sort_keys=True)


def test_a_cut_off_2xx_body_is_transient() -> None:
    with pytest.raises(TransientError, match="not valid JSON"):
        decode_json(Reply(200, {}, b'{"text": "o'), vendor="openai")

"""``GET /api/openapi.json``: an OpenAPI 3.1 description of every route.

Schemas are JSON Schema 2020-12 (what OpenAPI 3.1 uses), so the tests validate real
responses against them with ``jsonschema``. Keep each schema next to what it describes:
a route added without a path here fails ``tests/test_serve_api.py``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from runner import __version__
from runner.config.limits import MAX_ATTEMPTS_MAX, MAX_ATTEMPTS_MIN, MAX_PROMPT_CHARS, WORKFLOWS
from runner.providers.base import MEDIA_TYPES
from runner.runlog.queries import REPORT_BY
from runner.server.errors import json_response
from runner.server.jobs import MAX_LIMIT, STATUSES

S = dict[str, Any]


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str | list[str], **extra: Any) -> S:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return {"type": [*kinds, "null"], **extra}


TIME = _nullable("string", format="date-time")
NUM = _nullable("number")
INT = _nullable("integer")
STR = _nullable("string")
LINKS: S = {"type": "object", "additionalProperties": {"type": "string"}}

ARTIFACT: S = {
    "type": "object",
    "required": ["artifact_id", "job_id", "uri", "media_type", "mime", "size", "sha256", "url"],
    "properties": {
        "artifact_id": {"type": "string"}, "job_id": {"type": "string"},
        "run_id": {"type": "string"}, "uri": {"type": "string"},
        "media_type": {"type": "string"}, "mime": {"type": "string"},
        "size": {"type": "integer"}, "sha256": {"type": "string"}, "created_at": TIME,
        "public_url": STR, "width": INT, "height": INT, "duration_s": NUM, "pages": INT,
        "url": {**STR, "description": "Where this API serves the bytes (GET, Range)."},
    },
}  # fmt: skip

ATTEMPT: S = {
    "type": "object",
    "required": ["attempt_id", "job_id", "number", "provider", "model", "status"],
    "properties": {
        "attempt_id": {"type": "string"}, "job_id": {"type": "string"},
        "run_id": {"type": "string"}, "number": {"type": "integer"},
        "provider": {"type": "string"}, "model": {"type": "string"},
        "status": {"enum": ["succeeded", "failed", "skipped"]}, "account": STR,
        "candidate_index": INT, "started_at": TIME, "finished_at": TIME,
        "latency_ms": NUM, "error_class": STR, "error": STR, "http_status": INT,
        "retry_after_s": NUM, "bytes": INT, "input_tokens": INT, "output_tokens": INT,
        "units": NUM, "cost_usd": NUM, "task_id": STR,
    },
}  # fmt: skip

EVENT: S = {
    "type": "object",
    "required": ["event_id", "kind", "message", "occurred_at"],
    "properties": {
        "event_id": {"type": "string"}, "run_id": {"type": "string"},
        "occurred_at": TIME, "kind": {"type": "string"}, "message": {"type": "string"},
        "job_id": STR, "attempt_id": STR, "data": {"type": ["object", "null"]},
    },
}  # fmt: skip

_JOB_COMMON: S = {
    "job_id": {"type": "string"}, "run_id": {"type": "string"}, "step_id": STR,
    "item_index": INT, "status": {"enum": list(STATUSES)}, "media_type": STR,
    "preset": STR, "strategy": STR, "provider": STR, "model": STR, "account": STR,
    "started_at": TIME, "finished_at": TIME, "latency_ms": NUM, "cost_usd": NUM,
    "error_class": STR, "error": STR, "pipeline": STR, "links": LINKS,
}  # fmt: skip

JOB_SUMMARY: S = {
    "type": "object",
    "required": ["job_id", "run_id", "status", "attempts", "artifacts", "artifact_urls", "links"],
    "properties": {
        **_JOB_COMMON,
        "attempts": {"type": "integer"},
        "artifacts": {"type": "array", "items": {"type": "string"}},
        "artifact_urls": {"type": "array", "items": STR},
    },
}
JOB_DETAIL: S = {
    "type": "object",
    "required": ["job_id", "run_id", "status", "attempts", "events", "artifacts", "links"],
    "properties": {
        **_JOB_COMMON,
        "idempotency_key": STR, "task_id": STR, "attempt_count": INT,
        "attempts": {"type": "array", "items": _ref("Attempt")},
        "events": {"type": "array", "items": _ref("Event")},
        "artifacts": {"type": "array", "items": _ref("Artifact")},
    },
}  # fmt: skip

ERROR: S = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "field": {"type": "string", "description": "The request field at fault, as sent."},
        "id": {"type": "string", "description": "Crash id (500): find it in the crash log."},
        "problems": {"type": "array", "items": {"type": "string"},
                     "description": "FILE:LINE:COL: message, one per problem."},
        "diagnostics": {"type": "array", "items": _ref("Diagnostic")},
    },
}  # fmt: skip

DIAGNOSTIC: S = {
    "type": "object",
    "required": ["file", "line", "column", "message"],
    "properties": {
        "file": {"type": "string"}, "line": {"type": "integer"}, "column": {"type": "integer"},
        "path": {"type": "string"}, "message": {"type": "string"},
        "severity": {"enum": ["error", "warning"]},
    },
}  # fmt: skip

ACCEPTED: S = {
    "type": "object",
    "required": ["runId", "run_id", "status", "links"],
    "properties": {
        "jobId": {"type": "string"}, "job_id": {"type": "string"},
        "runId": {"type": "string"}, "run_id": {"type": "string"},
        "status": {"const": "queued"}, "links": LINKS,
    },
}  # fmt: skip

CANCELLING: S = {
    "type": "object",
    "required": ["status", "was"],
    "properties": {
        "job_id": {"type": "string"}, "jobId": {"type": "string"},
        "run_id": {"type": "string"}, "runId": {"type": "string"},
        "status": {"const": "cancelling"}, "was": {"enum": ["queued", "running"]},
        "links": LINKS,
    },
}  # fmt: skip

RUN: S = {
    "type": "object",
    "required": ["run_id", "pipeline", "status", "jobs", "links"],
    "properties": {
        "run_id": {"type": "string"}, "pipeline": {"type": "string"},
        "status": {"enum": ["queued", "running", "succeeded", "failed", "interrupted"]},
        "started_at": TIME, "finished_at": TIME, "submitted_at": TIME,
        "inputs": {"type": "object"}, "workflow": STR,
        "jobs": {"type": "array", "items": {"type": "string"}}, "links": LINKS,
    },
}  # fmt: skip

ACCOUNT: S = {
    "type": "object",
    "required": ["name", "provider", "key", "key_set", "status", "successes", "failures"],
    "properties": {
        "name": {"type": "string"}, "provider": {"type": "string"},
        "api_key_env": STR, "key": {"enum": ["no key needed", "key set", "key MISSING"]},
        "key_set": {"type": "boolean"},
        "status": {"enum": ["active", "inactive", "error", "rate_limited"]},
        "configured_status": {"enum": ["active", "inactive"]},
        "rpm": INT, "rpd": INT, "tpm": INT, "max_concurrency": INT,
        "successes": {"type": "integer"}, "failures": {"type": "integer"},
        "rate_limited": {"type": "integer"}, "cost_usd": NUM, "base_url": STR,
        "models": {"type": "array", "items": {"type": "string"}},
        "cooldown_until": TIME, "source": {"enum": ["accounts.yaml", "built-in"]},
    },
}  # fmt: skip

PRESET_SUMMARY: S = {
    "type": "object",
    "required": ["name", "media_type", "strategy", "models", "source", "editable"],
    "properties": {
        "name": {"type": "string"}, "media_type": {"enum": list(MEDIA_TYPES)},
        "strategy": {"type": "string"}, "priority": {"type": "integer"},
        "models": {"type": "array", "items": {"type": "string"}},
        "max_attempts": {"type": "integer"}, "source": {"enum": ["built-in", "project"]},
        "editable": {"type": "boolean"}, "description": {"type": "string"},
    },
}  # fmt: skip

_SNAKE_CAMEL = "Each field may be sent in camelCase (the original API) or snake_case."

GENERATE_REQUEST: S = {
    "type": "object",
    "description": _SNAKE_CAMEL + " A key value (apiKey) is refused with 400.",
    "properties": {
        "mediaType": {"enum": list(MEDIA_TYPES)}, "media_type": {"enum": list(MEDIA_TYPES)},
        "prompt": {"type": "string", "minLength": 1, "maxLength": MAX_PROMPT_CHARS},
        "preset": {"type": "string"}, "presetName": {"type": "string"},
        "workflowType": {"enum": list(WORKFLOWS)}, "workflow": {"enum": list(WORKFLOWS)},
        "maxAttempts": {"type": "integer", "minimum": MAX_ATTEMPTS_MIN,
                        "maximum": MAX_ATTEMPTS_MAX},
        "max_attempts": {"type": "integer", "minimum": MAX_ATTEMPTS_MIN,
                         "maximum": MAX_ATTEMPTS_MAX},
        "accountName": {"type": "string"}, "account": {"type": "string"},
    },
}  # fmt: skip

RUN_REQUEST: S = {
    "type": "object",
    "required": ["pipeline"],
    "properties": {
        "pipeline": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
                     "description": "NAME of pipelines/NAME.yaml in the project; never a path."},
        "inputs": {"type": "object"},
        "workflowType": {"enum": list(WORKFLOWS)}, "workflow": {"enum": list(WORKFLOWS)},
    },
}  # fmt: skip

ACCOUNT_REQUEST: S = {
    "type": "object",
    "required": ["name", "provider"],
    "description": _SNAKE_CAMEL + " See the README's exfiltration rule for api_key_env "
    "and base_url.",
    "properties": {
        "name": {"type": "string"}, "provider": {"type": "string"},
        "apiKeyEnv": {"type": "string"}, "api_key_env": {"type": "string"},
        "baseUrl": {"type": "string"}, "base_url": {"type": "string"},
        "models": {"type": "array", "items": {"type": "string"}},
        "rpm": {"type": "integer"}, "rpd": {"type": "integer"}, "tpm": {"type": "integer"},
        "maxConcurrency": {"type": "integer"}, "max_concurrency": {"type": "integer"},
        "status": {"enum": ["active", "inactive"]}, "options": {"type": "object"},
    },
}  # fmt: skip


def _json_content(schema: S) -> S:
    return {"application/json": {"schema": schema}}


def _responses(ok: int, schema: S, *errors: int, description: str = "OK") -> S:
    out: S = {str(ok): {"description": description, "content": _json_content(schema)}}
    texts = {400: "Bad request (names the field)", 401: "No or wrong token",
             403: "Refused (Host, origin, or the key rule)", 404: "Not found",
             409: "Conflict", 413: "Body too large", 415: "Not JSON",
             500: "Internal error (with a crash id)", 503: "Busy"}  # fmt: skip
    for code in (*errors, 401, 500):
        out[str(code)] = {"description": texts[code], "content": _json_content(_ref("Error"))}
    return out


def _query(name: str, schema: S, description: str = "") -> S:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


def _path(name: str) -> S:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _body(schema: S) -> S:
    return {"required": True, "content": _json_content(schema)}


def document() -> S:
    jobs_params = [
        _query("status", {"enum": list(STATUSES)}),
        _query("mediaType", {"enum": list(MEDIA_TYPES)}, "or media_type"),
        _query("preset", {"type": "string"}),
        _query("provider", {"type": "string"}),
        _query("run", {"type": "string"}, "a run id or its start"),
        _query("since", {"type": "string"}, "24h, 7d, or a UTC date"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        _query("cursor", {"type": "string"}, "next_cursor of the previous page"),
    ]
    paths: S = {
        "/healthz": {"get": {"summary": "Liveness (no token needed)", "security": [],
                             "responses": {"200": {"description": "OK", "content":
                                                   _json_content(_ref("Health"))}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4)",
                             "responses": {"200": {"description": "OK", "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}}}},
        "/api/openapi.json": {"get": {"summary": "This document", "responses": {
            "200": {"description": "OK", "content": _json_content({"type": "object"})}}}},
        "/api/media/generate": {"post": {
            "summary": "Generate one artifact; accepted at once, runs in the background",
            "requestBody": _body(_ref("GenerateRequest")),
            "responses": _responses(202, _ref("Accepted"), 400, 403, 413, 415, 503,
                                    description="Accepted")}},
        "/api/media/runs": {"post": {
            "summary": "Run a pipeline of the project by name",
            "requestBody": _body(_ref("RunRequest")),
            "responses": _responses(202, _ref("Accepted"), 400, 413, 415, 503,
                                    description="Accepted")}},
        "/api/media/runs/{runId}": {"get": {
            "summary": "A run this server accepted", "parameters": [_path("runId")],
            "responses": _responses(200, _ref("Run"), 404)}},
        "/api/media/runs/{runId}/cancel": {"post": {
            "summary": "Cancel a queued or running run", "parameters": [_path("runId")],
            "responses": _responses(202, _ref("Cancelling"), 404, 415,
                                    description="Cancelling")}},
        "/api/media/jobs": {"get": {
            "summary": "Jobs, newest first, with filters and cursor paging",
            "parameters": jobs_params,
            "responses": _responses(200, _ref("JobList"), 400)}},
        "/api/media/jobs/{jobId}": {"get": {
            "summary": "One job: status, attempts, events, artifacts with URLs",
            "parameters": [_path("jobId")],
            "responses": _responses(200, _ref("JobDetail"), 404)}},
        "/api/media/jobs/{jobId}/cancel": {"post": {
            "summary": "Cancel a queued or running job (and its vendor task where possible)",
            "parameters": [_path("jobId")],
            "responses": _responses(202, _ref("Cancelling"), 404, 409, 415,
                                    description="Cancelling")}},
        "/api/media/{path}": {"get": {
            "summary": "An artifact's bytes (Range, ETag); S3/R2: a redirect",
            "parameters": [_path("path")],
            "responses": {"200": {"description": "The bytes"},
                          "206": {"description": "Part of the bytes (Range)"},
                          "302": {"description": "Public or presigned URL (S3/R2)"},
                          "404": {"description": "Unknown artifact",
                                  "content": _json_content(_ref("Error"))}}}},
        "/api/media/init": {"post": {
            "summary": "Install the default presets into the project (idempotent)",
            "responses": {**_responses(200, _ref("InitResult"), 415),
                          "201": {"description": "Presets installed", "content":
                                  _json_content(_ref("InitResult"))}}}},
        "/api/media/accounts": {
            "get": {"summary": "Accounts with health, limits and key presence",
                    "responses": _responses(200, _ref("AccountList"))},
            "post": {"summary": "Create or update an account (never a key)",
                     "requestBody": _body(_ref("AccountRequest")),
                     "responses": {**_responses(200, _ref("AccountSaved"), 400, 403, 415),
                                   "201": {"description": "Created", "content":
                                           _json_content(_ref("AccountSaved"))}}}},
        "/api/media/presets": {
            "get": {"summary": "Presets (built-in and the project's)",
                    "responses": _responses(200, _ref("PresetList"))},
            "post": {"summary": "Create a project preset from YAML",
                     "requestBody": _body(_ref("PresetWrite")),
                     "responses": _responses(201, _ref("PresetSaved"), 400, 409, 415)}},
        "/api/media/presets/{name}": {
            "get": {"summary": "One preset with its YAML", "parameters": [_path("name")],
                    "responses": _responses(200, _ref("PresetDetail"), 404)},
            "put": {"summary": "Create or replace the project's presets/NAME.yaml",
                    "parameters": [_path("name")], "requestBody": _body(_ref("PresetWrite")),
                    "responses": {**_responses(200, _ref("PresetSaved"), 400, 404, 415),
                                  "201": {"description": "Created", "content":
                                          _json_content(_ref("PresetSaved"))}}}},
        "/api/media/events": {"get": {
            "summary": "Server-Sent Events: job, attempt, event, artifact, run, resync",
            "parameters": [_query("job", {"type": "string"}), _query("run", {"type": "string"})],
            "responses": {"200": {"description": "text/event-stream", "content": {
                "text/event-stream": {"schema": {"type": "string"}}}}}}},
        "/api/media/stats": {"get": {
            "summary": "Success rate, latency and cost grouped one way, with SVG charts",
            "parameters": [_query("by", {"enum": list(REPORT_BY)}),
                           _query("since", {"type": "string"})],
            "responses": _responses(200, _ref("Stats"), 400)}},
    }  # fmt: skip
    schemas: S = {
        "Error": ERROR, "Diagnostic": DIAGNOSTIC, "Accepted": ACCEPTED,
        "Cancelling": CANCELLING, "Run": RUN, "Attempt": ATTEMPT, "Event": EVENT,
        "Artifact": ARTIFACT, "JobSummary": JOB_SUMMARY, "JobDetail": JOB_DETAIL,
        "JobList": {"type": "object", "required": ["jobs", "next_cursor"], "properties": {
            "jobs": {"type": "array", "items": _ref("JobSummary")}, "next_cursor": STR,
            "notice": {"type": "string", "description": "Why the history is missing "
                       "(the run log cannot be read now): only this server's jobs are listed."}}},
        "Account": ACCOUNT,
        "AccountList": {"type": "object", "required": ["accounts"], "properties": {
            "source": {"type": "string"}, "accounts": {"type": "array", "items": _ref("Account")}}},
        "AccountSaved": {"type": "object", "required": ["outcome", "account"], "properties": {
            "outcome": {"enum": ["created", "updated"]}, "account": _ref("Account")}},
        "AccountRequest": ACCOUNT_REQUEST,
        "GenerateRequest": GENERATE_REQUEST, "RunRequest": RUN_REQUEST,
        "PresetSummary": PRESET_SUMMARY,
        "PresetList": {"type": "object", "required": ["presets"], "properties": {
            "presets": {"type": "array", "items": _ref("PresetSummary")},
            "broken": {"type": "array", "items": {"type": "string"}},
            "problems": {"type": "array", "items": {"type": "string"}}}},
        "PresetDetail": {"type": "object", "required": ["name", "yaml"], "properties": {
            "name": {"type": "string"}, "yaml": {"type": "string"},
            "media_type": {"type": "string"}, "source": {"type": "string"}}},
        "PresetWrite": {"type": "object", "required": ["yaml"], "properties": {
            "name": {"type": "string"}, "yaml": {"type": "string"}}},
        "PresetSaved": {"type": "object", "required": ["name", "outcome", "warnings"],
                        "properties": {"name": {"type": "string"},
                                       "outcome": {"enum": ["created", "updated"]},
                                       "warnings": {"type": "array", "items": {"type": "string"}},
                                       "links": LINKS}},
        "InitResult": {"type": "object", "required": ["installed", "kept"], "properties": {
            "installed": {"type": "array", "items": {"type": "string"}},
            "kept": {"type": "array", "items": {"type": "string"}}}},
        "Stats": {"type": "object", "required": ["by", "rows", "charts"], "properties": {
            "by": {"enum": list(REPORT_BY)}, "rows": {"type": "array", "items": {"type": "object"}},
            "charts": {"type": "object", "properties": {"success": {"type": "string"},
                                                        "cost": {"type": "string"}}},
            "since": TIME}},
        "Health": {"type": "object", "required": ["ok", "version"], "properties": {
            "ok": {"const": True}, "version": {"type": "string"}}},
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mediamix",
            "version": __version__,
            "description": "The mediamix HTTP API: generate media, watch jobs, manage accounts "
            "and presets. Every route but /healthz needs 'Authorization: Bearer TOKEN'.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }


async def openapi(request: web.Request) -> web.Response:
    return json_response(document())


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/api/openapi.json", openapi)]

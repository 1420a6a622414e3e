"""``mediamix serve`` as clients use it: a real process, real HTTP, the original API.

One server per module (starting one costs about a second); each test leaves it as it found
it. Every JSON answer is recorded and, last, checked against the server's own OpenAPI
document (``test_every_answer_matches_the_openapi_document``).
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from prometheus_client.parser import text_string_to_metric_families

from tests.fakeprovider.server import FakeProviderServer
from tests.serve_support import ServeProcess, wait_for_status, write_project

SECRET = "sk-live-0123456789abcdefSECRET"
AWS_SECRET = "aws-secret-do-not-send-0123456789"

#: (method, path as sent, status, parsed JSON or None) of every answer in this module.
ANSWERS: list[tuple[str, str, int, Any]] = []


def project_files(fake: FakeProviderServer) -> dict[str, str]:
    return {
        "mediamix.yaml": "storage: {url: file://outputs}\nconcurrency: 1\n",
        "accounts.yaml": (
            "accounts:\n"
            "  - name: rw\n    provider: runway\n    api_key_env: RUNWAY_TEST_KEY\n"
            f"    base_url: {fake.base_url('runway')}\n"
        ),
        "presets/notes.yaml": (
            "media_type: text\nmodels:\n  - {provider: local, model: template}\n"
        ),
        "presets/clip.yaml": (
            "media_type: video\nmodels:\n  - {provider: runway, model: gen4.5}\n"
            "retry: {max_attempts: 1}\n"
        ),
        "pipelines/brief.yaml": (
            "name: brief\ninputs:\n  topic: {type: string, default: owls}\nsteps:\n"
            '  - {id: notes, preset: notes, prompt: "Notes on {{ inputs.topic }}"}\n'
            '  - {id: cover, preset: image-card, prompt: "{{ inputs.topic }}"}\n'
        ),
    }


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, fake_server: FakeProviderServer
) -> Iterator[ServeProcess]:
    root = write_project(tmp_path_factory.mktemp("serve") / "p", project_files(fake_server))
    env = {"RUNWAY_TEST_KEY": "rw-test-key-123456", "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
           "MEDIAMIX_STATE_DIR": str(root.parent / "state")}  # fmt: skip
    with ServeProcess(root, env=env) as server:
        yield server
    # Whatever happened, nothing reached the terminal but the start lines.
    assert "Traceback" not in server.stderr, server.stderr
    assert SECRET not in server.stderr and AWS_SECRET not in server.stderr


class Recorder(httpx.Client):
    """A client that checks every JSON answer against the server's OpenAPI document as it
    arrives: the documented schema for that route and status must accept it."""

    spec: dict[str, Any] | None = None

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Response:
        response = super().request(method, url, *args, **kwargs)
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            ANSWERS.append((method, response.request.url.path, response.status_code, body))
            if self.spec is not None and method != "OPTIONS":  # preflights: no CORS
                check_answer(self.spec, method, response.request.url.path,
                             response.status_code, body)  # fmt: skip
        return response


@pytest.fixture(scope="module")
def spec(served: ServeProcess) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {served.token}"}
    document: dict[str, Any] = httpx.get(f"{served.base}/api/openapi.json", headers=headers).json()
    return document


@pytest.fixture
def api(served: ServeProcess, spec: dict[str, Any]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {served.token}"}
    with Recorder(base_url=served.base, headers=headers, timeout=30) as client:
        client.spec = spec
        yield client


def raw_get(served: ServeProcess, path: str, **headers: str) -> tuple[int, bytes]:
    """A GET with the path sent byte for byte (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {served.token}", **headers})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def generate(api: httpx.Client, **body: Any) -> dict[str, Any]:
    made = api.post("/api/media/generate", json=body)
    assert made.status_code == 202, made.text
    accepted: dict[str, Any] = made.json()
    return accepted


# -- generation -------------------------------------------------------------------------


def test_camel_case_generate_is_accepted_at_once_then_succeeds(
    api: httpx.Client, served: ServeProcess
) -> None:
    accepted = generate(
        api, mediaType="image", prompt="a lighthouse", preset="image-card",
        workflowType="simple", maxAttempts=2,
    )  # fmt: skip
    assert accepted["status"] == "queued"
    assert accepted["jobId"] == accepted["job_id"] and accepted["runId"] == accepted["run_id"]
    assert accepted["links"]["self"] == f"/api/media/jobs/{accepted['jobId']}"
    job = wait_for_status(api, accepted["jobId"], {"succeeded", "failed"})
    assert job["status"] == "succeeded", job
    assert [a["provider"] for a in job["attempts"]] == ["local"]
    (artifact,) = job["artifacts"]
    assert artifact["mime"] == "image/png" and artifact["url"].startswith("/api/media/")
    served_bytes = api.get(artifact["url"])
    assert served_bytes.status_code == 200
    assert served_bytes.headers["content-type"] == "image/png"
    on_disk = served.project / "outputs" / artifact["url"].removeprefix("/api/media/")
    assert served_bytes.content == on_disk.read_bytes()
    etag = served_bytes.headers["etag"]
    assert api.get(artifact["url"], headers={"If-None-Match": etag}).status_code == 304


def test_snake_case_generate_and_the_job_list_filters(api: httpx.Client) -> None:
    accepted = generate(api, media_type="text", prompt="three owls", preset="notes")
    wait_for_status(api, accepted["job_id"], {"succeeded"})
    texts = api.get("/api/media/jobs", params={"mediaType": "text", "status": "succeeded"})
    assert texts.status_code == 200
    rows = texts.json()["jobs"]
    assert accepted["job_id"] in [r["job_id"] for r in rows]
    assert {r["media_type"] for r in rows} == {"text"}
    by_preset = api.get("/api/media/jobs", params={"preset": "notes", "provider": "local"})
    assert {r["preset"] for r in by_preset.json()["jobs"]} == {"notes"}
    assert api.get("/api/media/jobs", params={"since": "1h"}).json()["jobs"]
    assert (
        api.get("/api/media/jobs", params={"status": "cancelled", "preset": "notes"}).json()["jobs"]
        == []
    )


def test_paging_with_a_cursor_visits_every_job_once(api: httpx.Client) -> None:
    for n in range(3):
        wait_for_status(
            api, generate(api, mediaType="text", prompt=f"page {n}", preset="notes")["jobId"],
            {"succeeded"},
        )  # fmt: skip
    time.sleep(0.7)  # the run log's writer lands its batch every half second
    everything = [r["job_id"] for r in api.get("/api/media/jobs", params={"limit": 200}).json()[
        "jobs"]]  # fmt: skip
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/api/media/jobs", params=params).json()
        assert len(page["jobs"]) <= 2
        seen += [r["job_id"] for r in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and len(seen) == len(set(seen)) >= 3


def test_a_pipeline_runs_by_name(api: httpx.Client) -> None:
    made = api.post("/api/media/runs", json={"pipeline": "brief", "inputs": {"topic": "moths"}})
    assert made.status_code == 202, made.text
    run_id = made.json()["runId"]
    assert made.json().get("jobId") is None
    deadline = time.monotonic() + 60
    while True:
        run = api.get(f"/api/media/runs/{run_id}")
        if run.status_code == 404 or run.json()["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    jobs = api.get("/api/media/jobs", params={"run": run_id}).json()["jobs"]
    assert sorted(j["step_id"] for j in jobs) == ["cover", "notes"]
    assert {j["status"] for j in jobs} == {"succeeded"}


@pytest.mark.parametrize(
    "pipeline",
    ["/etc/passwd", "../../../etc/passwd", "pipelines/brief.yaml", "brief.yaml", "~root/x",
     "C:\\Windows\\win.ini", ".env", "%2e%2e%2fetc"],
)  # fmt: skip
def test_a_pipeline_is_never_a_path(api: httpx.Client, pipeline: str) -> None:
    refused = api.post("/api/media/runs", json={"pipeline": pipeline})
    assert refused.status_code == 400
    assert refused.json()["field"] == "pipeline"
    assert "root:" not in refused.text


def test_a_pipeline_symlink_out_of_the_project_is_not_followed(
    api: httpx.Client, served: ServeProcess, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("name: stolen\nsecret: hunter2\nsteps: []\n")
    link = served.project / "pipelines" / "stolen.yaml"
    link.symlink_to(outside)
    try:
        refused = api.post("/api/media/runs", json={"pipeline": "stolen"})
        assert refused.status_code == 400
        assert "hunter2" not in refused.text and "no pipeline named 'stolen'" in refused.text
    finally:
        link.unlink()


# -- bad input, field by field ---------------------------------------------------------------

BAD_GENERATE = [
    ({"prompt": "x"}, "mediaType", "is required"),
    ({"mediaType": "hologram", "prompt": "x"}, "mediaType", "not one of"),
    ({"mediaType": 5, "prompt": "x"}, "mediaType", "must be a string"),
    ({"mediaType": "image"}, "prompt", "is required"),
    ({"mediaType": "image", "prompt": "   "}, "prompt", "is empty"),
    ({"mediaType": "image", "prompt": "x" * 32_001}, "prompt", "longer than 32000"),
    ({"mediaType": "image", "prompt": "x", "maxAttempts": "lots"}, "maxAttempts", "whole number"),
    ({"mediaType": "image", "prompt": "x", "maxAttempts": 1_000_000}, "maxAttempts",
     "between 1 and 20"),
    ({"mediaType": "image", "prompt": "x", "maxAttempts": 0}, "maxAttempts", "between 1 and 20"),
    ({"mediaType": "image", "prompt": "x", "maxAttempts": True}, "maxAttempts", "whole number"),
    ({"mediaType": "image", "prompt": "x", "max_attempts": 2.5}, "max_attempts", "whole number"),
    ({"mediaType": "image", "prompt": "x", "workflowType": "bogus"}, "workflowType", "not one of"),
    ({"mediaType": "image", "prompt": "x", "preset": ["a"]}, "preset", "must be a string"),
    ({"mediaType": "image", "prompt": "x", "preset": "../x"}, "preset", "not allowed"),
    ({"mediaType": "image", "prompt": "x", "colour": "red"}, "colour", "unknown field"),
    ({"mediaType": "image", "media_type": "text", "prompt": "x"}, "media_type", "given twice"),
    ({"mediaType": "image", "prompt": "x", "accountName": 3}, "accountName", "must be a string"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field", "words"), BAD_GENERATE)
def test_each_bad_field_is_a_400_naming_it(
    api: httpx.Client, body: dict[str, Any], field: str, words: str
) -> None:
    refused = api.post("/api/media/generate", json=body)
    assert refused.status_code == 400, refused.text
    answer = refused.json()
    assert answer["field"] == field and words in answer["error"], answer


def test_unknown_preset_and_wrong_media_type_are_400s(api: httpx.Client) -> None:
    unknown = api.post("/api/media/generate", json={"mediaType": "image", "prompt": "x",
                                                    "preset": "nope"})  # fmt: skip
    assert unknown.status_code == 400 and "no preset named 'nope'" in unknown.json()["error"]
    wrong = api.post("/api/media/generate", json={"mediaType": "audio", "prompt": "x",
                                                  "preset": "notes"})  # fmt: skip
    assert wrong.status_code == 400 and "makes text, not audio" in wrong.json()["error"]
    account = api.post(
        "/api/media/generate",
        json={"mediaType": "image", "prompt": "x", "preset": "image-card", "accountName": "rw"},
    )
    assert account.status_code == 400 and "serves none" in account.json()["error"]


def test_an_api_key_in_a_body_is_refused_and_never_repeated(api: httpx.Client) -> None:
    for path, body in (
        ("/api/media/generate", {"mediaType": "image", "prompt": "x", "apiKey": SECRET}),
        ("/api/media/accounts", {"name": "k", "provider": "openai", "apiKey": SECRET}),
        ("/api/media/accounts", {"name": "k", "provider": "openai", "api_key": SECRET}),
    ):
        refused = api.post(path, json=body)
        assert refused.status_code == 400
        assert SECRET not in refused.text
        assert "environment variables" in refused.json()["error"]


def test_bodies_that_are_not_a_json_object(api: httpx.Client, served: ServeProcess) -> None:
    assert (
        api.post(
            "/api/media/generate", content=b"{oops", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    listed = api.post("/api/media/generate", json=["image", "x"])
    assert listed.status_code == 400 and "JSON object" in listed.json()["error"]
    huge = api.post("/api/media/generate", content=b'{"prompt": "' + b"x" * (2 << 20) + b'"}',
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert huge.status_code == 413, huge.text
    assert "larger than" in huge.json()["error"]
    assert httpx.get(f"{served.base}/healthz").json()["ok"] is True


# -- auth, Host, content type, origin -------------------------------------------------------


def test_auth_none_wrong_right(served: ServeProcess) -> None:
    with httpx.Client(base_url=served.base, timeout=10) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        for path in (
            "/api/media/jobs",
            "/metrics",
            "/api/openapi.json",
            "/api/media/events",
            "/api/media/accounts",
            "/static/app.js",
        ):
            none = anonymous.get(path)
            assert none.status_code == 401, (path, none.text)
        none = anonymous.get("/api/media/jobs")
        assert none.headers["www-authenticate"].startswith("Bearer")
        wrong = anonymous.get("/api/media/jobs", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        near = served.token[:-1] + ("a" if served.token[-1] != "a" else "b")
        assert (
            anonymous.get(
                "/api/media/jobs", headers={"Authorization": f"Bearer {near}"}
            ).status_code
            == 401
        )
        right = anonymous.get("/api/media/jobs",
                              headers={"Authorization": f"Bearer {served.token}"})  # fmt: skip
        assert right.status_code == 200
        login = anonymous.get("/")
        assert login.status_code == 401 and "<form" in login.text


def test_the_login_url_gives_an_httponly_strict_cookie(served: ServeProcess) -> None:
    with httpx.Client(base_url=served.base, timeout=10) as browser:
        wrong = browser.get("/", params={"token": "guess"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        landed = browser.get("/", params={"token": served.token})
        assert landed.status_code == 303 and landed.headers["location"] == "/"
        cookie = landed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert served.token not in cookie  # a value derived from the token
        page = browser.get("/")
        assert page.status_code == 200 and "<script" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert browser.get("/api/media/jobs").status_code == 200  # the cookie alone


def test_host_header_must_name_this_server(served: ServeProcess) -> None:
    for host in ("evil.example", f"evil.example:{served.port}", "127.0.0.1.evil.example"):
        status, body = raw_get(served, "/api/media/jobs", Host=host)
        assert status == 403 and b"--allow-host" in body
    status, _ = raw_get(served, "/healthz", Host="rebound.example")
    assert status == 403
    for host in (f"localhost:{served.port}", f"127.0.0.1:{served.port}", "localhost"):
        assert raw_get(served, "/api/media/jobs", Host=host)[0] == 200


def test_writes_must_be_json_and_same_origin(api: httpx.Client) -> None:
    body = '{"mediaType": "image", "prompt": "x"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        refused = api.post("/api/media/generate", content=body,
                           headers={"Content-Type": content_type})  # fmt: skip
        assert refused.status_code == 415, (content_type, refused.text)
    foreign = api.post("/api/media/generate", json={"mediaType": "image", "prompt": "x"},
                       headers={"Origin": "https://evil.example"})  # fmt: skip
    assert foreign.status_code == 403 and "cross-origin" in foreign.json()["error"]
    preflight = api.options(
        "/api/media/generate",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in api.get("/api/media/jobs").headers


# -- artifacts: traversal, symlinks, Range -------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/media/..%2f..%2f..%2fetc%2fpasswd", "/api/media/%2e%2e/%2e%2e/etc/passwd",
     "/api/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/api/media/_/..%2f..%2fmediamix.yaml",
     "/api/media/..%5c..%5cmediamix.yaml", "/api/media/%2fetc%2fpasswd",
     "/api/media/outputs/../mediamix.yaml", "/api/media/accounts.yaml",
     "/api/media/_/%2e%2e/accounts.yaml"],
)  # fmt: skip
def test_traversal_attempts_find_nothing(served: ServeProcess, path: str) -> None:
    status, body = raw_get(served, path)
    assert status in (404, 405), (path, status, body)
    assert b"root:" not in body and b"accounts:" not in body and b"storage" not in body


def test_symlinks_in_storage_are_not_followed(
    api: httpx.Client, served: ServeProcess, tmp_path: Path
) -> None:
    accepted = generate(api, mediaType="text", prompt="to be swapped", preset="notes")
    job = wait_for_status(api, accepted["jobId"], {"succeeded"})
    url = job["artifacts"][0]["url"]
    stored = served.project / "outputs" / url.removeprefix("/api/media/")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    stored.unlink()
    stored.symlink_to(secret)  # a known artifact's file replaced by a link out
    assert api.get(url).status_code == 404
    (served.project / "outputs" / "etc-link").symlink_to("/etc")
    assert api.get("/api/media/etc-link/passwd").status_code == 404


def test_a_video_is_served_with_range_for_seeking(
    api: httpx.Client, served: ServeProcess, fake_server: FakeProviderServer
) -> None:
    fake_server.state.polls_until_done = 2
    accepted = generate(api, mediaType="video", prompt="a river", preset="clip")
    job = wait_for_status(api, accepted["jobId"], {"succeeded", "failed"})
    assert job["status"] == "succeeded", job
    url = job["artifacts"][0]["url"]
    whole = api.get(url)
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    size = int(whole.headers["content-length"])
    part = api.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert part.content == whole.content[100:200]
    tail = api.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == whole.content[-50:]


# -- accounts and the exfiltration rule ----------------------------------------------------


def test_accounts_list_health_and_key_presence(api: httpx.Client) -> None:
    listed = api.get("/api/media/accounts")
    assert listed.status_code == 200
    rows = {r["name"]: r for r in listed.json()["accounts"]}
    assert rows["rw"]["key_set"] is True and rows["rw"]["key"] == "key set"
    assert rows["rw"]["api_key_env"] == "RUNWAY_TEST_KEY"
    assert "rw-test-key-123456" not in listed.text


def test_the_exfiltration_rule(
    api: httpx.Client, served: ServeProcess, fake_server: FakeProviderServer
) -> None:
    accounts_file = served.project / "accounts.yaml"
    before = accounts_file.read_text()
    attacker = fake_server.base_url("openai")
    refused = [
        # A secret that is no provider key, to a host of the caller's choosing.
        ({"name": "x1", "provider": "openai", "apiKeyEnv": "AWS_SECRET_ACCESS_KEY",
          "baseUrl": attacker}, "apiKeyEnv"),
        # ... and with the vendor's own URL: still not a key variable of that vendor.
        ({"name": "x2", "provider": "openai", "api_key_env": "AWS_SECRET_ACCESS_KEY"},
         "api_key_env"),
        # The vendor's key, to a host that is neither the vendor's nor already configured.
        ({"name": "x3", "provider": "openai", "apiKeyEnv": "OPENAI_API_KEY",
          "baseUrl": attacker}, "baseUrl"),
        # A configured variable, to a different origin than the one it is configured with.
        ({"name": "x4", "provider": "runway", "apiKeyEnv": "RUNWAY_TEST_KEY",
          "baseUrl": "https://collector.example/v1"}, "baseUrl"),
        # A configured variable of another provider.
        ({"name": "x5", "provider": "openai_compatible", "apiKeyEnv": "RUNWAY_TEST_KEY",
          "baseUrl": fake_server.base_url("runway")}, "apiKeyEnv"),
        # Updating a configured account to send its key elsewhere.
        ({"name": "rw", "provider": "runway", "apiKeyEnv": "RUNWAY_TEST_KEY",
          "baseUrl": "https://collector.example"}, "baseUrl"),
    ]  # fmt: skip
    for body, field in refused:
        answer = api.post("/api/media/accounts", json=body)
        assert answer.status_code == 403, (body, answer.text)
        assert answer.json()["field"] == field
    assert accounts_file.read_text() == before
    allowed = [
        {"name": "oa", "provider": "openai", "apiKeyEnv": "OPENAI_API_KEY", "rpm": 60},
        {"name": "oa-eu", "provider": "openai", "api_key_env": "OPENAI_API_KEY",
         "base_url": "https://api.openai.com/v1"},
        {"name": "rw2", "provider": "runway", "apiKeyEnv": "RUNWAY_TEST_KEY",
         "baseUrl": fake_server.base_url("runway") + "/"},
        {"name": "ollama", "provider": "openai_compatible", "baseUrl": attacker,
         "models": ["llama3"]},
    ]  # fmt: skip
    for body in allowed:
        answer = api.post("/api/media/accounts", json=body)
        assert answer.status_code == 201, (body, answer.text)
        assert answer.json()["outcome"] == "created"
    updated = api.post(
        "/api/media/accounts",
        json={"name": "oa", "provider": "openai", "apiKeyEnv": "OPENAI_API_KEY", "rpm": 30},
    )
    assert updated.status_code == 200 and updated.json()["account"]["rpm"] == 30
    text = accounts_file.read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "collector.example" not in text
    assert text.count("name: oa\n") == 1 and "rpm: 30" in text
    assert not list(served.project.glob(".accounts-*"))  # written atomically
    names = {r["name"] for r in api.get("/api/media/accounts").json()["accounts"]}
    assert {"rw", "oa", "oa-eu", "rw2", "ollama"} <= names
    bad = api.post("/api/media/accounts", json={"name": "bad name", "provider": "openai"})
    assert bad.status_code == 400 and bad.json()["field"] == "name"
    bad = api.post("/api/media/accounts", json={"name": "b", "provider": "opneai"})
    assert bad.status_code == 400 and "did you mean 'openai'" in bad.json()["error"]
    bad = api.post("/api/media/accounts", json={"name": "b", "provider": "openai", "rpm": 0})
    assert bad.status_code == 400 and bad.json()["field"] == "rpm"


# -- presets --------------------------------------------------------------------------------


def test_presets_list_show_create_update_and_errors_at_their_line(
    api: httpx.Client, served: ServeProcess
) -> None:
    listed = api.get("/api/media/presets").json()["presets"]
    assert {"image-card", "notes", "clip"} <= {p["name"] for p in listed}
    shown = api.get("/api/media/presets/notes").json()
    assert shown["yaml"].startswith("media_type: text") and shown["source"] == "project"
    good = "media_type: image\nmodels:\n  - {provider: local, model: card}\n"
    made = api.post("/api/media/presets", json={"name": "square", "yaml": good})
    assert made.status_code == 201, made.text
    assert (served.project / "presets" / "square.yaml").read_text() == good
    assert api.post("/api/media/presets", json={"name": "square", "yaml": good}).status_code == 409
    broken = "media_type: image\nmodels:\n  - provider: lcoal\n    model: card\n"
    refused = api.put("/api/media/presets/square", json={"yaml": broken})
    assert refused.status_code == 400
    (problem,) = refused.json()["problems"]
    assert problem.startswith("presets/square.yaml:3:15: models[0].provider:"), problem
    assert "did you mean 'local'" in problem
    assert refused.json()["diagnostics"][0]["line"] == 3
    assert (served.project / "presets" / "square.yaml").read_text() == good  # untouched
    syntax = api.put("/api/media/presets/square", json={"yaml": "media_type: [image\n"})
    assert syntax.status_code == 400 and syntax.json()["problems"][0].startswith(
        "presets/square.yaml:2:"
    )
    fixed = good.replace("card}", "card, params: {width: 512, height: 512}}")
    assert api.put("/api/media/presets/square", json={"yaml": fixed}).status_code == 200
    assert "512" in api.get("/api/media/presets/square").json()["yaml"]
    assert not [p for p in (served.project / "presets").iterdir() if p.name.startswith(".")]
    used = generate(api, mediaType="image", prompt="square", preset="square")
    assert wait_for_status(api, used["jobId"], {"succeeded"})["artifacts"][0]["width"] == 512
    assert api.get("/api/media/presets/..%2fmediamix").status_code == 404
    assert api.post("/api/media/presets", json={"name": "../x", "yaml": good}).status_code == 400


def test_init_installs_the_default_presets_once(api: httpx.Client, served: ServeProcess) -> None:
    first = api.post("/api/media/init", json={})
    assert first.status_code in (200, 201)
    installed = set(first.json()["installed"]) | set(first.json()["kept"])
    assert "image-card" in installed and (served.project / "presets" / "image-card.yaml").is_file()
    again = api.post("/api/media/init", json={})
    assert again.status_code == 200 and again.json()["installed"] == []


# -- live: events, metrics, stats -------------------------------------------------------------


def test_events_stream_job_changes(api: httpx.Client, served: ServeProcess) -> None:
    headers = {"Authorization": f"Bearer {served.token}"}
    seen: list[tuple[str, dict[str, Any]]] = []
    with httpx.Client(base_url=served.base, headers=headers, timeout=30) as listener, \
            listener.stream("GET", "/api/media/events") as stream:  # fmt: skip
        assert stream.headers["content-type"] == "text/event-stream"
        job_id = generate(api, mediaType="text", prompt="streamed", preset="notes")["jobId"]
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind is not None:
                data = json.loads(line.removeprefix("data: "))
                if data.get("job_id") == job_id:
                    seen.append((kind, data))
                    if kind == "job" and data["status"] == "succeeded":
                        break
    kinds = [k for k, _ in seen]
    assert kinds[0] == "job" and seen[0][1]["status"] == "queued"
    assert "attempt" in kinds and "artifact" in kinds and kinds[-1] == "job"
    assert all(isinstance(d["sent"], float) for _, d in seen)


def test_metrics_parse_as_prometheus_text(api: httpx.Client) -> None:
    wait_for_status(api, generate(api, mediaType="image", prompt="m", preset="image-card")["jobId"],
                    {"succeeded"})  # fmt: skip
    page = api.get("/metrics")
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(page.text)}
    jobs = families["mediamix_jobs"]
    assert jobs.type == "counter"
    succeeded_images = [
        s for s in jobs.samples
        if s.labels.get("status") == "succeeded" and s.labels.get("media_type") == "image"
    ]  # fmt: skip
    assert succeeded_images and succeeded_images[0].labels["provider"] == "local"
    assert succeeded_images[0].value >= 1
    assert families["mediamix_job_duration_seconds"].type == "histogram"
    assert families["mediamix_attempt_duration_seconds"].type == "histogram"
    assert families["mediamix_cost_usd"].type == "counter"
    assert {s.labels["state"] for s in families["mediamix_jobs_in_progress"].samples} == {
        "queued",
        "running",
    }
    assert families["mediamix_build_info"].samples[0].labels["version"]


def test_stats_give_rows_and_the_report_charts(api: httpx.Client) -> None:
    stats = api.get("/api/media/stats", params={"by": "provider"})
    assert stats.status_code == 200
    assert "local" in {r["provider"] for r in stats.json()["rows"]}
    assert stats.json()["charts"]["success"].startswith("<svg")
    assert api.get("/api/media/stats", params={"by": "colour"}).status_code == 400


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_a_running_video_and_a_queued_job(
    api: httpx.Client, fake_server: FakeProviderServer
) -> None:
    fake_server.state.polls_until_done = 1_000_000  # the vendor never finishes
    running = generate(api, mediaType="video", prompt="forever", preset="clip")["jobId"]
    deadline = time.monotonic() + 30
    while not any(r.method == "GET" and "/tasks/" in r.path for r in fake_server.state.requests):
        assert time.monotonic() < deadline, "the video task was never polled"
        time.sleep(0.02)
    # concurrency is 1: the next job waits for the slot.
    queued = generate(api, mediaType="text", prompt="waiting", preset="notes")["jobId"]
    assert api.get(f"/api/media/jobs/{queued}").json()["status"] == "queued"
    cancelled = api.post(f"/api/media/jobs/{queued}/cancel", json={})
    assert cancelled.status_code == 202 and cancelled.json()["was"] == "queued"
    job = wait_for_status(api, queued, {"cancelled"})
    assert job["error"] == "cancelled before it started"
    run_id = api.post("/api/media/runs", json={"pipeline": "brief"}).json()["runId"]
    stopped = api.post(f"/api/media/runs/{run_id}/cancel", json={})
    assert stopped.status_code == 202 and stopped.json()["was"] == "queued"
    deadline = time.monotonic() + 10
    while api.get(f"/api/media/runs/{run_id}").json()["status"] != "interrupted":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert api.post(f"/api/media/runs/{run_id}/cancel", json={}).status_code == 404

    stop = api.post(f"/api/media/jobs/{running}/cancel", json={})
    assert stop.status_code == 202 and stop.json()["was"] == "running"
    job = wait_for_status(api, running, {"cancelled"})
    assert job["error_class"] == "cancelled" and "cancelled by request" in job["error"]
    (attempt,) = job["attempts"]
    assert attempt["error_class"] == "cancelled"
    deleted = [r for r in fake_server.state.requests if r.method == "DELETE"]
    assert deleted and deleted[0].path.startswith("/runway/v1/tasks/")
    assert api.post(f"/api/media/jobs/{running}/cancel", json={}).status_code == 409
    assert api.post("/api/media/jobs/ffffffffffff/cancel", json={}).status_code == 404
    filtered = api.get("/api/media/jobs", params={"status": "cancelled"}).json()["jobs"]
    assert {running, queued} <= {j["job_id"] for j in filtered}
    fake_server.state.polls_until_done = 2


# -- the OpenAPI document --------------------------------------------------------------------


def _operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    best = None
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if template == "/api/media/{path}":
            pattern = "^/api/media/.+$"
        # The most specific template wins (the {path} catch-all last).
        if (re.match(pattern, path) and method.lower() in item
                and (best is None or best[0] == "/api/media/{path}")):  # fmt: skip
            best = (template, item[method.lower()])
    return best[1] if best else None


def check_answer(spec: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    operation = _operation(spec, method, path)
    assert operation is not None, f"{method} {path} is not in the OpenAPI document"
    answer = operation["responses"].get(str(status))
    assert answer is not None, f"{method} {path} answered {status}, not documented"
    schema = answer["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, (method, path, status, errors[:3])


def test_answers_were_checked_against_the_openapi_document(
    api: httpx.Client, spec: dict[str, Any]
) -> None:
    assert spec["openapi"].startswith("3.1")
    Draft202012Validator.check_schema({"components": spec["components"]})
    # Every JSON answer in this module went through check_answer (the Recorder client):
    # this one too.
    api.get("/api/media/jobs", params={"limit": 1})
    assert ANSWERS and ANSWERS[-1][1] == "/api/media/jobs"


def test_the_openapi_document_covers_every_route() -> None:
    from runner.server.app import make_app
    from runner.server.settings import ServeSettings

    app = make_app(ServeSettings(token="t" * 20))
    spec_paths = {
        re.sub(r"\{[^}]+\}", "{}", p)
        for p in __import__("runner.server.openapi", fromlist=["document"]).document()["paths"]
    }
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix", "")
        if path in ("/", "/static") or route.method == "HEAD":
            continue
        normalised = re.sub(r"\{[^}]+\}", "{}", path)
        if normalised == "/api/media/_/{}":
            continue  # the same handler as /api/media/{path}
        assert normalised in spec_paths, f"{route.method} {path} is not documented"

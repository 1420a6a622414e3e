"""The fake provider server itself: auth, rate limits, faults, control routes, media."""

from __future__ import annotations

import io
import wave

import httpx
import pytest
from PIL import Image

from tests.fakeprovider import FakeProviderServer, media

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def post_chat(fake: FakeProviderServer, key: str | None = "sk-a") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        fake.base_url("openai") + "/chat/completions", json=CHAT, headers=headers, timeout=5
    )


def test_missing_and_revoked_keys_get_the_vendors_401(fake: FakeProviderServer) -> None:
    for key in (None, "bad-revoked"):
        answer = post_chat(fake, key)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "invalid_api_key"


def test_missing_field_is_a_400_naming_it(fake: FakeProviderServer) -> None:
    answer = httpx.post(
        fake.base_url("openai") + "/chat/completions",
        json={"model": "gpt-4o"},
        headers={"Authorization": "Bearer sk-a"},
    )
    assert answer.status_code == 400
    assert "'messages'" in answer.json()["error"]["message"]


def test_rate_limit_is_per_key_with_retry_after(fake: FakeProviderServer) -> None:
    fake.state.set_rate_limit(2, window_s=60)
    assert [post_chat(fake, "sk-a").status_code for _ in range(2)] == [200, 200]
    limited = post_chat(fake, "sk-a")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert post_chat(fake, "sk-b").status_code == 200
    assert fake.state.count("/chat/completions", key="sk-a") == 3


def test_rate_limit_uses_the_vendors_error_body(fake: FakeProviderServer) -> None:
    fake.state.set_rate_limit(1)
    url = fake.base_url("azure") + "/openai/deployments/d/chat/completions?api-version=x"
    answers = [httpx.post(url, json=CHAT, headers={"api-key": "k1"}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 429]
    assert answers[1].json() == {
        "error": {"code": "429", "message": answers[1].json()["error"]["message"]}
    }


def test_faults_match_by_path_and_are_consumed_in_order(fake: FakeProviderServer) -> None:
    fake.state.inject("500", path_contains="/images")
    fake.state.inject("503", path_contains="/chat", times=2)
    fake.state.inject("429", path_contains="/chat", retry_after=7)
    statuses = [post_chat(fake).status_code for _ in range(4)]
    assert statuses == [503, 503, 429, 200]
    assert len(fake.state.faults) == 1  # the /images fault is still waiting


def test_faults_and_log_over_http(fake: FakeProviderServer) -> None:
    control = fake.url + "/_fake"
    httpx.post(control + "/faults", json={"fault": "429", "retry_after": 3}).raise_for_status()
    limited = post_chat(fake)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    log = httpx.get(control + "/requests").json()
    assert [row["path"] for row in log] == ["/openai/v1/chat/completions"]
    assert log[0]["api_key"] == "sk-a"
    assert httpx.post(control + "/faults", json={"fault": "nope"}).status_code == 400
    httpx.post(control + "/reset").raise_for_status()
    assert httpx.get(control + "/requests").json() == []


def test_probabilistic_faults_hit_their_share_and_repeat_with_the_seed(
    fake: FakeProviderServer,
) -> None:
    control = fake.url + "/_fake/faults"

    def statuses() -> list[int]:
        httpx.post(control, json={"fault": "429", "probability": 0.1, "seed": 7, "retry_after": 0})
        httpx.post(control, json={"fault": "500", "probability": 0.1, "path_contains": "/chat"})
        seen = [post_chat(fake).status_code for _ in range(300)]
        httpx.post(fake.url + "/_fake/reset").raise_for_status()
        return seen

    first = statuses()
    assert set(first) == {200, 429, 500}
    assert 30 <= first.count(429) + first.count(500) <= 90  # 20 % of 300 is 60
    assert statuses() == first  # the same seed, the same pattern
    fake.state.inject("503")  # a counted fault still comes first, once
    fake.state.inject("429", probability=1.0, times=2)
    assert [post_chat(fake).status_code for _ in range(4)] == [503, 429, 429, 200]
    with pytest.raises(ValueError, match="at most 1"):
        fake.state.inject("500", probability=0.6)
        fake.state.inject("500", probability=0.6)


def test_unknown_fault_name_is_refused(fake: FakeProviderServer) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        fake.state.inject("explode")


def test_drop_and_truncate_break_the_connection(fake: FakeProviderServer) -> None:
    fake.state.inject("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        post_chat(fake)
    fake.state.inject("truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        post_chat(fake)
    assert post_chat(fake).status_code == 200


def test_malformed_json_is_a_200_that_does_not_parse(fake: FakeProviderServer) -> None:
    fake.state.inject("malformed_json")
    answer = post_chat(fake)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


def test_every_registered_vendor_answers_its_prefix(fake: FakeProviderServer) -> None:
    from tests.fakeprovider.vendors import load_vendors

    assert {"openai", "azure", "openai_compatible"} <= set(load_vendors())


def test_server_starts_on_a_free_port_and_stops() -> None:
    with FakeProviderServer() as one, FakeProviderServer() as two:
        assert one.port != two.port
        assert post_chat(one).status_code == 200
    with pytest.raises(RuntimeError):
        _ = one.url


def test_media_is_real() -> None:
    picture = Image.open(io.BytesIO(media.png(64, 48, seed=3)))
    assert picture.size == (64, 48) and len(picture.getcolors(1 << 16) or []) > 100
    assert len(Image.open(io.BytesIO(media.blank_png())).getcolors() or []) == 1
    assert Image.open(io.BytesIO(media.jpeg())).format == "JPEG"
    assert Image.open(io.BytesIO(media.webp())).format == "WEBP"
    with wave.open(io.BytesIO(media.wav(0.5))) as tone:
        assert tone.getnframes() == 8000 and max(tone.readframes(100)) > 0
    with wave.open(io.BytesIO(media.silent_wav())) as quiet:
        assert set(quiet.readframes(1000)) == {0}
    assert media.mp3()[0] == 0xFF and media.mp3()[1] & 0xE0 == 0xE0
    assert media.mp4()[4:8] == b"ftyp"
    assert len(media.pcm16(1.0)) == 2 * media.PCM_RATE
